/** One HTTP POST to the hub, with keep-alive, TLS (client certificates) and a timeout. */
import http from 'node:http';
import https from 'node:https';
import { KojiTransportError } from './errors.js';

export interface TlsOptions {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  passphrase?: string;
  rejectUnauthorized?: boolean;
}

export interface HttpReply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/**
 * A request body sent piece by piece, for bodies too big to hold in memory. `pieces()` is called
 * once per try and must yield exactly `length` bytes. The next piece is asked for only once the
 * previous one has been handed to the socket, so a piece's buffer may be reused after that. An
 * error the pieces throw ends the request with that error as it is (not as a transport error).
 */
export interface StreamedBody {
  length: number;
  pieces(): AsyncIterable<Buffer>;
}

export function isStreamedBody(body: unknown): body is StreamedBody {
  return typeof body === 'object' && body !== null && !Buffer.isBuffer(body) && typeof (body as StreamedBody).pieces === 'function';
}

/** Replies bigger than this are not XML-RPC answers Kiln asked for. */
const MAX_REPLY = 256 * 1024 * 1024;

export class Transport {
  readonly #http = new http.Agent({ keepAlive: true, maxSockets: 4, noDelay: true } as http.AgentOptions);
  readonly #https: https.Agent;

  constructor(tls: TlsOptions = {}) {
    this.#https = new https.Agent({ keepAlive: true, maxSockets: 4, noDelay: true, ...tls } as https.AgentOptions);
  }

  post(url: URL, headers: Record<string, string>, body: Buffer | string | StreamedBody, timeoutMs: number): Promise<HttpReply> {
    const secure = url.protocol === 'https:';
    if (!secure && url.protocol !== 'http:') return Promise.reject(new KojiTransportError(`unsupported hub URL scheme ${url.protocol}`));
    const payload = typeof body === 'string' ? Buffer.from(body) : body;
    let bodyError: unknown;
    return new Promise<HttpReply>((resolve, reject) => {
      const req = (secure ? https : http).request(
        url,
        {
          method: 'POST',
          agent: secure ? this.#https : this.#http,
          headers: { ...headers, 'Content-Length': String(payload.length) },
        },
        (res) => {
          const parts: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_REPLY) {
              req.destroy(new KojiTransportError(`reply from ${url.host} is larger than ${MAX_REPLY} bytes`));
              return;
            }
            parts.push(chunk);
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
          res.on('error', (err) => reject(new KojiTransportError(`reading reply from ${url.host}: ${err.message}`, { cause: err })));
        },
      );
      req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error(`no reply within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (bodyError !== undefined) return reject(bodyError);
        reject(err instanceof KojiTransportError ? err : new KojiTransportError(`POST ${url.origin}${url.pathname}: ${err.message}`, { cause: err, details: { errno: err.code } }));
      });
      if (!isStreamedBody(payload)) {
        req.end(payload);
        return;
      }
      const closed = new Promise<never>((_, fail) => req.once('close', () => fail(new Error('request closed'))));
      closed.catch(() => undefined);
      void (async () => {
        const pieces = payload.pieces()[Symbol.asyncIterator]();
        let sent = 0;
        try {
          for (;;) {
            const next = await pieces.next();
            if (next.done) break;
            sent += next.value.length;
            if (sent > payload.length) throw new Error(`request body is longer than the ${payload.length} bytes announced`);
            const written = new Promise<void>((done, fail) => req.write(next.value, (err) => (err ? fail(err) : done())));
            await Promise.race([written, closed]);
          }
          if (sent !== payload.length) throw new Error(`request body ended after ${sent} of the ${payload.length} bytes announced`);
          req.end();
        } catch (err) {
          // The pieces' own failure is the request's; a closed or failed socket is reported by req's error event.
          if (!req.destroyed) {
            bodyError = err;
            req.destroy(err as Error);
          }
          await pieces.return?.();
        }
      })();
    });
  }

  close(): void {
    this.#http.destroy();
    this.#https.destroy();
  }
}
