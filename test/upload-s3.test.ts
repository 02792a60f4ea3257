/**
 * The S3 target against s3rver on 127.0.0.1, through a recording proxy that can fail chosen
 * requests: multipart and single uploads (content checked by downloading), a missing bucket,
 * refused credentials, transient failures (HTTP 500, connection reset), cancel and final
 * failure (the multipart upload is aborted, nothing left), and the [s3] config section.
 */
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, S3Client } from '@aws-sdk/client-s3';
import { pino } from 'pino';
import type { Logger } from '../src/log.js';
import { loadConfig } from '../src/config/index.js';
import { KilnError } from '../src/errors.js';
import { objectUrl, effectivePartSize, s3UploadOptions, uploadToS3, S3UploadError, MIN_PART_SIZE, type S3UploadOptions } from '../src/upload/index.js';
import { S3RVER_CREDENTIALS, startFaultProxy, startS3rver, s3Query, type Fault, type RecordedRequest, type S3Stub } from './helpers/s3.js';

const MiB = 1024 * 1024;
const BUCKET = 'kiln-images';

let s3: S3Stub;
let dir: string;
let reader: S3Client;

test.before(async () => {
  s3 = await startS3rver([BUCKET]);
  dir = mkdtempSync(path.join(os.tmpdir(), 'kiln-s3-test-'));
  reader = new S3Client({
    region: 'us-east-1',
    endpoint: s3.endpoint,
    forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
});

test.after.always(async () => {
  reader?.destroy();
  await s3?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function makeFile(name: string, size: number): { file: string; sha256: string } {
  const data = randomBytes(size);
  const file = path.join(dir, name);
  writeFileSync(file, data);
  return { file, sha256: createHash('sha256').update(data).digest('hex') };
}

async function download(key: string): Promise<{ sha256: string; size: number }> {
  const out = await reader.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of out.Body as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { sha256: hash.digest('hex'), size };
}

async function exists(key: string): Promise<boolean> {
  try {
    await reader.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
    return true;
  } catch (err) {
    if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
    throw err;
  }
}

function base(endpoint: string, extra: Partial<S3UploadOptions> = {}): S3UploadOptions {
  return {
    bucket: BUCKET,
    endpoint,
    forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS,
    partSize: MIN_PART_SIZE,
    retryBaseDelayMs: 10,
    retryMaxDelayMs: 50,
    ...extra,
  };
}

const isPart = (r: RecordedRequest) => r.method === 'PUT' && s3Query(r).has('partNumber');
const partNumber = (r: RecordedRequest) => Number(s3Query(r).get('partNumber'));

/** Logs captured as JSON lines, to check what reaches them (and what never does). */
function captureLog(): { log: Logger; lines: () => string } {
  let text = '';
  const sink = new Writable({
    write(chunk, _enc, cb) {
      text += chunk;
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, sink) as unknown as Logger, lines: () => text };
}

test('a file of more than 3 parts goes up as a multipart upload and downloads identical', async (t) => {
  const proxy = await startFaultProxy(s3.endpoint);
  t.teardown(() => proxy.close());
  const { file, sha256 } = makeFile('disk.raw', 3 * MIN_PART_SIZE + 1_500_000);
  const progress: number[] = [];
  const result = await uploadToS3(file, base(proxy.endpoint, { keyPrefix: 'composes/42/', public: true, concurrency: 3, onProgress: (p) => progress.push(p.sent) }));
  t.is(result.key, 'composes/42/disk.raw');
  t.is(result.bucket, BUCKET);
  t.is(result.size, 3 * MIN_PART_SIZE + 1_500_000);
  t.is(result.parts, 4);
  t.is(result.retries, 0);
  t.regex(result.etag, /^[0-9a-f]{32}(-4)?$/); // AWS ends multipart ETags in -<parts>; s3rver does not
  t.is(result.url, `${proxy.endpoint}/${BUCKET}/composes/42/disk.raw`);
  t.deepEqual(await download(result.key), { sha256, size: result.size });
  t.is(progress.at(-1), result.size);

  const parts = proxy.requests.filter(isPart);
  t.deepEqual(parts.map(partNumber).sort(), [1, 2, 3, 4]);
  t.deepEqual(parts.map((r) => Number(r.headers['content-length'])).sort((a, b) => a - b), [1_500_000, MIN_PART_SIZE, MIN_PART_SIZE, MIN_PART_SIZE]);
  const create = proxy.requests.find((r) => r.method === 'POST' && s3Query(r).has('uploads'));
  t.is(create?.headers['x-amz-acl'], 'public-read');
  t.is(proxy.requests.filter((r) => r.method === 'POST' && s3Query(r).has('uploadId')).length, 1);
  // WHEN_REQUIRED: no flexible checksums (aws-chunked trailers) that S3-compatible servers refuse.
  for (const r of proxy.requests) {
    t.false(Object.keys(r.headers).some((h) => h.startsWith('x-amz-checksum') || h === 'x-amz-sdk-checksum-algorithm' || h === 'x-amz-trailer'), `${r.method} ${r.url}`);
  }
  t.deepEqual(s3.pendingUploads(BUCKET, result.key), []);
});

test('a small file goes up in a single PutObject', async (t) => {
  const proxy = await startFaultProxy(s3.endpoint);
  t.teardown(() => proxy.close());
  const { file, sha256 } = makeFile('small.qcow2', 100_000);
  const result = await uploadToS3(file, base(proxy.endpoint));
  t.is(result.parts, 1);
  t.is(result.key, 'small.qcow2');
  t.regex(result.etag, /^[0-9a-f]{32}$/);
  t.deepEqual(await download('small.qcow2'), { sha256, size: 100_000 });
  t.deepEqual(
    proxy.requests.map((r) => `${r.method} ${new URL(r.url, 'http://x').pathname}`),
    [`PUT /${BUCKET}/small.qcow2`],
  );
  t.is(proxy.requests[0].headers['x-amz-acl'], undefined);
});

test('an empty file is uploaded as an empty object', async (t) => {
  const { file } = makeFile('empty.img', 0);
  const result = await uploadToS3(file, base(s3.endpoint, { key: 'empty/empty.img' }));
  t.is(result.size, 0);
  t.deepEqual(await download('empty/empty.img'), { sha256: createHash('sha256').digest('hex'), size: 0 });
});

test('a bucket that does not exist is a clear error naming it', async (t) => {
  const { file } = makeFile('nobucket.raw', 4 * MIN_PART_SIZE);
  for (const partSize of [MIN_PART_SIZE, 32 * MiB]) {
    const err = await t.throwsAsync(uploadToS3(file, base(s3.endpoint, { bucket: 'no-such-bucket-here', partSize })), { instanceOf: S3UploadError });
    t.is(err.code, 'KILN_UPLOAD');
    t.is(err.reason, 'no-such-bucket');
    t.regex(err.message, /S3 bucket "no-such-bucket-here" does not exist at http:\/\/127\.0\.0\.1:\d+/);
  }
});

// s3rver checks the access key but not V4 signatures, so a wrong secret cannot be tested here.
test('refused credentials are a clear error and the secret is never logged', async (t) => {
  const { file } = makeFile('creds.raw', 6 * MiB);
  const secret = 'wrong-secret-4c1d5e';
  const { log, lines } = captureLog();
  const err = await t.throwsAsync(uploadToS3(file, base(s3.endpoint, { credentials: { accessKeyId: 'NOBODY', secretAccessKey: secret }, log })), { instanceOf: S3UploadError });
  t.is(err.code, 'KILN_UPLOAD');
  t.is(err.reason, 'credentials');
  t.regex(err.message, /^http:\/\/127\.0\.0\.1:\d+ does not know the access key of the S3 credentials \(InvalidAccessKeyId\)/);
  t.true(lines().includes('S3 upload starting'));
  for (const text of [lines(), err.message, JSON.stringify(err.toJSON())]) t.false(text.includes(secret));
});

test('credentials come from the configured AWS credentials file and profile', async (t) => {
  const { file, sha256 } = makeFile('fromfile.raw', 2000);
  const credentialsFile = path.join(dir, 'credentials');
  writeFileSync(credentialsFile, `[default]\naws_access_key_id = NOBODY\naws_secret_access_key = nothing\n\n# kiln's\n[kiln]\naws_access_key_id = ${S3RVER_CREDENTIALS.accessKeyId}\naws_secret_access_key=${S3RVER_CREDENTIALS.secretAccessKey}\n`);
  const opts = { ...base(s3.endpoint), credentials: undefined, credentialsFile };
  const result = await uploadToS3(file, { ...opts, profile: 'kiln' });
  t.deepEqual(await download(result.key), { sha256, size: 2000 });
  const wrong = await t.throwsAsync(uploadToS3(file, opts), { instanceOf: S3UploadError });
  t.regex(wrong.message, /InvalidAccessKeyId/);
  const missing = await t.throwsAsync(uploadToS3(file, { ...opts, profile: 'nope' }), { instanceOf: S3UploadError });
  t.is(missing.message, `the AWS credentials file ${credentialsFile} has no profile [nope] (config s3.profile)`);
  const noFile = await t.throwsAsync(uploadToS3(file, { ...opts, credentialsFile: path.join(dir, 'absent') }), { instanceOf: S3UploadError });
  t.regex(noFile.message, /cannot read the AWS credentials file .*absent .*ENOENT/);
});

test('a file that cannot be read is a clear error', async (t) => {
  const missing = path.join(dir, 'not-there.raw');
  const err = await t.throwsAsync(uploadToS3(missing, base(s3.endpoint)), { instanceOf: S3UploadError });
  t.is(err.reason, 'file');
  t.true(err.message.startsWith(`cannot read ${missing}: ENOENT`));
  const err2 = await t.throwsAsync(uploadToS3(dir, base(s3.endpoint)), { instanceOf: S3UploadError });
  t.regex(err2.message, /not a regular file/);
});

for (const fault of ['status-500', 'reset'] as const) {
  test(`a part that fails once (${fault}) mid-upload is re-sent and the upload completes`, async (t) => {
    let failed = 0;
    const proxy = await startFaultProxy(s3.endpoint, (req) => {
      const q = new URL(req.url ?? '', 'http://x').searchParams;
      if (failed === 0 && req.method === 'PUT' && q.get('partNumber') === '3') {
        failed++;
        return fault as Fault;
      }
      return undefined;
    });
    t.teardown(() => proxy.close());
    const { file, sha256 } = makeFile(`transient-${fault}.raw`, 4 * MIN_PART_SIZE + 12345);
    const { log, lines } = captureLog();
    const result = await uploadToS3(file, base(proxy.endpoint, { concurrency: 2, log }));
    t.is(failed, 1);
    t.is(result.retries, 1);
    t.is(result.parts, 5);
    const part3 = proxy.requests.filter((r) => isPart(r) && partNumber(r) === 3);
    t.deepEqual(part3.map((r) => r.outcome), [fault, 'forwarded']);
    t.deepEqual(await download(result.key), { sha256, size: 4 * MIN_PART_SIZE + 12345 });
    t.regex(lines(), /transient S3 failure, re-sending/);
    t.deepEqual(s3.pendingUploads(BUCKET, result.key), []);
  });
}

test('a part failing beyond its retries fails the upload and aborts the multipart upload', async (t) => {
  const proxy = await startFaultProxy(s3.endpoint, (req) => (req.method === 'PUT' && /partNumber=2(&|$)/.test(req.url ?? '') ? 'status-500' : undefined));
  t.teardown(() => proxy.close());
  const { file } = makeFile('doomed.raw', 3 * MIN_PART_SIZE);
  const err = await t.throwsAsync(uploadToS3(file, base(proxy.endpoint, { retries: 2, concurrency: 1 })), { instanceOf: S3UploadError });
  t.is(err.reason, 'transient');
  t.regex(err.message, /UploadPart 2 of s3:\/\/kiln-images\/doomed\.raw .* failed after retries: InternalError \(HTTP 500\)/);
  t.is(proxy.requests.filter((r) => isPart(r) && partNumber(r) === 2).length, 3);
  const aborts = proxy.requests.filter((r) => r.method === 'DELETE' && s3Query(r).has('uploadId'));
  t.is(aborts.length, 1);
  t.deepEqual(s3.pendingUploads(BUCKET, 'doomed.raw'), []);
  t.false(await exists('doomed.raw'));
});

test('cancel through the AbortSignal aborts the multipart upload: no object, no upload left', async (t) => {
  const proxy = await startFaultProxy(s3.endpoint);
  t.teardown(() => proxy.close());
  const { file } = makeFile('canceled.raw', 4 * MIN_PART_SIZE);
  const controller = new AbortController();
  const err = await t.throwsAsync(
    uploadToS3(
      file,
      base(proxy.endpoint, {
        concurrency: 1,
        signal: controller.signal,
        onProgress: (p) => {
          if (p.partsDone === 1) controller.abort(new Error('compose canceled'));
        },
      }),
    ),
    { instanceOf: KilnError },
  );
  t.is(err.code, 'KILN_JOB_CANCELED');
  const parts = proxy.requests.filter(isPart);
  t.is(parts.length, 1);
  const uploadId = s3Query(parts[0]).get('uploadId');
  t.truthy(uploadId);
  const aborts = proxy.requests.filter((r) => r.method === 'DELETE' && s3Query(r).has('uploadId'));
  t.deepEqual(aborts.map((r) => s3Query(r).get('uploadId')), [uploadId]);
  const listed = await reader.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }));
  t.deepEqual((listed.Uploads ?? []).filter((u) => u.Key === 'canceled.raw'), []);
  t.deepEqual(s3.pendingUploads(BUCKET, 'canceled.raw'), []);
  t.false(await exists('canceled.raw'));
});

test('an already aborted signal sends nothing', async (t) => {
  const proxy = await startFaultProxy(s3.endpoint);
  t.teardown(() => proxy.close());
  const { file } = makeFile('never.raw', 1000);
  const err = await t.throwsAsync(uploadToS3(file, base(proxy.endpoint, { signal: AbortSignal.abort() })), { instanceOf: KilnError });
  t.is(err.code, 'KILN_JOB_CANCELED');
  t.is(proxy.requests.length, 0);
});

test('object URLs follow the addressing style the endpoint implies', (t) => {
  const c = { bucket: 'b1', key: 'a b/c+d.raw', region: 'eu-west-1' };
  t.is(objectUrl({ ...c, forcePathStyle: false }), 'https://b1.s3.eu-west-1.amazonaws.com/a%20b/c%2Bd.raw');
  t.is(objectUrl({ ...c, forcePathStyle: true }), 'https://s3.eu-west-1.amazonaws.com/b1/a%20b/c%2Bd.raw');
  t.is(objectUrl({ ...c, endpoint: new URL('http://minio.local:9000/'), forcePathStyle: true }), 'http://minio.local:9000/b1/a%20b/c%2Bd.raw');
  t.is(objectUrl({ ...c, endpoint: new URL('https://s3.example.com'), forcePathStyle: false }), 'https://b1.s3.example.com/a%20b/c%2Bd.raw');
});

test('the part size grows so a file fits in 10000 parts', (t) => {
  t.is(effectivePartSize(100 * MiB, 16 * MiB), 16 * MiB);
  t.is(effectivePartSize(10_000 * 16 * MiB, 16 * MiB), 16 * MiB);
  t.is(effectivePartSize(200 * 1024 * MiB, 16 * MiB), 21 * MiB);
  t.true(Math.ceil((200 * 1024 * MiB) / effectivePartSize(200 * 1024 * MiB, 16 * MiB)) <= 10_000);
});

test('bad options are InvalidInputErrors naming the field', async (t) => {
  const { file } = makeFile('opts.raw', 10);
  const cases: Array<[Partial<S3UploadOptions>, string]> = [
    [{ bucket: 'Bad_Bucket' }, 'upload_options.bucket'],
    [{ endpoint: undefined, region: undefined }, 'upload_options.region'],
    [{ partSize: 4 * MiB }, 's3.part_size_mib'],
    [{ concurrency: 0 }, 's3.concurrency'],
    [{ endpoint: 'ftp://x' }, 's3.endpoint'],
  ];
  for (const [extra, field] of cases) {
    const err = await t.throwsAsync(uploadToS3(file, base(s3.endpoint, extra)));
    t.is((err as KilnError).code, 'KILN_INVALID_INPUT', field);
    t.is(((err as KilnError).details as { field?: string }).field, field);
  }
});

test('[s3] config: defaults, environment, and mapping with the compose upload_options', (t) => {
  const empty = path.join(dir, 'empty.toml');
  writeFileSync(empty, '');
  const defaults = loadConfig({ file: empty, env: {} }).s3;
  t.deepEqual(defaults, { force_path_style: false, profile: 'default', part_size_mib: 16, concurrency: 4, retries: 4 });
  const cfg = loadConfig({
    file: empty,
    env: { KILN_S3_ENDPOINT: 'http://127.0.0.1:9000', KILN_S3_FORCE_PATH_STYLE: 'true', KILN_S3_PART_SIZE_MIB: '5', KILN_S3_CREDENTIALS_FILE: '/etc/kiln/aws-credentials', KILN_S3_PROFILE: 'kiln' },
  }).s3;
  t.throws(() => loadConfig({ file: empty, env: { KILN_S3_PART_SIZE_MIB: '4' } }), { message: /s3\.part_size_mib|part_size_mib/ });
  const opts = s3UploadOptions({ bucket: 'b1', region: 'eu-west-1', key_prefix: 'x/', public: true }, cfg);
  t.deepEqual(opts, {
    bucket: 'b1',
    region: 'eu-west-1',
    keyPrefix: 'x/',
    public: true,
    endpoint: 'http://127.0.0.1:9000',
    forcePathStyle: true,
    credentialsFile: '/etc/kiln/aws-credentials',
    profile: 'kiln',
    partSize: 5 * MiB,
    concurrency: 4,
    retries: 4,
  });
  const err = t.throws(() => s3UploadOptions({ region: 'eu-west-1' }, cfg));
  t.is((err as KilnError).message, 'upload_options.bucket: is required for an S3 upload');
});
