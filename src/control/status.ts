// What `handoff ctl status` shows: a plain-data snapshot of the master and
// every worker process, safe to send as JSON.

import type { DispatchHandle } from '../dispatch/handles.js';
import type { SlotSocketStatus } from '../dispatch/reuseport-handle.js';
import type { ListenerEntry } from '../dispatch/handle-table.js';
import { observedStatus, type ObservedParts, type ObservedStatus } from '../operations/metrics/status-counts.js';
import { VERSION } from '../version.js';
import type { BoundAddress } from '../dispatch/listener.js';
import type { Pool } from '../primary/pool.js';
import type { WorkerState } from '../primary/lifecycle.js';

export interface WorkerStatus {
  id: number;
  slot: number;
  pid: number;
  state: WorkerState;
  /** Since the worker became ready; 0 if it is not (yet). */
  uptimeMs: number;
  /** Unexpected exits replaced in this worker's slot. */
  restarts: number;
  /** Connections handed to it and accepted. */
  handed: number;
  /** Connections open in it, as it last reported. */
  active: number;
  /** Hand-offs sent and not yet acknowledged. */
  inFlight: number;
  /** HTTP requests served (reported with each heartbeat), and per second over the last second. */
  requests: number;
  requestsPerSecond: number;
  rssBytes: number;
  cpuPercent: number;
  /** Its event loop over the last heartbeat interval: percent of the time busy, and the p99 delay in ms; null before the first heartbeat. */
  eluPercent: number | null;
  loopDelayP99Ms: number | null;
}

/** Everything `handoff ctl status --json` prints; /metrics reads the same snapshot (operations/metrics/series.ts). */
export interface MasterStatus extends ObservedStatus {
  pid: number;
  version: string;
  node: string;
  address: BoundAddress;
  /** reuseport: the listening socket of each slot, and who accepts on it; absent with one socket. */
  slotSockets?: SlotSocketStatus[];
  scheduler: string;
  transport: string;
  uptimeMs: number;
  /** Configured number of workers. */
  workers: number;
  /** Workers taking connections now. */
  ready: number;
  /** False while the master has paused accepting (its queue is full). */
  accepting: boolean;
  /** Connections the master holds: queued or in flight to a worker. */
  heldConnections: number;
  reloading: boolean;
  /** `handoff ctl upgrade` is starting a new master to replace this one. */
  upgrading?: boolean;
  /** Graceful shutdown has begun: workers drain, and nothing can be changed any more. */
  closing: boolean;
  /** Not ready for traffic (/readyz 503): set from the first moment of a shutdown, or of its delay. */
  shuttingDown: boolean;
  /** Where --metrics serves /metrics; null without it. */
  metricsUrl: string | null;
  gaveUp: boolean;
  sharedStateBytes: number;
  /** The app's other TCP listen()s the master serves (dispatch/handle-table.ts): address, and how many workers listen there. */
  listeners?: ListenerStatus[];
  /** The app's UDP sockets, bound once by the master (udp/udp-sockets.ts): address, and how many workers hold each. */
  udp?: ListenerStatus[];
  /**
   * Workers are ready and none has a TCP server (an app that binds UDP only): nothing serves `address`,
   * and the master closes what it accepts there (primary/master/udp-only.ts).
   */
  noTcpServer?: boolean;
  processes: WorkerStatus[];
}

export interface ListenerStatus {
  id: number;
  address: BoundAddress;
  workers: number;
}

export function workerStatuses(pool: Pool, handle: DispatchHandle, now = Date.now()): WorkerStatus[] {
  return pool
    .workers()
    .sort((a, b) => a.slot - b.slot || a.id - b.id)
    .map((worker) => ({
      id: worker.id,
      slot: worker.slot,
      pid: worker.pid,
      state: worker.state,
      uptimeMs: worker.uptime(now),
      restarts: pool.slots[worker.slot]?.restarts ?? 0,
      handed: handle.handedTo(worker),
      active: worker.active,
      inFlight: handle.inFlightTo(worker),
      requests: worker.usage.requests,
      requestsPerSecond: Math.round(worker.usage.requestsPerSecond),
      rssBytes: worker.usage.rss,
      cpuPercent: Math.round(worker.usage.cpuPercent * 10) / 10,
      eluPercent: worker.usage.elu === null ? null : Math.round(worker.usage.elu * 1000) / 10,
      loopDelayP99Ms: worker.usage.loopDelayP99,
    }));
}

export interface StatusSource {
  address: BoundAddress;
  scheduler: string;
  transport: string;
  startedAt: number;
  pool: Pool;
  handle: DispatchHandle;
  /** Every listener, the master's own (id 0) first. */
  listeners?: readonly ListenerEntry[];
  udp?: ListenerStatus[];
  noTcpServer?: boolean;
  reloading: boolean;
  upgrading?: boolean;
  closing: boolean;
  shuttingDown: boolean;
  metricsUrl: string | undefined;
  sharedStateBytes: number;
  observed: Omit<ObservedParts, 'queued' | 'workers'>;
}

export function masterStatus(source: StatusSource): MasterStatus {
  const processes = workerStatuses(source.pool, source.handle);
  return {
    pid: process.pid,
    version: VERSION,
    node: process.version,
    address: source.address,
    ...(source.handle.status?.() ? { slotSockets: source.handle.status() } : {}),
    scheduler: source.scheduler,
    transport: source.transport,
    uptimeMs: Date.now() - source.startedAt,
    workers: source.pool.size,
    ready: processes.filter((worker) => worker.state === 'listening').length,
    accepting: source.handle.accepting,
    heldConnections: source.handle.held,
    reloading: source.reloading,
    upgrading: source.upgrading ?? false,
    closing: source.closing,
    shuttingDown: source.shuttingDown,
    metricsUrl: source.metricsUrl ?? null,
    gaveUp: source.pool.gaveUp,
    sharedStateBytes: source.sharedStateBytes,
    listeners: (source.listeners ?? []).filter((entry) => entry.id !== 0).map(({ id, address, workers }) => ({ id, address, workers: workers.size })),
    udp: source.udp ?? [],
    noTcpServer: source.noTcpServer ?? false,
    processes,
    ...observedStatus({ ...source.observed, queued: source.handle.queued, workers: source.pool.workers() }),
  };
}
