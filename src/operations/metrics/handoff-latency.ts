// How long a hand-off takes, as the master sees it: from the accept to
// reading the worker's "accepted", on the master's clock. It covers the wait
// in the master's queue, the write with the descriptor, the worker's event
// loop picking it up and the acknowledgement coming back; a connection that a
// worker refused and another took counts once, from its first accept.
//
// node:cluster has no such figure; bench/cluster-master.mjs measures the same
// span in cluster's primary (see docs/bench.md, "Hand-off cost").
//
// Cumulative counts in logarithmic buckets, 16 per power of two (any value
// known to within 4.4%), from 1 µs to far beyond any timeout: recording is
// one log2 and an increment. `handoff ctl status` reports the percentiles
// since the master started and the buckets themselves, so a reader can
// subtract two snapshots for the percentiles of an interval (`handoff ctl
// top` does, each second; so does the bench, around its measured runs).

const PER_OCTAVE = 16;
const BUCKETS = PER_OCTAVE * 40; // up to 2^40 µs

/** What `status` says of the hand-offs since the master started; times in µs. */
export interface HandoffLatencyStatus {
  /** Hand-offs accepted by a worker. */
  count: number;
  p50Us: number | null;
  p99Us: number | null;
  maxUs: number | null;
  /** [upper bound in µs, count], for the buckets that have any: cumulative, so two snapshots can be subtracted. */
  buckets: Array<[number, number]>;
}

/** The upper bound of bucket `index`, in µs, to 2 decimals. */
export const bucketBound = (index: number): number => Math.round(2 ** (index / PER_OCTAVE) * 100) / 100;

export function bucketIndex(us: number): number {
  return us <= 1 ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log2(us) * PER_OCTAVE));
}

export class HandoffLatency {
  readonly #counts = new Float64Array(BUCKETS);
  #count = 0;
  #max = 0;

  /** One hand-off that took `us` microseconds. */
  record(us: number): void {
    const index = bucketIndex(us);
    this.#counts[index] = (this.#counts[index] as number) + 1;
    this.#count++;
    if (us > this.#max) this.#max = us;
  }

  get count(): number {
    return this.#count;
  }

  status(): HandoffLatencyStatus {
    const buckets: Array<[number, number]> = [];
    for (let i = 0; i < BUCKETS; i++) {
      const n = this.#counts[i] as number;
      if (n > 0) buckets.push([bucketBound(i), n]);
    }
    const { p50, p99 } = percentiles(buckets);
    return { count: this.#count, p50Us: p50, p99Us: p99, maxUs: this.#count === 0 ? null : Math.round(this.#max), buckets };
  }
}

/**
 * p50 and p99 of [upper bound, count] buckets (each the upper bound of the
 * bucket it falls in); null without data.
 */
export function percentiles(buckets: ReadonlyArray<readonly [number, number]>): { count: number; p50: number | null; p99: number | null } {
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const count = sorted.reduce((sum, [, n]) => sum + n, 0);
  const at = (p: number): number | null => {
    if (count === 0) return null;
    const rank = Math.max(1, Math.ceil((p / 100) * count));
    let seen = 0;
    for (const [bound, n] of sorted) {
      seen += n;
      if (seen >= rank) return bound;
    }
    return (sorted.at(-1) as [number, number])[0];
  };
  return { count, p50: at(50), p99: at(99) };
}

/** later - earlier, bucket by bucket: the hand-offs between two snapshots. */
export function subtractBuckets(later: ReadonlyArray<readonly [number, number]>, earlier: ReadonlyArray<readonly [number, number]> = []): Array<[number, number]> {
  const before = new Map(earlier.map(([bound, n]) => [bound, n]));
  const out: Array<[number, number]> = [];
  for (const [bound, n] of later) {
    const d = n - (before.get(bound) ?? 0);
    if (d > 0) out.push([bound, d]);
  }
  return out;
}
