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

/** Replies bigger than this are not XML-RPC answers Kiln asked for. */
const MAX_REPLY = 256 * 1024 * 1024;

export class Transport {
  readonly #http = new http.Agent({ keepAlive: true, maxSockets: 4, noDelay: true } as http.AgentOptions);
  readonly #https: https.Agent;

  constructor(tls: TlsOptions = {}) {
    this.#https = new https.Agent({ keepAlive: true, maxSockets: 4, noDelay: true, ...tls } as https.AgentOptions);
  }

  post(url: URL, headers: Record<string, string>, body: Buffer | string, timeoutMs: number): Promise<HttpReply> {
    const secure = url.protocol === 'https:';
    if (!secure && url.protocol !== 'http:') return Promise.reject(new KojiTransportError(`unsupported hub URL scheme ${url.protocol}`));
    const payload = typeof body === 'string' ? Buffer.from(body) : body;
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
      req.on('error', (err: NodeJS.ErrnoException) =>
        reject(err instanceof KojiTransportError ? err : new KojiTransportError(`POST ${url.origin}${url.pathname}: ${err.message}`, { cause: err, details: { errno: err.code } })),
      );
      req.end(payload);
    });
  }

  close(): void {
    this.#http.destroy();
    this.#https.destroy();
  }
}
