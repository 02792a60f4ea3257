/**
 * The S3 target: uploads one local file (an image) to AWS S3 or an S3-compatible server.
 *
 * Files up to one part go in a single PutObject; larger ones in a multipart upload
 * (CreateMultipartUpload, UploadPart × n, CompleteMultipartUpload). Every request body is a
 * stream of a slice of the file read from disk, so memory stays at a few stream buffers per
 * part in flight whatever the file and part sizes (test/upload-s3-memory.test.ts measures it).
 *
 * Retries are ours, not the SDK's (its maxAttempts is 1): the SDK cannot replay a stream body
 * it has already consumed, so each attempt of a part opens a fresh slice of the file. Only
 * transient failures are retried (5xx, throttling, timeouts, connection resets), with
 * exponential backoff and jitter. On any other failure, and on cancel, the multipart upload is
 * aborted (AbortMultipartUpload) after every part in flight has settled, so no parts are
 * left behind to be billed.
 *
 * Checksums: `requestChecksumCalculation` / `responseChecksumValidation` are WHEN_REQUIRED.
 * Since SDK 3.729 the default adds CRC32 checksums (aws-chunked trailers) to every upload,
 * which many S3-compatible servers (s3rver, older MinIO and Ceph) refuse or mis-store.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { InvalidInputError, KilnError } from '../errors.js';
import type { KilnConfig } from '../generated/config.schema.js';
import type { UploadOptions as ComposeUploadOptions } from '../generated/compose-request.schema.js';
import { silentLogger, type Logger } from '../log.js';
import { readCredentialsFile, type S3Credentials } from './credentials.js';
import { S3UploadError } from './errors.js';

export { S3UploadError } from './errors.js';
export type { S3Credentials } from './credentials.js';

const MiB = 1024 * 1024;
/** S3's limits: parts of 5 MiB to 5 GiB (the last may be smaller), at most 10000 parts. */
export const MIN_PART_SIZE = 5 * MiB;
export const MAX_PART_SIZE = 5 * 1024 * MiB;
export const MAX_PARTS = 10_000;
export const DEFAULT_PART_SIZE = 16 * MiB;
export const DEFAULT_CONCURRENCY = 4;
export const DEFAULT_RETRIES = 4;

export interface S3UploadOptions {
  /** The compose's upload_options.bucket. */
  bucket: string;
  /** The compose's upload_options.region; required for AWS, default us-east-1 with a custom endpoint. */
  region?: string;
  /** Prepended literally to the file's basename (S3 prefix semantics: include the trailing '/'). */
  keyPrefix?: string;
  /** The whole object key; overrides keyPrefix + basename. */
  key?: string;
  /** ACL public-read on the object. */
  public?: boolean;
  contentType?: string;
  /** An S3-compatible endpoint URL; default AWS S3 of the region. */
  endpoint?: string;
  /** Address buckets as <endpoint>/<bucket>/<key>; default false (<bucket>.<endpoint>/<key>). */
  forcePathStyle?: boolean;
  /** Explicit credentials; otherwise credentialsFile, otherwise the SDK's standard chain (AWS_* variables, …). */
  credentials?: S3Credentials;
  /** An AWS credentials file and the profile in it (default "default"). */
  credentialsFile?: string;
  profile?: string;
  /** Bytes per part; default 16 MiB, at least 5 MiB; raised when the file would need more than 10000 parts. */
  partSize?: number;
  /** Parts in flight at once; default 4. */
  concurrency?: number;
  /** Re-sends of one request after a transient failure; default 4. */
  retries?: number;
  /** Backoff before re-send n: min(max, base·2^(n-1)) with ±50% jitter; default 250 ms and 10 s. */
  retryBaseDelayMs?: number;
  retryMaxDelayMs?: number;
  /** Socket idle limit of one request; default 120 s. */
  requestTimeoutMs?: number;
  /** Cancels the upload: parts in flight are dropped, the multipart upload is aborted, the call rejects with KILN_JOB_CANCELED. */
  signal?: AbortSignal;
  onProgress?: (progress: { sent: number; size: number; partsDone: number; parts: number }) => void;
  log?: Logger;
}

export interface S3UploadResult {
  bucket: string;
  key: string;
  /** The object's URL in the form the endpoint implies (virtual-hosted or path style). */
  url: string;
  /** The object's ETag without quotes (multipart ETags end in -<parts>). */
  etag: string;
  size: number;
  /** Parts sent (1 for a single PutObject). */
  parts: number;
  partSize: number;
  /** Requests re-sent after transient failures. */
  retries: number;
  seconds: number;
}

/**
 * Maps a compose image request's upload_options and the worker's [s3] config to options of
 * uploadToS3. Missing or malformed fields are InvalidInputErrors naming `upload_options.*`.
 */
export function s3UploadOptions(upload: ComposeUploadOptions | undefined, config: KilnConfig['s3']): S3UploadOptions {
  if (!upload?.bucket) throw new InvalidInputError('upload_options.bucket', 'is required for an S3 upload');
  return {
    bucket: upload.bucket,
    ...(upload.region ? { region: upload.region } : {}),
    ...(upload.key_prefix ? { keyPrefix: upload.key_prefix } : {}),
    public: upload.public ?? false,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    forcePathStyle: config.force_path_style,
    ...(config.credentials_file ? { credentialsFile: config.credentials_file } : {}),
    profile: config.profile,
    partSize: config.part_size_mib * MiB,
    concurrency: config.concurrency,
    retries: config.retries,
  };
}

/**
 * Checks, when a compose is created, what its upload will need (bucket name, region, key
 * prefix) by the same rules the worker applies; InvalidInputErrors name `upload_options.*`.
 */
export function checkS3UploadOptions(upload: ComposeUploadOptions, config: KilnConfig['s3']): void {
  check('image', s3UploadOptions(upload, config));
}

/** Bucket naming rules of S3 (general purpose buckets). */
const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

interface Checked {
  file: string;
  bucket: string;
  key: string;
  region: string;
  endpoint?: URL;
  forcePathStyle: boolean;
  partSize: number;
  concurrency: number;
  retries: number;
}

function check(file: string, o: S3UploadOptions): Checked {
  if (typeof o.bucket !== 'string' || !BUCKET_RE.test(o.bucket) || o.bucket.includes('..') || /^\d+\.\d+\.\d+\.\d+$/.test(o.bucket)) {
    throw new InvalidInputError('upload_options.bucket', `${JSON.stringify(o.bucket)} is not a valid S3 bucket name (3-63 characters: a-z, 0-9, '.', '-')`);
  }
  let endpoint: URL | undefined;
  if (o.endpoint !== undefined) {
    try {
      endpoint = new URL(o.endpoint);
    } catch {
      endpoint = undefined;
    }
    if (!endpoint || !/^https?:$/.test(endpoint.protocol)) throw new InvalidInputError('s3.endpoint', `${JSON.stringify(o.endpoint)} is not an http(s) URL`);
  }
  const region = o.region ?? (endpoint ? 'us-east-1' : undefined);
  if (!region || !/^[a-z0-9-]{1,64}$/.test(region)) {
    throw new InvalidInputError('upload_options.region', region ? `${JSON.stringify(region)} is not an AWS region name` : 'is required for an upload to AWS S3');
  }
  const key = o.key ?? `${o.keyPrefix ?? ''}${path.basename(file)}`;
  if (key === '' || Buffer.byteLength(key) > 1024 || key.startsWith('/')) {
    throw new InvalidInputError(o.key !== undefined ? 'key' : 'upload_options.key_prefix', `the object key ${JSON.stringify(key)} must be 1-1024 bytes and not start with '/'`);
  }
  const partSize = o.partSize ?? DEFAULT_PART_SIZE;
  if (!Number.isInteger(partSize) || partSize < MIN_PART_SIZE || partSize > MAX_PART_SIZE) {
    throw new InvalidInputError('s3.part_size_mib', `the part size must be between 5 MiB and 5 GiB, got ${partSize} bytes`);
  }
  const concurrency = o.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) throw new InvalidInputError('s3.concurrency', `must be an integer from 1 to 64, got ${concurrency}`);
  const retries = o.retries ?? DEFAULT_RETRIES;
  if (!Number.isInteger(retries) || retries < 0 || retries > 20) throw new InvalidInputError('s3.retries', `must be an integer from 0 to 20, got ${retries}`);
  return { file, bucket: o.bucket, key, region, ...(endpoint ? { endpoint } : {}), forcePathStyle: o.forcePathStyle ?? false, partSize, concurrency, retries };
}

/** The object's URL as the addressing style implies; each key segment percent-encoded. */
export function objectUrl(c: { bucket: string; key: string; region: string; endpoint?: URL; forcePathStyle: boolean }): string {
  const key = c.key.split('/').map(encodeURIComponent).join('/');
  if (!c.endpoint) {
    return c.forcePathStyle ? `https://s3.${c.region}.amazonaws.com/${c.bucket}/${key}` : `https://${c.bucket}.s3.${c.region}.amazonaws.com/${key}`;
  }
  const base = c.endpoint.pathname.replace(/\/+$/, '');
  return c.forcePathStyle ? `${c.endpoint.origin}${base}/${c.bucket}/${key}` : `${c.endpoint.protocol}//${c.bucket}.${c.endpoint.host}${base}/${key}`;
}

/** Part size actually used: the configured one, raised to whole MiB so the file fits in 10000 parts. */
export function effectivePartSize(size: number, partSize: number): number {
  if (Math.ceil(size / partSize) <= MAX_PARTS) return partSize;
  return Math.ceil(size / MAX_PARTS / MiB) * MiB;
}

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $retryable?: unknown;
  $metadata?: { httpStatusCode?: number; requestId?: string };
}

const TRANSIENT_NAMES = new Set(['InternalError', 'ServiceUnavailable', 'SlowDown', 'RequestTimeout', 'RequestTimeoutException', 'ThrottlingException', 'TimeoutError', 'Throttling']);
const TRANSIENT_CODES = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNREFUSED', 'ECONNABORTED', 'EAI_AGAIN', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET']);

/** Transient: worth re-sending the same request. Everything else (4xx, credentials, file errors) is final. */
export function isTransient(err: unknown): boolean {
  const e = (err ?? {}) as SdkError;
  if (e instanceof S3UploadError || e.name === 'AbortError') return false;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && (status >= 500 || status === 429)) return true;
  if (e.$retryable) return true;
  if (e.name && TRANSIENT_NAMES.has(e.name)) return true;
  if (e.code && TRANSIENT_CODES.has(e.code)) return true;
  return /socket hang up|ECONNRESET|EPIPE/i.test(e.message ?? '');
}

const FILE_ERRORS = new Set(['ENOENT', 'EACCES', 'EPERM', 'EISDIR', 'EIO', 'ELOOP', 'ENOTDIR', 'EMFILE', 'ENFILE']);

function fileError(file: string, err: unknown): S3UploadError {
  const e = err as NodeJS.ErrnoException;
  return new S3UploadError('file', `cannot read ${file}: ${e.code ? `${e.code} ` : ''}${e.message}`, { cause: err, details: { file } });
}

/** A final S3 failure as a KILN_UPLOAD error whose message names the problem. */
function s3Failure(err: unknown, c: Checked, operation: string): S3UploadError {
  const e = (err ?? {}) as SdkError;
  if (e.code && FILE_ERRORS.has(e.code) && !e.$metadata) return fileError(c.file, err);
  const name = e.name ?? 'Error';
  const status = e.$metadata?.httpStatusCode;
  const where = c.endpoint ? c.endpoint.origin : `AWS S3 (${c.region})`;
  const details = { bucket: c.bucket, key: c.key, operation, s3Code: name, ...(status ? { httpStatus: status } : {}), ...(e.$metadata?.requestId ? { requestId: e.$metadata.requestId } : {}) };
  const object = `s3://${c.bucket}/${c.key}`;
  const opts = { cause: err, details };
  switch (name) {
    case 'NoSuchBucket':
      return new S3UploadError('no-such-bucket', `S3 bucket "${c.bucket}" does not exist at ${where}`, opts);
    case 'AccessDenied':
    case 'AllAccessDisabled':
    case 'AccountProblem':
      return new S3UploadError('access-denied', `access denied to ${object} at ${where} (${operation}): the credentials may not write to bucket "${c.bucket}"`, opts);
    case 'InvalidAccessKeyId':
      return new S3UploadError('credentials', `${where} does not know the access key of the S3 credentials (InvalidAccessKeyId); check s3.credentials_file / s3.profile or AWS_ACCESS_KEY_ID`, opts);
    case 'SignatureDoesNotMatch':
      return new S3UploadError('credentials', `${where} refused the request signature (SignatureDoesNotMatch): the S3 secret key does not belong to the access key, or the region "${c.region}" is wrong`, opts);
    case 'ExpiredToken':
    case 'InvalidToken':
    case 'TokenRefreshRequired':
      return new S3UploadError('credentials', `the S3 session token was refused (${name}); refresh the credentials`, opts);
    case 'CredentialsProviderError':
      return new S3UploadError('credentials', `no S3 credentials found: set s3.credentials_file or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (${e.message ?? name})`, opts);
    case 'AccessControlListNotSupported':
      return new S3UploadError('acl-not-supported', `bucket "${c.bucket}" does not accept ACLs (Object Ownership is "bucket owner enforced"), so upload_options.public cannot be honoured`, opts);
    case 'PermanentRedirect':
    case 'AuthorizationHeaderMalformed':
    case 'IllegalLocationConstraintException':
      return new S3UploadError('other', `bucket "${c.bucket}" is not in region "${c.region}" (${name}); set upload_options.region to the bucket's region`, opts);
    default: {
      if (status === 403) return new S3UploadError('access-denied', `access denied to ${object} at ${where} (${operation}, HTTP 403 ${name})`, opts);
      if (status === 404 && operation !== 'HeadObject') return new S3UploadError('no-such-bucket', `S3 bucket "${c.bucket}" was not found at ${where} (${operation}, HTTP 404 ${name})`, opts);
      const reason = isTransient(err) ? 'transient' : 'other';
      return new S3UploadError(reason, `S3 ${operation} of ${object} at ${where} failed${reason === 'transient' ? ' after retries' : ''}: ${name}${status ? ` (HTTP ${status})` : ''}: ${e.message ?? ''}`.trimEnd(), opts);
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function unquote(etag: string | undefined): string {
  return (etag ?? '').replace(/^"+|"+$/g, '');
}

/** Uploads `file` to S3; see the module comment. Rejects with S3UploadError (KILN_UPLOAD), InvalidInputError or, on cancel, KILN_JOB_CANCELED. */
export async function uploadToS3(file: string, options: S3UploadOptions): Promise<S3UploadResult> {
  const c = check(file, options);
  const log = (options.log ?? silentLogger).child({ component: 's3-upload', bucket: c.bucket, key: c.key });
  const userSignal = options.signal ?? new AbortController().signal;
  if (userSignal.aborted) throw new KilnError('KILN_JOB_CANCELED', 'S3 upload canceled', { cause: userSignal.reason });
  const started = performance.now();

  // Opened once up front so an unreadable file fails before anything is sent; each part then
  // opens its own stream by path (a stream over a shared FileHandle closes it when destroyed).
  let size: number;
  try {
    const fh = await open(file, 'r');
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw new S3UploadError('file', `cannot read ${file}: not a regular file`, { details: { file } });
      size = st.size;
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (err instanceof S3UploadError) throw err;
    throw fileError(file, err);
  }

  let client: S3Client | undefined;
  try {
    const credentials = options.credentials ?? (options.credentialsFile ? await readCredentialsFile(options.credentialsFile, options.profile ?? 'default') : undefined);
    client = new S3Client({
      region: c.region,
      ...(c.endpoint ? { endpoint: c.endpoint.href.replace(/\/$/, '') } : {}),
      forcePathStyle: c.forcePathStyle,
      // Without credentials here the SDK's standard chain applies (AWS_ACCESS_KEY_ID, …, AWS_PROFILE, instance roles).
      ...(credentials ? { credentials } : options.profile && options.profile !== 'default' ? { profile: options.profile } : {}),
      maxAttempts: 1,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: { connectionTimeout: 10_000, requestTimeout: options.requestTimeoutMs ?? 120_000 },
      // The SDK would print to the console (e.g. on every failed streaming request); its info
      // lines carry whole command inputs, so only warnings and errors pass, at debug level.
      logger: {
        debug: () => undefined,
        info: () => undefined,
        warn: (...args: unknown[]) => log.debug({ sdk: args.map(String).join(' ') }, 'aws-sdk warning'),
        error: (...args: unknown[]) => log.debug({ sdk: args.map(String).join(' ') }, 'aws-sdk error'),
      },
    });
    const run = new Upload(client, size, c, options, log, userSignal);
    const result = await run.start();
    const seconds = (performance.now() - started) / 1000;
    log.info({ size, parts: result.parts, partSize: result.partSize, retries: result.retries, seconds, mibPerSecond: size / MiB / Math.max(seconds, 1e-6) }, 'uploaded to S3');
    return { ...result, seconds };
  } finally {
    client?.destroy();
  }
}

/** One upload's state: the client, the file, the retry counter, the cancel plumbing. */
class Upload {
  #client: S3Client;
  #size: number;
  #c: Checked;
  #o: S3UploadOptions;
  #log: Logger;
  #userSignal: AbortSignal;
  /** Aborted on the first final failure of a part, so the other parts in flight stop. */
  #internal = new AbortController();
  #signal: AbortSignal;
  #retries = 0;

  constructor(client: S3Client, size: number, c: Checked, o: S3UploadOptions, log: Logger, userSignal: AbortSignal) {
    this.#client = client;
    this.#size = size;
    this.#c = c;
    this.#o = o;
    this.#log = log;
    this.#userSignal = userSignal;
    this.#signal = AbortSignal.any([userSignal, this.#internal.signal]);
  }

  #canceled(): KilnError {
    return new KilnError('KILN_JOB_CANCELED', `S3 upload of s3://${this.#c.bucket}/${this.#c.key} canceled`, { cause: this.#userSignal.reason, details: { bucket: this.#c.bucket, key: this.#c.key } });
  }

  /** A stream of bytes [start, end) of the file; a fresh one per attempt (64 KiB buffers). */
  #slice(start: number, end: number): Readable | Uint8Array {
    if (end <= start) return new Uint8Array(0);
    return createReadStream(this.#c.file, { start, end: end - 1 });
  }

  /** Runs one request with re-sends on transient failures, backing off between attempts. */
  async #withRetries<T>(operation: string, what: Record<string, unknown>, attempt: (signal: AbortSignal) => Promise<T>, signal = this.#signal): Promise<T> {
    const base = this.#o.retryBaseDelayMs ?? 250;
    const max = this.#o.retryMaxDelayMs ?? 10_000;
    for (let n = 0; ; n++) {
      try {
        return await attempt(signal);
      } catch (err) {
        if (signal.aborted) throw err;
        if (n >= this.#c.retries || !isTransient(err)) throw err;
        const delayMs = Math.round(Math.min(max, base * 2 ** n) * (0.5 + Math.random() / 2));
        this.#retries++;
        const e = err as SdkError;
        this.#log.warn({ operation, ...what, attempt: n + 1, delayMs, error: { name: e.name, code: e.code, status: e.$metadata?.httpStatusCode, message: e.message } }, 'transient S3 failure, re-sending');
        await sleep(delayMs, signal);
      }
    }
  }

  /**
   * #withRetries for a request with a body: `make` builds a fresh body and the call sending it
   * for each attempt; the stream is destroyed after every attempt so a dropped request leaves
   * no reader (and no open file) behind.
   */
  async #send<T>(operation: string, what: Record<string, unknown>, make: () => { body: Readable | Uint8Array; call: (signal: AbortSignal) => Promise<T> }): Promise<T> {
    return this.#withRetries(operation, what, async (s) => {
      const { call, body } = make();
      try {
        return await call(s);
      } finally {
        if ('destroy' in body) body.destroy();
      }
    });
  }

  async start(): Promise<Omit<S3UploadResult, 'seconds'>> {
    const c = this.#c;
    const partSize = effectivePartSize(this.#size, c.partSize);
    const acl = this.#o.public ? ({ ACL: 'public-read' } as const) : {};
    const contentType = { ContentType: this.#o.contentType ?? 'application/octet-stream' };
    const url = objectUrl(c);
    const base = { bucket: c.bucket, key: c.key, url, size: this.#size, partSize };
    this.#log.info({ size: this.#size, partSize, endpoint: c.endpoint?.origin, multipart: this.#size > partSize }, 'S3 upload starting');

    if (this.#size <= partSize) {
      try {
        const out = await this.#send('PutObject', {}, () => {
          const body = this.#slice(0, this.#size);
          const command = new PutObjectCommand({ Bucket: c.bucket, Key: c.key, Body: body, ContentLength: this.#size, ...contentType, ...acl });
          return { body, call: (s) => this.#client.send(command, { abortSignal: s }) };
        });
        this.#o.onProgress?.({ sent: this.#size, size: this.#size, partsDone: 1, parts: 1 });
        return { ...base, etag: unquote(out.ETag), parts: 1, retries: this.#retries };
      } catch (err) {
        throw this.#userSignal.aborted ? this.#canceled() : s3Failure(err, c, 'PutObject');
      }
    }

    let uploadId: string;
    try {
      const created = await this.#withRetries('CreateMultipartUpload', {}, (s) =>
        this.#client.send(new CreateMultipartUploadCommand({ Bucket: c.bucket, Key: c.key, ...contentType, ...acl }), { abortSignal: s }),
      );
      if (!created.UploadId) throw new S3UploadError('other', `S3 CreateMultipartUpload of s3://${c.bucket}/${c.key} returned no UploadId`);
      uploadId = created.UploadId;
    } catch (err) {
      if (this.#userSignal.aborted) throw this.#canceled();
      throw err instanceof S3UploadError ? err : s3Failure(err, c, 'CreateMultipartUpload');
    }

    try {
      const parts = await this.#uploadParts(uploadId, partSize);
      const out = await this.#complete(uploadId, parts);
      return { ...base, etag: out, parts: parts.length, retries: this.#retries };
    } catch (err) {
      this.#internal.abort();
      await this.#abort(uploadId);
      if (this.#userSignal.aborted) throw this.#canceled();
      throw err instanceof KilnError ? err : s3Failure(err, c, (err as { operation?: string }).operation ?? 'UploadPart');
    }
  }

  /** Sends every part, `concurrency` at a time; the first final failure stops the rest and is thrown once all have settled. */
  async #uploadParts(uploadId: string, partSize: number): Promise<CompletedPart[]> {
    const c = this.#c;
    const count = Math.ceil(this.#size / partSize);
    const done: CompletedPart[] = new Array(count);
    let next = 0;
    let partsDone = 0;
    let sent = 0;
    let failure: unknown;
    const worker = async () => {
      while (failure === undefined && !this.#signal.aborted && next < count) {
        const index = next++;
        const number = index + 1;
        const start = index * partSize;
        const end = Math.min(this.#size, start + partSize);
        try {
          const out = await this.#send('UploadPart', { part: number }, () => {
            const body = this.#slice(start, end);
            const command = new UploadPartCommand({ Bucket: c.bucket, Key: c.key, UploadId: uploadId, PartNumber: number, Body: body, ContentLength: end - start });
            return { body, call: (s) => this.#client.send(command, { abortSignal: s }) };
          });
          if (!out.ETag) throw new S3UploadError('other', `S3 UploadPart ${number} of s3://${c.bucket}/${c.key} returned no ETag`);
          done[index] = { ETag: out.ETag, PartNumber: number };
          partsDone++;
          sent += end - start;
          this.#o.onProgress?.({ sent, size: this.#size, partsDone, parts: count });
        } catch (err) {
          if (failure === undefined && !this.#userSignal.aborted) {
            failure = err instanceof KilnError ? err : s3Failure(err, c, `UploadPart ${number}`);
          }
          this.#internal.abort();
          return;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#c.concurrency, count) }, worker));
    if (this.#userSignal.aborted) throw this.#canceled();
    if (failure !== undefined) throw failure;
    return done;
  }

  /**
   * CompleteMultipartUpload. If an earlier attempt of it was lost in transit after S3 had
   * completed, the re-send gets NoSuchUpload: then a HeadObject of the expected size settles it.
   */
  async #complete(uploadId: string, parts: CompletedPart[]): Promise<string> {
    const c = this.#c;
    let attempts = 0;
    const started = Date.now();
    try {
      const out = await this.#withRetries('CompleteMultipartUpload', {}, (s) => {
        attempts++;
        return this.#client.send(new CompleteMultipartUploadCommand({ Bucket: c.bucket, Key: c.key, UploadId: uploadId, MultipartUpload: { Parts: parts } }), { abortSignal: s });
      });
      return unquote(out.ETag);
    } catch (err) {
      if ((err as SdkError).name === 'NoSuchUpload' && attempts > 1) {
        const head = await this.#client.send(new HeadObjectCommand({ Bucket: c.bucket, Key: c.key }), { abortSignal: this.#signal }).catch(() => undefined);
        // The object of this size written since this complete began (allowing a minute of clock skew) is ours.
        if (head?.ContentLength === this.#size && head.LastModified && head.LastModified.getTime() >= started - 60_000) return unquote(head.ETag);
      }
      if (this.#userSignal.aborted) throw this.#canceled();
      throw s3Failure(err, c, 'CompleteMultipartUpload');
    }
  }

  /** AbortMultipartUpload with its own retries and time limit (the upload's signal may already be aborted). */
  async #abort(uploadId: string): Promise<void> {
    try {
      await this.#withRetries(
        'AbortMultipartUpload',
        { uploadId },
        (s) => this.#client.send(new AbortMultipartUploadCommand({ Bucket: this.#c.bucket, Key: this.#c.key, UploadId: uploadId }), { abortSignal: s }),
        AbortSignal.timeout(60_000),
      );
      this.#log.info({ uploadId }, 'multipart upload aborted');
    } catch (err) {
      // The parts stay until a bucket lifecycle rule removes them; say so, the upload's own error matters more.
      this.#log.warn({ uploadId, error: { name: (err as SdkError).name, message: (err as SdkError).message } }, 'could not abort the multipart upload; its parts remain in the bucket');
    }
  }
}
