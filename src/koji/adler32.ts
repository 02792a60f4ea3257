/**
 * Adler-32 (zlib's, starting value 1), the checksum Koji's upload protocol uses per chunk.
 * Node has no binding for it. The loop below measured about 1 GB/s on one core; the
 * WebAssembly SIMD version (adler32.wat) about 3.4 GB/s with the machine busy, where the JS loop
 * did 450 MB/s. Uploads hash big files with the latter.
 */
import { ADLER32_WASM } from './adler32-wasm.js';

/**
 * Feeds `buf` into the running sums `state` ([a, b]). Self-contained (no outside names) so the
 * hash worker can be built from its source text.
 */
export function adler32Update(state: number[], buf: Uint8Array): void {
  const MOD = 65521;
  // Block length that keeps b below 2^30 so V8 keeps a and b as small integers (zlib uses 5552).
  const NMAX = 2048;
  let a = state[0];
  let b = state[1];
  let i = 0;
  const len = buf.length;
  while (i < len) {
    const end = Math.min(i + NMAX, len);
    const end16 = end - ((end - i) & 15);
    while (i < end16) {
      a += buf[i]; b += a; a += buf[i + 1]; b += a; a += buf[i + 2]; b += a; a += buf[i + 3]; b += a;
      a += buf[i + 4]; b += a; a += buf[i + 5]; b += a; a += buf[i + 6]; b += a; a += buf[i + 7]; b += a;
      a += buf[i + 8]; b += a; a += buf[i + 9]; b += a; a += buf[i + 10]; b += a; a += buf[i + 11]; b += a;
      a += buf[i + 12]; b += a; a += buf[i + 13]; b += a; a += buf[i + 14]; b += a; a += buf[i + 15]; b += a;
      i += 16;
    }
    while (i < end) {
      a += buf[i++];
      b += a;
    }
    a %= MOD;
    b %= MOD;
  }
  state[0] = a;
  state[1] = b;
}

let simd: ((adler: number, buf: Uint8Array) => number) | undefined | null = null;

/**
 * A running Adler-32, with WebAssembly SIMD where available (the dev hub checks every upload
 * chunk with it: at the JS loop's speed its per-byte cost was twice the real hub's C zlib.adler32).
 */
export class Adler32 {
  #value = 1;

  update(buf: Uint8Array): this {
    if (simd === null) simd = adler32Simd(ADLER32_WASM);
    if (simd) {
      this.#value = simd(this.#value, buf);
    } else {
      const state = [this.#value & 0xffff, this.#value >>> 16];
      adler32Update(state, buf);
      this.#value = ((state[1] << 16) | state[0]) >>> 0;
    }
    return this;
  }

  value(): number {
    return this.#value;
  }

  /** Koji's format: 8 lowercase hex digits. */
  hexdigest(): string {
    return this.#value.toString(16).padStart(8, '0');
  }
}

/** zlib's adler32_combine: the Adler-32 of A followed by B from theirs and B's length. */
export function adler32Combine(adler1: number, adler2: number, length2: number): number {
  const BASE = 65521;
  const rem = length2 % BASE;
  let sum1 = adler1 & 0xffff;
  let sum2 = (rem * sum1) % BASE;
  sum1 += (adler2 & 0xffff) + BASE - 1;
  sum2 += (adler1 >>> 16) + (adler2 >>> 16) + BASE - rem;
  if (sum1 >= BASE) sum1 -= BASE;
  if (sum1 >= BASE) sum1 -= BASE;
  if (sum2 >= 2 * BASE) sum2 -= 2 * BASE;
  if (sum2 >= BASE) sum2 -= BASE;
  return ((sum2 << 16) | sum1) >>> 0;
}

export function adler32Hex(buf: Uint8Array): string {
  return new Adler32().update(buf).hexdigest();
}

/**
 * An Adler-32 continuation `(adler, buf) => adler` running `wasmBase64` (adler32.wat, see
 * adler32-wasm.ts), or undefined where WebAssembly SIMD is not available. Self-contained (no
 * outside names) so the hash worker can be built from its source text; the bytes are copied
 * into the module's memory a MiB at a time.
 */
export function adler32Simd(wasmBase64: string): ((adler: number, buf: Uint8Array) => number) | undefined {
  let exports: { memory: { buffer: ArrayBuffer }; adler32: (len: number, adler: number) => number };
  try {
    exports = new WebAssembly.Instance(new WebAssembly.Module(Buffer.from(wasmBase64, 'base64'))).exports as unknown as typeof exports;
  } catch {
    return undefined;
  }
  const memory = new Uint8Array(exports.memory.buffer);
  const windowSize = 1 << 20;
  return (adler: number, buf: Uint8Array): number => {
    for (let offset = 0; offset < buf.length; offset += windowSize) {
      const part = buf.subarray(offset, offset + windowSize);
      memory.set(part);
      adler = exports.adler32(part.length, adler) >>> 0;
    }
    return adler;
  };
}
