/**
 * Identifiers of a disk's table, partitions and file systems: random per image build, or
 * reproducible from the request's seed (as image-builder's and koji-image-builder's `seed`).
 * Values the definition fixes are kept.
 *
 * The stream is SHA-256 in counter mode over the seed, so the same seed gives the same
 * identifiers on every host and Kiln version that walks the table the same way. (osbuild/images
 * feeds its seed to Go's math/rand; Kiln does not copy that generator, so a seed gives other
 * values than image-builder's, reproducibly.)
 */
import { createHash, randomBytes } from 'node:crypto';
import type { PartitionTable, Payload } from './model.js';

export class SeededRandom {
  #seed: string;
  #counter = 0;
  #buffer = Buffer.alloc(0);

  constructor(seed: bigint | number | string) {
    this.#seed = String(seed);
  }

  bytes(n: number): Buffer {
    while (this.#buffer.length < n) {
      const block = createHash('sha256').update(`kiln-seed:${this.#seed}:${this.#counter++}`).digest();
      this.#buffer = Buffer.concat([this.#buffer, block]);
    }
    const out = this.#buffer.subarray(0, n);
    this.#buffer = this.#buffer.subarray(n);
    return Buffer.from(out);
  }

  uuid(): string {
    const b = this.bytes(16);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = b.toString('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  /** A FAT volume id, XXXX-XXXX. */
  volumeId(): string {
    const h = this.bytes(4).toString('hex').toUpperCase();
    return `${h.slice(0, 4)}-${h.slice(4)}`;
  }

  /** A DOS disk identifier, 0x and 8 hex digits. */
  dosDiskId(): string {
    return `0x${this.bytes(4).toString('hex')}`;
  }
}

/** A seed for an image build that did not ask for one: a random signed 63-bit integer, as upstream draws. */
export function randomSeed(): string {
  return (randomBytes(8).readBigUInt64BE() >> 1n).toString();
}

/**
 * Fills in every identifier the table leaves open, walking it depth first (table, then each
 * partition's payload tree), then GPT partition UUIDs in partition order.
 */
export function assignIds(pt: PartitionTable, rng: SeededRandom): void {
  if (!pt.uuid) pt.uuid = pt.type === 'gpt' ? rng.uuid().toUpperCase() : rng.dosDiskId();
  const visit = (payload: Payload | undefined) => {
    switch (payload?.kind) {
      case 'filesystem':
        payload.uuid ??= payload.type === 'vfat' ? rng.volumeId() : rng.uuid();
        break;
      case 'swap':
      case 'btrfs':
        payload.uuid ??= rng.uuid();
        break;
      case 'luks':
        payload.uuid ??= rng.uuid();
        visit(payload.payload);
        break;
      case 'lvm':
        for (const lv of payload.logicalVolumes) visit(lv.payload);
        break;
      default:
        break;
    }
  };
  for (const p of pt.partitions) visit(p.payload);
  if (pt.type === 'gpt') for (const p of pt.partitions) p.uuid ??= rng.uuid();
}
