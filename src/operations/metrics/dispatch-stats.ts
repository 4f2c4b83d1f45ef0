// What the dispatcher counts for /metrics and `handoff ctl status`, beyond
// what it keeps itself (held, queued): plain numbers and the log buckets of
// handoff-latency.ts, because the dispatcher updates them once or
// twice per connection and a prom-client Counter.inc() or Histogram.observe()
// costs 0.3-0.5 µs each (measured here, against ~19 µs of master CPU per
// connection). prom-client reads them at scrape time (registry.ts); nothing
// here formats anything.
//
// The hand-off latency is the time from the master's accept to the worker's
// acknowledgement: the queue wait, the write on the pipe, the worker's turn
// of its event loop, and the acknowledgement's way back. A connection is
// stamped once as it is accepted; an acknowledgement batch (every connection
// a worker took in one turn) takes one clock reading.

import { HandoffLatency } from './handoff-latency.js';

/** Per worker slot: what happened to the connections sent to the workers that filled it. */
export interface SlotCounts {
  handed: number;
  refused: number;
  reclaimed: number;
}

/** What the dispatcher tells: one call per event, each a few additions. */
export interface DispatchObserver {
  accepted(): void;
  /** A worker of `slot` acknowledged a connection `tookMs` after the master accepted it. */
  handed(slot: number, tookMs: number): void;
  refused(slot: number): void;
  reclaimed(slot: number): void;
  /** A queued connection whose client had reset it was closed instead of sent. */
  goneWhileQueued(): void;
}

export class DispatchStats implements DispatchObserver {
  /** Connections the master accepted, and queued ones closed because their client had reset them. */
  readonly counts = { accepted: 0, goneWhileQueued: 0 };
  readonly slots: SlotCounts[] = [];
  readonly latency = new HandoffLatency();
  /** The sum of every hand-off's latency, in seconds: the recorder keeps buckets, a Prometheus histogram also wants the sum. */
  latencySumSeconds = 0;

  accepted(): void {
    this.counts.accepted++;
  }

  handed(slot: number, tookMs: number): void {
    this.#slot(slot).handed++;
    this.latency.record(tookMs * 1000);
    this.latencySumSeconds += tookMs / 1000;
  }

  goneWhileQueued(): void {
    this.counts.goneWhileQueued++;
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
