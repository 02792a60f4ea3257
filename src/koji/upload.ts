/**
 * Uploads into the hub's work area by raw POSTs (Koji's fastUpload protocol): fixed-size
 * chunks, each chunk's size and adler32 checked against the hub's reply, the sha256 of the
 * whole file computed in the same pass (on worker threads, see hasher.ts). The hub takes one
 * chunk of a file at a time (it locks the file per request and answers after checking the
 * chunk), so while one chunk is on the wire the next ones are read and hashed, and the
 * connection is kept alive. Memory stays at three chunks whatever the file size.
 *
 * Resume: the hub is asked (checkUpload with sha256) what it already holds; if its bytes
 * match the local file's prefix the upload continues from there, else it starts over.
 */
import { open } from 'node:fs/promises';
import path from 'node:path';
import { InvalidInputError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import type { KojiClient } from './client.js';
import { KojiUploadError } from './errors.js';
import { createFileHasher, type ChunkDigest, type FileHasher } from './hasher.js';

export const DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024;

/** Chunk buffers per upload: one on the wire, two read and hashed ahead. */
const SLOTS = 3;

export interface UploadOptions {
  /** upload directory relative to the hub's work/ (Koji's `filepath`) */
  directory: string;
  /** file name on the hub; default the local basename */
  name?: string;
  /** default 4 MiB (Koji's own client: 1 MiB); fewer round trips, each waits for the hub's reply */
  chunkSize?: number;
  /** send `overwrite=1` (truncate at each chunk's offset); default true, as Koji's uploadWrapper does */
  overwrite?: boolean;
  /** ask the hub what it already has and continue from the verified offset; default true */
  resume?: boolean;
  /** re-sends of a chunk the hub stored differently from what was sent; default 3 */
  chunkRetries?: number;
  onProgress?: (progress: { name: string; offset: number; size: number }) => void;
  /** checked before each chunk; the upload stops with its reason (it resumes on the next try) */
  signal?: AbortSignal;
  log?: Logger;
}

export interface UploadResult {
  directory: string;
  name: string;
  size: number;
  sha256: string;
  /** offset the hub already held (verified) when this upload started; 0 for a fresh upload */
  resumedFrom: number;
  bytesSent: number;
  chunks: number;
  /** chunks re-sent because the hub's reply did not match */
  chunkRetries: number;
}

function checkOptions(localPath: string, o: UploadOptions): { name: string; chunkSize: number } {
  if (typeof o.directory !== 'string' || o.directory === '' || o.directory.split('/').some((p) => p === '..') || o.directory.startsWith('/')) {
    throw new InvalidInputError('directory', `must be a relative path inside the hub's work area without '..', got ${JSON.stringify(o.directory)}`);
  }
  const name = o.name ?? path.basename(localPath);
  if (name === '' || name.includes('/') || name.startsWith('.')) {
    throw new InvalidInputError('name', `must be a file name without '/' that does not start with '.', got ${JSON.stringify(name)}`);
  }
  const chunkSize = o.chunkSize ?? DEFAULT_CHUNK_SIZE;
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > 256 * 1024 * 1024) {
    throw new InvalidInputError('chunkSize', `must be an integer between 1 and 268435456, got ${chunkSize}`);
  }
  return { name, chunkSize };
}

export async function uploadFile(client: KojiClient, localPath: string, options: UploadOptions): Promise<UploadResult> {
  const { name, chunkSize } = checkOptions(localPath, options);
  const { directory } = options;
  const overwrite = options.overwrite ?? true;
  const maxChunkRetries = options.chunkRetries ?? 3;
  const log = (options.log ?? silentLogger).child({ component: 'koji-upload', directory, file: name });
  const started = performance.now();
  const retriesBefore = client.stats.retries;

  const fh = await open(localPath, 'r').catch((err: NodeJS.ErrnoException) => {
    throw new KojiUploadError(`cannot open ${localPath}: ${err.message}`, { cause: err });
  });
  let hasher: FileHasher | undefined;
  try {
    const size = (await fh.stat()).size;
    // SLOTS shared buffers in turn: one chunk on the wire, the next ones read and hashed ahead.
    hasher = createFileHasher(size, chunkSize, SLOTS);
    const h = hasher;
    const readInto = async (slot: number, pos: number, len: number): Promise<Buffer> => {
      const buf = h.buffers[slot].subarray(0, len);
      for (let n = 0; n < len; ) {
        const { bytesRead } = await fh.read(buf, n, len - n, pos + n);
        if (bytesRead === 0) throw new KojiUploadError(`${localPath} shrank to ${pos + n} bytes while uploading (was ${size})`);
        n += bytesRead;
      }
      return buf;
    };
    let hashed = 0;

    // What does the hub have already?
    let start = 0;
    if (options.resume ?? true) {
      const info = await client.call<Record<string, unknown> | null>('checkUpload', [directory, name, 'sha256']);
      const held = info ? Number(info.size) : 0;
      if (held > 0 && held <= size) {
        for (let pos = 0; pos < held; ) {
          const buf = await readInto(0, pos, Math.min(chunkSize, held - pos));
          await h.update(0, buf.length).hashed;
          pos += buf.length;
        }
        hashed = held;
        if ((await h.peekSha256()) === String(info!.hexdigest)) start = held;
        else log.warn({ held }, 'hub holds different bytes than the local file; uploading from the start');
      } else if (held > size) {
        log.warn({ held, size }, 'hub holds a longer file; uploading from the start');
      }
    }

    // Chunk i goes from buffer i % SLOTS. It is read and handed to the hasher once chunk
    // i - SLOTS is done (answered by the hub and hashed), after chunk i - 1 (the file hashes
    // take the chunks in order), so up to SLOTS - 1 chunks are ready while one is on the wire.
    const count = size === start ? (size === 0 ? 1 : 0) : Math.ceil((size - start) / chunkSize);
    interface Ready { pos: number; buf: Buffer; digest: ChunkDigest }
    const ready: Promise<Ready>[] = [];
    const done: Promise<void>[] = [];
    const finish: (() => void)[] = [];
    const prepare = (i: number): void => {
      const pos = start + i * chunkSize;
      const slot = i % SLOTS;
      done[i] = new Promise<void>((resolve) => (finish[i] = resolve));
      ready[i] = Promise.all([ready[i - 1], done[i - SLOTS]]).then(async () => {
        const buf = await readInto(slot, pos, Math.min(chunkSize, size - pos));
        const digest = h.update(slot, buf.length, Math.max(0, Math.min(buf.length, hashed - pos)));
        hashed = Math.max(hashed, pos + buf.length);
        return { pos, buf, digest };
      });
      ready[i].catch(() => undefined); // awaited in turn below; this only keeps an early failure from being unhandled
    };

    let bytesSent = 0;
    let chunks = 0;
    let chunkRetries = 0;
    const sendChunk = async ({ pos, buf, digest }: Ready): Promise<void> => {
      for (let attempt = 0; ; attempt++) {
        if (options.signal?.aborted) throw options.signal.reason;
        const reply = await client.uploadChunk(
          { filename: name, filepath: directory, offset: String(pos), fileverify: 'adler32', ...(overwrite ? { overwrite: '1' } : {}) },
          buf,
        );
        const adler32 = await digest.adler32;
        chunks++;
        bytesSent += buf.length;
        if (Number(reply.size) === buf.length && reply.hexdigest === adler32 && Number(reply.offset) === pos) return;
        const problem = `chunk at offset ${pos}: hub stored ${String(reply.size)} bytes at ${String(reply.offset)} with adler32 ${String(reply.hexdigest)}, sent ${buf.length} bytes with adler32 ${adler32}`;
        if (attempt >= maxChunkRetries) {
          throw new KojiUploadError(`upload of ${directory}/${name}: ${problem}`, { details: { offset: pos, size: buf.length, adler32, reply } });
        }
        chunkRetries++;
        log.warn({ offset: pos, attempt: attempt + 1 }, `re-sending ${problem}`);
      }
    };

    for (let i = 0, prepared = 0; i < count; i++) {
      for (; prepared < Math.min(count, i + SLOTS); prepared++) prepare(prepared);
      const chunk = await ready[i];
      await sendChunk(chunk);
      await chunk.digest.hashed;
      finish[i]();
      options.onProgress?.({ name, offset: chunk.pos + chunk.buf.length, size });
    }
    const sums = await h.final();

    const result: UploadResult = {
      directory, name, size, sha256: sums.sha256,
      resumedFrom: start, bytesSent, chunks, chunkRetries,
    };
    // Each chunk was checked; the whole file is re-checked when anything was retried or resumed.
    const verifyWhole = start > 0 || chunkRetries > 0 || client.stats.retries !== retriesBefore;
    const info = await client.call<Record<string, unknown> | null>('checkUpload', [directory, name, verifyWhole ? 'sha256' : null]);
    if (!info) throw new KojiUploadError(`upload of ${directory}/${name}: the hub has no such file after the upload`);
    if (Number(info.size) !== size) {
      throw new KojiUploadError(`upload of ${directory}/${name}: the hub holds ${String(info.size)} bytes, the local file has ${size}`, { details: { hubSize: info.size, size } });
    }
    if (verifyWhole && info.hexdigest !== result.sha256) {
      throw new KojiUploadError(`upload of ${directory}/${name}: sha256 on the hub ${String(info.hexdigest)} differs from the local ${result.sha256}`);
    }
    const seconds = (performance.now() - started) / 1000;
    log.info({ size, resumedFrom: start, bytesSent, chunks, chunkRetries, seconds: Number(seconds.toFixed(3)), mbPerSecond: Number((bytesSent / 1e6 / seconds).toFixed(1)) }, 'uploaded');
    return result;
  } finally {
    await hasher?.close();
    await fh.close();
  }
}
