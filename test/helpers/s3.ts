/**
 * S3 for tests: s3rver (a real S3-protocol server storing on disk) on 127.0.0.1, and a
 * loopback HTTP proxy in front of it that records every request and can fail chosen ones.
 *
 * s3rver 3.7 does not implement AbortMultipartUpload (DELETE ?uploadId) nor
 * ListMultipartUploads (GET ?uploads). The helper adds both, in front of its router, on
 * s3rver's own store layout (<dir>/<bucket>/._S3rver_uploads/<uploadId>/{key,1,2,…}), so the
 * tests can check through the S3 API that an aborted upload leaves nothing behind.
 */
import { createRequire } from 'node:module';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';

const require = createRequire(import.meta.url);

interface KoaContext {
  method: string;
  path: string;
  query: Record<string, string | string[] | undefined>;
  status: number;
  body: unknown;
  type: string;
}
interface S3rverInstance {
  middleware: Array<(ctx: KoaContext, next: () => Promise<void>) => Promise<void> | void>;
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
const S3rver = require('s3rver') as new (options: Record<string, unknown>) => S3rverInstance;

/** s3rver's fixed account. */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/** Kiln's [s3] for a stub: its endpoint, path-style addressing and its credentials in a file written under `dir`. */
export function kilnS3Config(stub: S3Stub, dir: string): { endpoint: string; force_path_style: true; credentials_file: string } {
  const file = path.join(dir, 'aws-credentials');
  writeFileSync(file, `[default]\naws_access_key_id = ${S3RVER_CREDENTIALS.accessKeyId}\naws_secret_access_key = ${S3RVER_CREDENTIALS.secretAccessKey}\n`);
  return { endpoint: stub.endpoint, force_path_style: true, credentials_file: file };
}

export interface S3Stub {
  endpoint: string;
  dir: string;
  /** Upload ids of multipart uploads the store still holds for the bucket (for one key, if given). */
  pendingUploads(bucket: string, key?: string): string[];
  close(): Promise<void>;
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export async function startS3rver(buckets: string[]): Promise<S3Stub> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-s3rver-'));
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: dir,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  const uploadsDir = (bucket: string) => path.join(dir, bucket, '._S3rver_uploads');
  const uploadKey = (bucket: string, id: string) => readFileSync(path.join(uploadsDir(bucket), id, 'key'), 'utf8');
  const pendingUploads = (bucket: string, key?: string) =>
    (existsSync(uploadsDir(bucket)) ? readdirSync(uploadsDir(bucket)) : []).filter((id) => key === undefined || uploadKey(bucket, id) === key);
  // Koa composes its middleware when listening; put ours first.
  server.middleware.unshift(async (ctx, next) => {
    const m = /^\/([^/]+)(?:\/(.*))?$/.exec(ctx.path);
    const bucket = m?.[1];
    if (bucket && m?.[2] && ctx.method === 'DELETE' && typeof ctx.query.uploadId === 'string') {
      const upload = path.join(uploadsDir(bucket), path.basename(ctx.query.uploadId));
      if (!existsSync(upload)) {
        ctx.status = 404;
        ctx.type = 'application/xml';
        ctx.body = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>';
        return;
      }
      rmSync(upload, { recursive: true, force: true });
      ctx.status = 204;
      return;
    }
    if (bucket && !m?.[2] && ctx.method === 'GET' && 'uploads' in ctx.query) {
      const uploads = pendingUploads(bucket)
        .map((id) => `<Upload><Key>${xmlEscape(uploadKey(bucket, id))}</Key><UploadId>${id}</UploadId></Upload>`)
        .join('');
      ctx.status = 200;
      ctx.type = 'application/xml';
      ctx.body = `<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult><Bucket>${bucket}</Bucket><IsTruncated>false</IsTruncated>${uploads}</ListMultipartUploadsResult>`;
      return;
    }
    await next();
  });
  const address = await server.run();
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    dir,
    pendingUploads,
    close: async () => {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  /** What the proxy did: forwarded, or the failure it injected. */
  outcome: 'forwarded' | 'status-500' | 'reset';
}

export type Fault = 'status-500' | 'reset' | undefined;

export interface FaultProxy {
  endpoint: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

/**
 * A reverse proxy on 127.0.0.1 forwarding to `target`; `decide` sees each request (in arrival
 * order) and may fail it: `status-500` answers an S3 InternalError after reading the body,
 * `reset` destroys the client's connection after the first bytes of the body arrived.
 */
export async function startFaultProxy(target: string, decide: (req: http.IncomingMessage, index: number) => Fault = () => undefined): Promise<FaultProxy> {
  const t = new URL(target);
  const requests: RecordedRequest[] = [];
  const agent = new http.Agent({ keepAlive: true });
  const server = http.createServer((req, res) => {
    const index = requests.length;
    const fault = decide(req, index);
    const record: RecordedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, outcome: fault ?? 'forwarded' };
    requests.push(record);
    if (fault === 'status-500') {
      req.resume();
      req.on('end', () => {
        res.writeHead(500, { 'content-type': 'application/xml' });
        res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected by the test proxy</Message></Error>');
      });
      return;
    }
    if (fault === 'reset') {
      req.once('data', () => req.socket.resetAndDestroy());
      return;
    }
    const upstream = http.request(
      { host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers, agent },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.on('aborted', () => upstream.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Parses an S3 request's URL into operation-relevant query parameters. */
export function s3Query(r: RecordedRequest): URLSearchParams {
  return new URL(r.url, 'http://x').searchParams;
}

/**
 * Child mode (`node --import tsx test/helpers/s3.ts upload <json>`): uploads one file with
 * Kiln's S3 target, credentials from the standard AWS_* variables (the SDK's chain), and
 * prints the result as JSON with the process's peak RSS (VmHWM). Used by the memory test.
 */
async function childMain(args: { file: string; endpoint: string; bucket: string; partSize?: number; concurrency?: number }): Promise<void> {
  const { uploadToS3 } = await import('../../src/upload/s3.js');
  const result = await uploadToS3(args.file, {
    bucket: args.bucket,
    endpoint: args.endpoint,
    forcePathStyle: true,
    ...(args.partSize ? { partSize: args.partSize } : {}),
    ...(args.concurrency ? { concurrency: args.concurrency } : {}),
  });
  const status = readFileSync('/proc/self/status', 'utf8');
  const peakRss = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
  process.stdout.write(JSON.stringify({ ...result, peakRss }) + '\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === new URL(import.meta.url).pathname && process.argv[2] === 'upload') {
  await childMain(JSON.parse(process.argv[3]));
}
