/**
 * Adler-32 (zlib's, starting value 1), the checksum Koji's upload protocol uses per chunk.
 * Node has no binding for it. The loop below measured about 1 GB/s on one core; the
 * WebAssembly SIMD version (adler32.wat) about 3.4 GB/s with the machine busy, where the JS loop
 * did 450 MB/s. Uploads hash big files with the latter.
 */

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

export class Adler32 {
  readonly #state = [1, 0];

  update(buf: Uint8Array): this {
    adler32Update(this.#state, buf);
    return this;
  }

  value(): number {
    return ((this.#state[1] << 16) | this.#state[0]) >>> 0;
  }

  /** Koji's format: 8 lowercase hex digits. */
  hexdigest(): string {
    return this.value().toString(16).padStart(8, '0');
  }
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
