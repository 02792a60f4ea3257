/**
 * Uploads into the hub's work area by raw POSTs (Koji's fastUpload protocol): chunks, each
 * chunk's size and adler32 checked against the hub's reply, the sha256 of the whole file
 * computed in the same pass (on a worker thread, see hasher.ts).
 *
 * Each request costs the hub a session check and a database commit (about 10 ms for koji 1.35
 * on this project's machine), and the hub takes one chunk of a file at a time, so chunks are
 * big (64 MiB). They are streamed, not held: the file is read in pieces of 2 MiB into a few
 * shared buffers, each piece hashed while the ones before it are on the wire, and a buffer is
 * reused once its piece is in the socket. Memory stays at those buffers whatever the file and
 * chunk sizes. A chunk is sent again (the hub's reply did not match, or a try failed) by
 * reading it from the file once more.
 *
 * Resume: the hub is asked (checkUpload with sha256) what it already holds; if its bytes
 * match the local file's prefix the upload continues from there, else it starts over.
 */
import { open } from 'node:fs/promises';
import path from 'node:path';
import { InvalidInputError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import type { KojiClient } from './client.js';
import { adler32Combine } from './adler32.js';
import { KojiUploadError } from './errors.js';
import { createFileHasher, type ChunkDigest, type FileHasher } from './hasher.js';
import type { StreamedBody } from './transport.js';

export const DEFAULT_CHUNK_SIZE = 64 * 1024 * 1024;

/** Bytes read, hashed and written to the socket at a time. */
const PIECE_SIZE = 2 * 1024 * 1024;

/** Piece buffers per upload: the one being written, the others read and hashed ahead. */
const SLOTS = 6;

export interface UploadOptions {
  /** upload directory relative to the hub's work/ (Koji's `filepath`) */
  directory: string;
  /** file name on the hub; default the local basename */
  name?: string;
  /** bytes per request; default 64 MiB (Koji's own client: 1 MiB); fewer round trips, each waits for the hub's reply */
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
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > 1024 * 1024 * 1024) {
    throw new InvalidInputError('chunkSize', `must be an integer between 1 and 1073741824 (Apache's default LimitRequestBody), got ${chunkSize}`);
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
    const pieceSize = Math.min(PIECE_SIZE, chunkSize);
    hasher = createFileHasher(size, pieceSize, SLOTS);
    const h = hasher;
    const readExactly = async (buf: Buffer, pos: number, len: number): Promise<Buffer> => {
      const part = buf.subarray(0, len);
      for (let n = 0; n < len; ) {
        const { bytesRead } = await fh.read(part, n, len - n, pos + n);
        if (bytesRead === 0) throw new KojiUploadError(`${localPath} shrank to ${pos + n} bytes while uploading (was ${size})`);
        n += bytesRead;
      }
      return part;
    };
    /** The file's bytes [0, hashed) have gone into the sha256. */
    let hashed = 0;

    // What does the hub have already?
    let start = 0;
    if (options.resume ?? true) {
      const info = await client.call<Record<string, unknown> | null>('checkUpload', [directory, name, 'sha256']);
      const held = info ? Number(info.size) : 0;
      if (held > 0 && held <= size) {
        for (let pos = 0; pos < held; ) {
          const buf = await readExactly(h.buffers[0], pos, Math.min(pieceSize, held - pos));
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

    // Pieces of [start, size), in order, none across a chunk's end. Piece i is read into buffer
    // i % SLOTS once the piece before it there is released (in the socket, or not to be sent, and
    // hashed), and handed to the hasher after piece i - 1 (the file's sha256 takes them in order).
    interface Piece { pos: number; buf: Buffer; digest: ChunkDigest; release: () => void }
    const chunkEnd = (pos: number) => Math.min(size, start + (Math.floor((pos - start) / chunkSize) + 1) * chunkSize);
    const ahead: Promise<Piece>[] = [];
    const slotFree: Promise<void>[] = Array.from({ length: SLOTS }, () => Promise.resolve());
    let nextPos = start;
    let nextSlot = 0;
    let previous: Promise<unknown> = Promise.resolve();
    const readAhead = (): void => {
      while (ahead.length < SLOTS && nextPos < size) {
        const pos = nextPos;
        const len = Math.min(pieceSize, chunkEnd(pos) - pos);
        nextPos += len;
        const slot = nextSlot++ % SLOTS;
        const free = slotFree[slot];
        let releaseSlot!: () => void;
        slotFree[slot] = new Promise<void>((resolve) => (releaseSlot = resolve));
        const piece = Promise.all([previous, free]).then(async (): Promise<Piece> => {
          const buf = await readExactly(h.buffers[slot], pos, len);
          const digest = h.update(slot, len, Math.max(0, Math.min(len, hashed - pos)));
          hashed = Math.max(hashed, pos + len);
          return { pos, buf, digest, release: () => void digest.hashed.then(releaseSlot, releaseSlot) };
        });
        piece.catch(() => undefined); // awaited in turn; this only keeps an early failure from being unhandled
        previous = piece;
        ahead.push(piece);
      }
    };
    const takePiece = (): Promise<Piece> => {
      readAhead();
      const piece = ahead.shift()!;
      readAhead();
      return piece;
    };

    let bytesSent = 0;
    let chunks = 0;
    let chunkRetries = 0;
    let spare: Buffer | undefined;
    const sendChunk = async (pos: number, length: number): Promise<void> => {
      // The chunk's pieces, taken in order by the first try and then by `takeRest`: their adler32s make the chunk's.
      const digests: { adler32: Promise<number>; length: number }[] = [];
      let taken = 0;
      const take = async (): Promise<Piece> => {
        const piece = await takePiece();
        digests.push({ adler32: piece.digest.adler32, length: piece.buf.length });
        taken += piece.buf.length;
        return piece;
      };
      const takeRest = async (): Promise<number> => {
        while (taken < length) (await take()).release();
        let adler = 1;
        for (const d of digests) adler = adler32Combine(adler, await d.adler32, d.length);
        return adler;
      };
      async function* firstTry(): AsyncGenerator<Buffer> {
        while (taken < length) {
          const piece = await take();
          try {
            yield piece.buf;
          } finally {
            piece.release();
          }
        }
      }
      // Later tries read the chunk from the file again, into one buffer of their own.
      async function* again(): AsyncGenerator<Buffer> {
        spare ??= Buffer.alloc(pieceSize);
        for (let off = 0; off < length; ) {
          const part = await readExactly(spare, pos + off, Math.min(pieceSize, length - off));
          yield part;
          off += part.length;
        }
      }
      let tries = 0;
      const body: StreamedBody = { length, pieces: () => (tries++ === 0 ? firstTry() : again()) };
      let adler: number | undefined;
      for (let attempt = 0; ; attempt++) {
        if (options.signal?.aborted) throw options.signal.reason;
        const reply = await client.uploadChunk(
          { filename: name, filepath: directory, offset: String(pos), fileverify: 'adler32', ...(overwrite ? { overwrite: '1' } : {}) },
          body,
        );
        adler ??= await takeRest();
        const adler32 = adler.toString(16).padStart(8, '0');
        chunks++;
        bytesSent += length;
        if (Number(reply.size) === length && reply.hexdigest === adler32 && Number(reply.offset) === pos) return;
        const problem = `chunk at offset ${pos}: hub stored ${String(reply.size)} bytes at ${String(reply.offset)} with adler32 ${String(reply.hexdigest)}, sent ${length} bytes with adler32 ${adler32}`;
        if (attempt >= maxChunkRetries) {
          throw new KojiUploadError(`upload of ${directory}/${name}: ${problem}`, { details: { offset: pos, size: length, adler32, reply } });
        }
        chunkRetries++;
        log.warn({ offset: pos, attempt: attempt + 1 }, `re-sending ${problem}`);
      }
    };

    const count = size === start ? (size === 0 ? 1 : 0) : Math.ceil((size - start) / chunkSize);
    for (let i = 0; i < count; i++) {
      const pos = start + i * chunkSize;
      const length = Math.min(chunkSize, size - pos);
      await sendChunk(pos, length);
      options.onProgress?.({ name, offset: pos + length, size });
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
