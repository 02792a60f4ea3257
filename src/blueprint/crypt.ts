/**
 * SHA-512 crypt ($6$, Ulrich Drepper's "Unix crypt using SHA-256 and SHA-512", as glibc's
 * crypt(3)): plain-text passwords of a blueprint are hashed before they reach a manifest, as
 * osbuild/images does, so no clear password is stored in Kiln's database or the image.
 */
import { createHash, randomBytes } from 'node:crypto';

const ALPHABET = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const DEFAULT_ROUNDS = 5000;

/** Hashes that crypt(3) and the users stage take as they are. */
export function isCrypted(password: string): boolean {
  return /^\$(6|5|2b|2a|2y|y|gy|7)\$/.test(password);
}

function sha512(...parts: Buffer[]): Buffer {
  const h = createHash('sha512');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** `len` bytes of `digest` repeated (the P and S sequences of the algorithm). */
function repeat(digest: Buffer, len: number): Buffer {
  const out = Buffer.alloc(len);
  for (let i = 0; i < len; i += digest.length) digest.copy(out, i, 0, Math.min(digest.length, len - i));
  return out;
}

/** The 64-character base64 of crypt, 3 bytes at a time in the algorithm's byte order. */
function encode(final: Buffer): string {
  const order = [
    [0, 21, 42], [22, 43, 1], [44, 2, 23], [3, 24, 45], [25, 46, 4], [47, 5, 26], [6, 27, 48], [28, 49, 7],
    [50, 8, 29], [9, 30, 51], [31, 52, 10], [53, 11, 32], [12, 33, 54], [34, 55, 13], [56, 14, 35], [15, 36, 57],
    [37, 58, 16], [59, 17, 38], [18, 39, 60], [40, 61, 19], [62, 20, 41],
  ];
  let out = '';
  const b64 = (w: number, n: number) => {
    for (let i = 0; i < n; i++, w >>= 6) out += ALPHABET[w & 0x3f];
  };
  for (const [a, b, c] of order) b64((final[a] << 16) | (final[b] << 8) | final[c], 4);
  b64(final[63], 2);
  return out;
}

export function sha512Crypt(password: string, salt: string, rounds = DEFAULT_ROUNDS): string {
  const key = Buffer.from(password, 'utf8');
  const saltBytes = Buffer.from(salt.slice(0, 16), 'utf8');
  const r = Math.min(999_999_999, Math.max(1000, rounds));

  const b = sha512(key, saltBytes, key);
  const a = createHash('sha512').update(key).update(saltBytes).update(repeat(b, key.length));
  for (let n = key.length; n > 0; n >>= 1) a.update(n & 1 ? b : key);
  let digest = a.digest();

  const dp = (() => {
    const h = createHash('sha512');
    for (let i = 0; i < key.length; i++) h.update(key);
    return h.digest();
  })();
  const p = repeat(dp, key.length);
  const ds = (() => {
    const h = createHash('sha512');
    for (let i = 0; i < 16 + digest[0]; i++) h.update(saltBytes);
    return h.digest();
  })();
  const s = repeat(ds, saltBytes.length);

  for (let i = 0; i < r; i++) {
    const h = createHash('sha512');
    h.update(i & 1 ? p : digest);
    if (i % 3) h.update(s);
    if (i % 7) h.update(p);
    h.update(i & 1 ? digest : p);
    digest = h.digest();
  }
  const prefix = rounds === DEFAULT_ROUNDS ? `$6$${salt.slice(0, 16)}` : `$6$rounds=${r}$${salt.slice(0, 16)}`;
  return `${prefix}$${encode(digest)}`;
}

/** A salt of crypt's alphabet from 16 random bytes. */
export function saltOf(bytes: Uint8Array): string {
  let s = '';
  for (const x of bytes.subarray(0, 16)) s += ALPHABET[x & 0x3f];
  return s;
}

/** 16 characters from crypt's alphabet, from the system's random source. */
export function randomSalt(): string {
  return saltOf(randomBytes(16));
}

/** A password as the users stage takes it: crypted ones as they are, plain ones hashed. */
export function cryptPassword(password: string, salt = randomSalt()): string {
  return isCrypted(password) ? password : sha512Crypt(password, salt);
}
