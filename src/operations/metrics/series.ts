// handoff's own series, one table: name, type, meaning, and how each value is
// read from the master's status -- the same snapshot `handoff ctl status
// --json` prints, taken once per scrape, so the two always agree.
// docs/metrics.md lists the same table; test/metrics-units.test.ts keeps the
// two in step.
//
// prom-client writes the exposition format: every series here becomes a
// metric object that prom-client's Registry formats (the way
// AggregatorRegistry registers the metrics it aggregates).

import type { MasterStatus, WorkerStatus } from '../../control/status.js';
import { RESTART_REASONS } from './worker-totals.js';

export type SeriesType = 'counter' | 'gauge' | 'histogram';

export interface Sample {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

export interface Series {
  readonly name: string;
  readonly type: SeriesType;
  readonly help: string;
  readonly labels: readonly string[];
  read(status: MasterStatus): Sample[];
}

const listenerOf = (status: MasterStatus): string => {
  const { address, port } = status.address;
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
};

/** A series with one sample, for the listener. */
function onListener(name: string, type: SeriesType, help: string, read: (status: MasterStatus) => number): Series {
  return { name, type, help, labels: ['listener'], read: (s) => [{ value: read(s), labels: { listener: listenerOf(s) } }] };
}

/** A counter of the connections sent to each slot's workers: one sample per slot that has had any. */
function perSlotCounter(name: string, help: string, key: 'handed' | 'refused' | 'reclaimed'): Series {
  return {
    name,
    type: 'counter',
    help,
    labels: ['listener', 'slot'],
    read: (s) => {
      const listener = listenerOf(s);
      return s.slots.map((slot) => ({ value: slot[key], labels: { listener, slot: slot.slot } }));
    },
  };
}

/**
 * One sample per slot from the live processes in it. During a rotation two
 * processes share a slot (the new one and the one draining): `combine` says
 * how (their memory adds up; the event-loop figures are the worse of the two).
 */
function perWorkerSlot(status: MasterStatus, read: (worker: WorkerStatus) => number | null, combine: 'sum' | 'max'): Sample[] {
  const bySlot = new Map<number, number>();
  for (const worker of status.processes) {
    if (worker.state === 'dead') continue;
    const value = read(worker);
    if (value === null) continue;
    const before = bySlot.get(worker.slot);
    bySlot.set(worker.slot, before === undefined ? value : combine === 'sum' ? before + value : Math.max(before, value));
  }
  return [...bySlot].sort(([a], [b]) => a - b).map(([slot, value]) => ({ value, labels: { slot } }));
}

const flag = (value: boolean): number => (value ? 1 : 0);

/**
 * The hand-off latency's Prometheus buckets: powers of two from 64 µs to
 * about 2.1 s. The recorder's buckets are 16 per power of two, so every one
 * of these bounds is one of its bounds, and each cumulative count is exact.
 */
const LATENCY_BOUNDS_US = Array.from({ length: 16 }, (_, k) => 64 * 2 ** k);

/** [le in seconds, or +Inf; cumulative count] from the recorder's [upper bound in µs, count] buckets. */
export function prometheusBuckets(buckets: ReadonlyArray<readonly [number, number]>): Array<[number | '+Inf', number]> {
  const out: Array<[number | '+Inf', number]> = LATENCY_BOUNDS_US.map((bound) => [bound / 1e6, buckets.reduce((sum, [us, n]) => (us <= bound ? sum + n : sum), 0)]);
  out.push(['+Inf', buckets.reduce((sum, [, n]) => sum + n, 0)]);
  return out;
}

export const SERIES: readonly Series[] = [
  {
    name: 'handoff_info',
    type: 'gauge',
    help: 'Always 1; the labels say which handoff, Node.js, scheduler and transport run.',
    labels: ['version', 'node', 'scheduler', 'transport'],
    read: (s) => [{ value: 1, labels: { version: s.version, node: s.node, scheduler: s.scheduler, transport: s.transport } }],
  },
  {
    name: 'handoff_ready',
    type: 'gauge',
    help: '1 while /readyz answers 200: a worker takes connections and no shutdown has begun.',
    labels: [],
    read: (s) => [{ value: flag(s.ready > 0 && !s.shuttingDown), labels: {} }],
  },
  {
    name: 'handoff_shutting_down',
    type: 'gauge',
    help: '1 from the first moment of a shutdown (or of its delay).',
    labels: [],
    read: (s) => [{ value: flag(s.shuttingDown), labels: {} }],
  },
  {
    name: 'handoff_workers_desired',
    type: 'gauge',
    help: 'Worker processes the master is configured to keep (--workers, scale).',
    labels: [],
    read: (s) => [{ value: s.workers, labels: {} }],
  },
  {
    name: 'handoff_workers',
    type: 'gauge',
    help: 'Live worker processes by lifecycle state (a rotation briefly has one more).',
    labels: ['state'],
    read: (s) =>
      (['starting', 'online', 'listening', 'closing'] as const).map((state) => ({ value: s.processes.filter((w) => w.state === state).length, labels: { state } })),
  },
  onListener('handoff_connections_accepted_total', 'counter', 'Connections the master accepted on the listener (rr family; the shared scheduler accepts in the workers).', (s) => s.connections.accepted),
  perSlotCounter('handoff_connections_handed_total', 'Connections a worker in the slot acknowledged: its own from then on.', 'handed'),
  perSlotCounter('handoff_connections_refused_total', 'Connections a worker in the slot refused (closing, or at server.maxConnections); each went to another worker.', 'refused'),
  perSlotCounter('handoff_connections_reclaimed_total', 'Connections in flight to a worker in the slot that died or could not be written to; each was re-dispatched.', 'reclaimed'),
  onListener('handoff_connections_reset_while_queued_total', 'counter', 'Queued connections whose client reset them before a worker could take them; closed by the master.', (s) => s.connections.resetWhileQueued),
  onListener('handoff_queue_depth', 'gauge', 'Connections waiting in the master for a worker (not yet sent).', (s) => s.connections.queued),
  onListener('handoff_held_connections', 'gauge', 'Connections the master holds: queued, or sent and not yet acknowledged (bounded by --max-pending).', (s) => s.heldConnections),
  onListener('handoff_accepting_paused', 'gauge', '1 while the master has stopped accepting because it holds --max-pending connections.', (s) => flag(!s.accepting)),
  {
    name: 'handoff_handoff_latency_seconds',
    type: 'histogram',
    help: "Time from the master's accept to the worker's acknowledgement.",
    labels: ['listener'],
    read: (s) => {
      const listener = listenerOf(s);
      const name = 'handoff_handoff_latency_seconds';
      return [
        ...prometheusBuckets(s.handoffLatency.buckets).map(([le, count]) => ({ value: count, labels: { listener, le }, metricName: `${name}_bucket` })),
        { value: s.handoffLatencySumSeconds, labels: { listener }, metricName: `${name}_sum` },
        { value: s.handoffLatency.count, labels: { listener }, metricName: `${name}_count` },
      ];
    },
  },
  {
    name: 'handoff_worker_restarts_total',
    type: 'counter',
    help: 'Worker processes that ended and were replaced (or removed, for scale), by reason.',
    labels: ['reason'],
    read: (s) => RESTART_REASONS.map((reason) => ({ value: s.restarts[reason], labels: { reason } })),
  },
  {
    name: 'handoff_worker_requests_total',
    type: 'counter',
    help: 'HTTP requests served by the workers that filled the slot (reported with each heartbeat).',
    labels: ['slot'],
    read: (s) => s.slots.map((slot) => ({ value: slot.requests, labels: { slot: slot.slot } })),
  },
  {
    name: 'handoff_worker_cpu_seconds_total',
    type: 'counter',
    help: 'CPU time (user + system) used by the workers that filled the slot (sampled every second).',
    labels: ['slot'],
    read: (s) => s.slots.map((slot) => ({ value: slot.cpuSeconds, labels: { slot: slot.slot } })),
  },
  {
    name: 'handoff_worker_resident_memory_bytes',
    type: 'gauge',
    help: 'Resident set size of the live workers in the slot.',
    labels: ['slot'],
    read: (s) => perWorkerSlot(s, (w) => w.rssBytes, 'sum'),
  },
  {
    name: 'handoff_worker_open_connections',
    type: 'gauge',
    help: 'Connections open in the live workers of the slot, as they last reported.',
    labels: ['slot'],
    read: (s) => perWorkerSlot(s, (w) => w.active, 'sum'),
  },
  {
    name: 'handoff_worker_event_loop_delay_seconds',
    type: 'gauge',
    help: "p99 event-loop delay of the slot's worker over its last heartbeat interval (absent until workers report it).",
    labels: ['slot'],
    read: (s) => perWorkerSlot(s, (w) => (w.loopDelayP99Ms === null ? null : w.loopDelayP99Ms / 1000), 'max'),
  },
  {
    name: 'handoff_worker_event_loop_utilization_ratio',
    type: 'gauge',
    help: "Event-loop utilisation (0..1) of the slot's worker over its last heartbeat interval (absent until workers report it).",
    labels: ['slot'],
    read: (s) => perWorkerSlot(s, (w) => (w.eluPercent === null ? null : w.eluPercent / 100), 'max'),
  },
  {
    name: 'handoff_app_metrics_missed_total',
    type: 'counter',
    help: "Scrapes in which a worker's app metrics were missing: it did not answer within the time limit, or its registry threw.",
    labels: ['slot', 'reason'],
    read: (s) => (s.appMetrics?.missed ?? []).map((miss) => ({ value: miss.count, labels: { slot: miss.slot, reason: miss.reason } })),
  },
  {
    name: 'handoff_app_metrics_workers',
    type: 'gauge',
    help: 'Workers whose prom-client registry answered the last collection.',
    labels: [],
    read: (s) => (s.appMetrics === null ? [] : [{ value: s.appMetrics.reporting, labels: {} }]),
  },
];
