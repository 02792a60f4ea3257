/**
 * Hashes a file's chunks off the main thread. The main thread reads each chunk into one of a
 * few shared buffers, sends it to the hub from there and, at the same time, the worker
 * computes the chunk's adler32 and feeds the file's sha256 and md5. Measured on 2 cores with
 * the hub on the same machine (bench/koji-upload.ts): hashing on the main thread cost about
 * 4 ms per MiB on top of the 3 ms the socket write takes.
 */
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { adler32Update } from './adler32.js';
import { KojiUploadError } from './errors.js';

/**
 * The worker's program, as CommonJS source: built from text so it runs the same from the
 * TypeScript sources (tests) and from dist/, and without a TypeScript loader in the worker,
 * which cost about 28 MB of RSS.
 */
const WORKER_SOURCE = `
const { createHash } = require('node:crypto');
const { parentPort, workerData } = require('node:worker_threads');
const adler32Update = (${adler32Update.toString()});
const slots = workerData.buffers.map((b) => Buffer.from(b));
const sha256 = createHash('sha256');
const md5 = createHash('md5');
parentPort.on('message', (msg) => {
  if (msg.op === 'update') {
    const data = slots[msg.slot].subarray(0, msg.length);
    // Bytes before hashFrom were already fed to the file hashes (a restart after a resume check).
    const fresh = data.subarray(msg.hashFrom);
    sha256.update(fresh);
    md5.update(fresh);
    const state = [1, 0];
    adler32Update(state, data);
    parentPort.postMessage({ id: msg.id, adler32: (((state[1] << 16) | state[0]) >>> 0).toString(16).padStart(8, '0') });
  } else if (msg.op === 'peek') {
    parentPort.postMessage({ id: msg.id, sha256: sha256.copy().digest('hex') });
  } else {
    parentPort.postMessage({ id: msg.id, sha256: sha256.digest('hex'), md5: md5.digest('hex') });
  }
});
`;

function startWorker(workerData: unknown): Worker {
  return new Worker(WORKER_SOURCE, { eval: true, workerData });
}

/** What an upload needs from a hasher: buffers to read chunks into, and the sums. */
export interface FileHasher {
  readonly buffers: Buffer[];
  update(slot: number, length: number, hashFrom?: number): Promise<string>;
  peekSha256(): Promise<string>;
  final(): Promise<{ sha256: string; md5: string }>;
  close(): Promise<void>;
}

/**
 * Files up to this size are hashed on the calling thread: starting a worker thread costs more
 * CPU (measured ~30 ms, with a V8 isolate) than hashing 256 KiB (~1 ms). Logs and manifests are
 * far below it; images far above.
 */
export const INLINE_HASH_LIMIT = 256 * 1024;

/** The hasher for a file of `size` bytes sent in chunks of `chunkSize`. */
export function createFileHasher(size: number, chunkSize: number): FileHasher {
  const bufferSize = Math.min(chunkSize, Math.max(size, 1));
  return size <= INLINE_HASH_LIMIT ? new InlineHasher(bufferSize) : new ChunkHasher(bufferSize, 2);
}

class InlineHasher implements FileHasher {
  readonly buffers: Buffer[];
  readonly #sha256 = createHash('sha256');
  readonly #md5 = createHash('md5');

  constructor(bufferSize: number) {
    this.buffers = [Buffer.alloc(bufferSize), Buffer.alloc(bufferSize)];
  }

  async update(slot: number, length: number, hashFrom = 0): Promise<string> {
    const data = this.buffers[slot].subarray(0, length);
    const fresh = data.subarray(hashFrom);
    this.#sha256.update(fresh);
    this.#md5.update(fresh);
    const state = [1, 0];
    adler32Update(state, data);
    return (((state[1] << 16) | state[0]) >>> 0).toString(16).padStart(8, '0');
  }

  async peekSha256(): Promise<string> {
    return this.#sha256.copy().digest('hex');
  }

  async final(): Promise<{ sha256: string; md5: string }> {
    return { sha256: this.#sha256.digest('hex'), md5: this.#md5.digest('hex') };
  }

  async close(): Promise<void> {}
}

export class ChunkHasher implements FileHasher {
  readonly buffers: Buffer[];
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve: (v: Record<string, string>) => void; reject: (e: Error) => void }>();
  #next = 0;
  #failed?: Error;

  constructor(chunkSize: number, slots = 2) {
    const shared = Array.from({ length: slots }, () => new SharedArrayBuffer(chunkSize));
    this.buffers = shared.map((b) => Buffer.from(b));
    this.#worker = startWorker({ buffers: shared });
    this.#worker.on('message', (msg: { id: number } & Record<string, string>) => {
      const p = this.#pending.get(msg.id);
      this.#pending.delete(msg.id);
      p?.resolve(msg);
    });
    this.#worker.on('error', (err) => this.#fail(err));
    this.#worker.on('exit', (code) => this.#fail(new Error(`hash worker exited with code ${code}`)));
  }

  #fail(err: Error): void {
    this.#failed ??= new KojiUploadError(`hashing failed: ${err.message}`, { cause: err });
    for (const p of this.#pending.values()) p.reject(this.#failed);
    this.#pending.clear();
  }

  #ask(msg: Record<string, unknown>): Promise<Record<string, string>> {
    if (this.#failed) return Promise.reject(this.#failed);
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ ...msg, id });
    });
  }

  /**
   * Resolves with the adler32 of the first `length` bytes of buffer `slot`, and feeds bytes
   * [hashFrom, length) to the file's sha256 and md5. The buffer must not change until then.
   */
  async update(slot: number, length: number, hashFrom = 0): Promise<string> {
    return (await this.#ask({ op: 'update', slot, length, hashFrom })).adler32;
  }

  /** sha256 of everything hashed so far. */
  async peekSha256(): Promise<string> {
    return (await this.#ask({ op: 'peek' })).sha256;
  }

  async final(): Promise<{ sha256: string; md5: string }> {
    const r = await this.#ask({ op: 'final' });
    return { sha256: r.sha256, md5: r.md5 };
  }

  async close(): Promise<void> {
    this.#worker.removeAllListeners('exit');
    await this.#worker.terminate();
  }
}
