// The counters of the master as plain data for `handoff ctl status --json`,
// `handoff ctl top` and /metrics (series.ts reads exactly this).

import type { HandoffLatencyStatus } from './handoff-latency.js';
import type { AppMetrics, MissReason } from './app-metrics.js';
import type { DispatchStats } from './dispatch-stats.js';
import type { CountedWorker, RestartReason, WorkerTotals } from './worker-totals.js';

export interface SlotStatus {
  slot: number;
  /** Connections accepted by the workers that filled this slot. */
  handed: number;
  refused: number;
  reclaimed: number;
  /** HTTP requests served and CPU seconds used by every process that filled this slot. */
  requests: number;
  cpuSeconds: number;
}

export interface ObservedStatus {
  connections: {
    accepted: number;
    handed: number;
    refused: number;
    reclaimed: number;
    resetWhileQueued: number;
    /** Waiting in the master, not yet sent to a worker. */
    queued: number;
  };
  /** From each accept to the worker's acknowledgement, since the master started (µs; the buckets can be subtracted: see handoff-latency.ts). */
  handoffLatency: HandoffLatencyStatus;
  /** The sum of every hand-off's latency, for the Prometheus histogram's _sum. */
  handoffLatencySumSeconds: number;
  restarts: Record<RestartReason, number>;
  slots: SlotStatus[];
  /** null without --metrics. */
  appMetrics: { reporting: number; missed: Array<{ slot: number; reason: MissReason; count: number }> } | null;
}

export interface ObservedParts {
  stats: DispatchStats;
  totals: WorkerTotals;
  appMetrics: AppMetrics | undefined;
  queued: number;
  workers: Iterable<CountedWorker>;
}

export function observedStatus(parts: ObservedParts): ObservedStatus {
  const { stats, totals } = parts;
  totals.read(parts.workers);
  const slotTotals = totals.slots();
  const slots: SlotStatus[] = [];
  for (let slot = 0; slot < Math.max(stats.slots.length, slotTotals.length); slot++) {
    const counts = stats.slots[slot];
    const done = slotTotals[slot];
    if (counts === undefined && done === undefined) continue;
    slots.push({
      slot,
      handed: counts?.handed ?? 0,
      refused: counts?.refused ?? 0,
      reclaimed: counts?.reclaimed ?? 0,
      requests: done?.requests ?? 0,
      cpuSeconds: Math.round((done?.cpuSeconds ?? 0) * 1000) / 1000,
    });
  }
  return {
    connections: { accepted: stats.counts.accepted, ...stats.totals(), resetWhileQueued: stats.counts.goneWhileQueued, queued: parts.queued },
    handoffLatency: stats.latency.status(),
    handoffLatencySumSeconds: stats.latencySumSeconds,
    restarts: { ...totals.restarts },
    slots,
    appMetrics: parts.appMetrics === undefined ? null : { reporting: parts.appMetrics.reporting, missed: [...parts.appMetrics.misses.values()].map((miss) => ({ ...miss })) },
  };
}
