/**
 * Hashes a file's chunks off the main thread. The main thread reads each chunk into one of a
 * few shared buffers and sends it to the hub from there; a worker thread hashes it meanwhile:
 * the chunk's adler32 (which the hub's reply is checked against) and the file's sha256 (what the
 * CG metadata gives Koji). adler32 runs as WebAssembly SIMD (0.3 ms per MiB) where available.
 * No md5: Koji takes sha256 for CG outputs, and md5 alone cost about a third of the uploader's
 * CPU (1.7 ms per MiB here).
 */
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { adler32Simd, adler32Update } from './adler32.js';
import { ADLER32_WASM } from './adler32-wasm.js';
import { KojiUploadError } from './errors.js';

/**
 * The workers' program, as CommonJS source: built from text so it runs the same from the
 * TypeScript sources (tests) and from dist/, and without a TypeScript loader in the worker,
 * which cost about 28 MB of RSS. workerData: the shared buffers, the whole-file hashes this
 * worker keeps, and whether it computes each chunk's adler32.
 */
const WORKER_SOURCE = `
const { createHash } = require('node:crypto');
const { parentPort, workerData } = require('node:worker_threads');
const adler32Update = (${adler32Update.toString()});
const simd = workerData.adler32 ? (${adler32Simd.toString()})(workerData.wasm) : undefined;
const slots = workerData.buffers.map((b) => Buffer.from(b));
const hashes = workerData.algorithms.map((a) => [a, createHash(a)]);
parentPort.on('message', (msg) => {
  if (msg.op === 'update') {
    const data = slots[msg.slot].subarray(0, msg.length);
    // Bytes before hashFrom were already fed to the file hashes (a restart after a resume check).
    const fresh = data.subarray(msg.hashFrom);
    for (const [, h] of hashes) h.update(fresh);
    let adler32;
    if (workerData.adler32) {
      let value;
      if (simd) {
        value = simd(1, data);
      } else {
        const state = [1, 0];
        adler32Update(state, data);
        value = ((state[1] << 16) | state[0]) >>> 0;
      }
      adler32 = value;
    }
    parentPort.postMessage({ id: msg.id, adler32 });
  } else if (msg.op === 'peek') {
    parentPort.postMessage({ id: msg.id, ...Object.fromEntries(hashes.map(([a, h]) => [a, h.copy().digest('hex')])) });
  } else {
    parentPort.postMessage({ id: msg.id, ...Object.fromEntries(hashes.map(([a, h]) => [a, h.digest('hex')])) });
  }
});
`;

/** One piece handed to the hasher: its own adler32 (from 1), and when the buffer may be reused. */
export interface ChunkDigest {
  adler32: Promise<number>;
  /** every hash has read the buffer */
  hashed: Promise<void>;
}

/** What an upload needs from a hasher: buffers to read chunks into, and the sums. */
export interface FileHasher {
  readonly buffers: Buffer[];
  /**
   * Hashes the first `length` bytes of buffer `slot`: their adler32, and bytes [hashFrom,
   * length) into the file's sha256. Calls must come in file order; the buffer must not
   * change until `hashed` resolves.
   */
  update(slot: number, length: number, hashFrom?: number): ChunkDigest;
  peekSha256(): Promise<string>;
  final(): Promise<{ sha256: string }>;
  close(): Promise<void>;
}

/**
 * Files up to this size are hashed on the calling thread: starting a worker thread costs more
 * CPU (measured ~30 ms, with a V8 isolate) than hashing 256 KiB (~1 ms). Logs and manifests are
 * far below it; images far above.
 */
export const INLINE_HASH_LIMIT = 256 * 1024;

/** The hasher for a file of `size` bytes sent in chunks of `chunkSize`, with `slots` buffers. */
export function createFileHasher(size: number, chunkSize: number, slots = 3): FileHasher {
  const bufferSize = Math.min(chunkSize, Math.max(size, 1));
  return size <= INLINE_HASH_LIMIT ? new InlineHasher(bufferSize, slots) : new ChunkHasher(bufferSize, slots);
}

class InlineHasher implements FileHasher {
  readonly buffers: Buffer[];
  readonly #sha256 = createHash('sha256');

  constructor(bufferSize: number, slots: number) {
    this.buffers = Array.from({ length: slots }, () => Buffer.alloc(bufferSize));
  }

  update(slot: number, length: number, hashFrom = 0): ChunkDigest {
    const data = this.buffers[slot].subarray(0, length);
    const fresh = data.subarray(hashFrom);
    this.#sha256.update(fresh);
    const state = [1, 0];
    adler32Update(state, data);
    return { adler32: Promise.resolve(((state[1] << 16) | state[0]) >>> 0), hashed: Promise.resolve() };
  }

  async peekSha256(): Promise<string> {
    return this.#sha256.copy().digest('hex');
  }

  async final(): Promise<{ sha256: string }> {
    return { sha256: this.#sha256.digest('hex') };
  }

  async close(): Promise<void> {}
}

/** One worker thread and its outstanding requests. */
class HashWorker {
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve: (v: Record<string, string | number>) => void; reject: (e: Error) => void }>();
  #next = 0;
  #failed?: Error;

  constructor(workerData: { buffers: SharedArrayBuffer[]; algorithms: string[]; adler32: boolean; wasm?: string }) {
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, workerData });
    this.#worker.on('message', (msg: { id: number } & Record<string, string | number>) => {
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

  ask(msg: Record<string, unknown>): Promise<Record<string, string | number>> {
    if (this.#failed) return Promise.reject(this.#failed);
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ ...msg, id });
    });
  }

  async close(): Promise<void> {
    this.#worker.removeAllListeners('exit');
    await this.#worker.terminate();
  }
}

export class ChunkHasher implements FileHasher {
  readonly buffers: Buffer[];
  readonly #adlerSha256: HashWorker;

  constructor(chunkSize: number, slots = 3) {
    const shared = Array.from({ length: slots }, () => new SharedArrayBuffer(chunkSize));
    this.buffers = shared.map((b) => Buffer.from(b));
    this.#adlerSha256 = new HashWorker({ buffers: shared, algorithms: ['sha256'], adler32: true, wasm: ADLER32_WASM });
  }

  update(slot: number, length: number, hashFrom = 0): ChunkDigest {
    const msg = { op: 'update', slot, length, hashFrom };
    const answer = this.#adlerSha256.ask(msg);
    const adler32 = answer.then((r) => r.adler32 as number);
    const hashed = answer.then(() => undefined);
    // Callers await what they need; a failure is seen there, never as an unhandled rejection.
    adler32.catch(() => undefined);
    hashed.catch(() => undefined);
    return { adler32, hashed };
  }

  /** sha256 of everything hashed so far. */
  async peekSha256(): Promise<string> {
    return String((await this.#adlerSha256.ask({ op: 'peek' })).sha256);
  }

  async final(): Promise<{ sha256: string }> {
    return { sha256: String((await this.#adlerSha256.ask({ op: 'final' })).sha256) };
  }

  async close(): Promise<void> {
    await this.#adlerSha256.close();
  }
}
