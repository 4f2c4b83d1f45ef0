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
// batch (a batch answers every connection a worker took in one turn); the
// time goes into dispatch/handoff-latency.ts's log buckets (16 per octave),
// which status publishes and /metrics folds into a Prometheus histogram.

import { HandoffLatency } from '../../dispatch/handoff-latency.js';

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
}

export class DispatchStats implements DispatchObserver {
  /** Connections the master accepted. */
  readonly counts = { accepted: 0 };
  readonly slots: SlotCounts[] = [];
  readonly latency = new HandoffLatency();
  /** The sum of every hand-off's latency, in seconds: a Prometheus histogram has one. */
  latencySumSeconds = 0;

  accepted(): number {
    this.counts.accepted++;
    return performance.now();
  }

  now(): number {
    return performance.now();
  }

  handed(slot: number, acceptedAt: number, now: number): void {
    this.#slot(slot).handed++;
    const ms = now - acceptedAt;
    this.latency.record(ms * 1000);
    this.latencySumSeconds += ms / 1000;
  }

  refused(slot: number): void {
    this.#slot(slot).refused++;
  }

  reclaimed(slot: number): void {
    this.#slot(slot).reclaimed++;
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
