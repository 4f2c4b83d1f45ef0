// What the dispatcher counts, for /metrics and `handoff ctl status`: plain
// numbers and an array of bucket counts, because the dispatcher updates them
// once or twice per connection and a prom-client Counter.inc() or
// Histogram.observe() costs 0.3-0.5 µs each (measured here, against ~19 µs of
// master CPU per connection). prom-client reads them at scrape time
// (handoff-metrics.ts); nothing here formats anything.
//
// The hand-off latency is the time from the master's accept to the worker's
// acknowledgement: the queue wait, the write on the pipe, the worker's turn of
// its event loop, and the acknowledgement's way back. The dispatcher stamps a
// connection once at accept and takes one clock reading per acknowledgement
// batch (a batch answers every connection a worker took in one turn).

/** Upper bounds of the latency buckets, in seconds: 50 µs to 2.5 s. */
export const LATENCY_BUCKETS: readonly number[] = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** A histogram of fixed buckets: counts per bucket (not cumulative), the last one for "above every bound". */
export class LatencyHistogram {
  readonly bounds: readonly number[];
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[] = LATENCY_BUCKETS) {
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(seconds: number): void {
    const bounds = this.bounds;
    let bucket = 0;
    while (bucket < bounds.length && seconds > (bounds[bucket] as number)) bucket++;
    (this.counts[bucket] as number)++;
    this.sum += seconds;
    this.count++;
  }

  /** The value below which `q` (0..1) of the observations fall, as the upper bound of its bucket (Infinity past the last). */
  quantile(q: number): number | undefined {
    if (this.count === 0) return undefined;
    const rank = q * this.count;
    let seen = 0;
    for (let bucket = 0; bucket < this.counts.length; bucket++) {
      seen += this.counts[bucket] as number;
      if (seen >= rank) return this.bounds[bucket] ?? Infinity;
    }
    return Infinity;
  }
}

/** Per worker slot: what happened to the connections sent to the workers that filled it. */
export interface SlotCounts {
  handed: number;
  refused: number;
  reclaimed: number;
}

/** What the dispatcher tells: one call per event, each a few additions. */
export interface DispatchObserver {
  /** Stamp for a connection accepted now (performance.now()). */
  accepted(): number;
  /** A batch of acknowledgements arrived: the clock reading to measure them against. */
  now(): number;
  handed(slot: number, acceptedAt: number, now: number): void;
  refused(slot: number): void;
  reclaimed(slot: number): void;
  /** A queued connection whose client had reset it was closed instead of sent. */
  resetWhileQueued(): void;
}

export class DispatchStats implements DispatchObserver {
  /** Connections the master accepted, and queued ones closed because their client had reset them. */
  readonly counts = { accepted: 0, resetWhileQueued: 0 };
  readonly slots: SlotCounts[] = [];
  readonly latency = new LatencyHistogram();

  accepted(): number {
    this.counts.accepted++;
    return performance.now();
  }

  now(): number {
    return performance.now();
  }

  handed(slot: number, acceptedAt: number, now: number): void {
    this.#slot(slot).handed++;
    this.latency.observe((now - acceptedAt) / 1000);
  }

  refused(slot: number): void {
    this.#slot(slot).refused++;
  }

  reclaimed(slot: number): void {
    this.#slot(slot).reclaimed++;
  }

  resetWhileQueued(): void {
    this.counts.resetWhileQueued++;
  }

  #slot(slot: number): SlotCounts {
    return (this.slots[slot] ??= { handed: 0, refused: 0, reclaimed: 0 });
  }

  /** Totals over every slot. */
  totals(): SlotCounts {
    const total: SlotCounts = { handed: 0, refused: 0, reclaimed: 0 };
    for (const slot of this.slots) {
      if (slot === undefined) continue;
      total.handed += slot.handed;
      total.refused += slot.refused;
      total.reclaimed += slot.reclaimed;
    }
    return total;
  }
}
