/** Seeded fault injection: which requests the dev hub answers badly, and how. */

export type FaultKind =
  /** an XML-RPC ServerOffline fault (1014, "database outage") before anything runs */
  | 'fault'
  /** HTTP 503 before anything runs */
  | 'http503'
  /** the connection is destroyed before anything runs */
  | 'reset'
  /** the request runs after `slowMs` */
  | 'slow'
  /** the request runs and commits, then the connection is destroyed instead of replying */
  | 'drop-reply'
  /** uploads only: one byte of the chunk is stored flipped (the reply describes what was stored) */
  | 'corrupt-chunk';

export interface FaultOptions {
  /** fraction of matching requests that get a fault, 0..1 */
  rate: number;
  seed?: number;
  /** default: fault, http503, reset, slow (the ones a correct client can always recover from) */
  kinds?: FaultKind[];
  slowMs?: number;
  /** only these methods; `upload` names raw upload POSTs. Default: every request. */
  methods?: string[];
  /** stop after this many injected faults */
  limit?: number;
}

/** mulberry32: small, seedable, good enough to spread faults. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class FaultInjector {
  readonly options: Required<Omit<FaultOptions, 'methods' | 'limit'>> & Pick<FaultOptions, 'methods' | 'limit'>;
  readonly #random: () => number;
  injected = 0;
  readonly byKind: Partial<Record<FaultKind, number>> = {};

  constructor(options: FaultOptions) {
    if (!(options.rate >= 0 && options.rate <= 1)) throw new RangeError(`faults.rate must be within 0..1, got ${options.rate}`);
    this.options = { seed: 1, kinds: ['fault', 'http503', 'reset', 'slow'], slowMs: 200, ...options };
    if (this.options.kinds.length === 0) throw new RangeError('faults.kinds must not be empty');
    this.#random = seededRandom(this.options.seed);
  }

  /** The fault for this request, if any. */
  pick(method: string): FaultKind | undefined {
    const { methods, rate, kinds, limit } = this.options;
    if (methods && !methods.includes(method)) return undefined;
    if (limit !== undefined && this.injected >= limit) return undefined;
    if (this.#random() >= rate) return undefined;
    const usable = kinds.filter((k) => k !== 'corrupt-chunk' || method === 'upload');
    if (usable.length === 0) return undefined;
    const kind = usable[Math.floor(this.#random() * usable.length)];
    this.injected++;
    this.byKind[kind] = (this.byKind[kind] ?? 0) + 1;
    return kind;
  }
}
