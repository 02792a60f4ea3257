import test from 'ava';
import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { adler32Simd, adler32Update } from '../src/koji/adler32.js';
import { ADLER32_WASM } from '../src/koji/adler32-wasm.js';
import { OUT, generate } from '../scripts/gen-adler32-wasm.js';

const reference = (adler: number, buf: Uint8Array) => {
  const state = [adler & 0xffff, adler >>> 16];
  adler32Update(state, buf);
  return ((state[1] << 16) | state[0]) >>> 0;
};

test('src/koji/adler32-wasm.ts is adler32.wat assembled (npx tsx scripts/gen-adler32-wasm.ts)', (t) => {
  t.is(readFileSync(OUT, 'utf8'), generate());
});

test('the SIMD adler32 equals the reference on any bytes, lengths and starting values', (t) => {
  const simd = adler32Simd(ADLER32_WASM);
  if (!simd) return t.fail('WebAssembly SIMD is not available here');
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 20_000 }), fc.integer({ min: 0, max: 65520 }), fc.integer({ min: 0, max: 65520 }), (bytes, a, b) => {
      const start = ((b << 16) | a) >>> 0;
      return simd(start, bytes) === reference(start, bytes);
    }),
    { numRuns: 300 },
  );
  // the largest sums: all bytes 0xff, across the 256-vector blocks and the 1 MiB window
  for (const length of [4095, 4096, 4097, (1 << 20) - 1, 1 << 20, (1 << 20) + 17, 3 * (1 << 20) + 5]) {
    const ones = new Uint8Array(length).fill(0xff);
    t.is(simd(0xffeffff0 >>> 0, ones), reference(0xffeffff0 >>> 0, ones), `0xff x ${length}`);
    t.is(simd(1, ones), reference(1, ones), `0xff x ${length} from 1`);
  }
});
