// Counts about workers that outlive the workers: restarts by reason, and,
// per slot, the requests served and the CPU time used by every process that
// has filled the slot. A worker reports its requests (heartbeat) and the
// health monitor reads its CPU time (/proc) as running totals of that one
// process; a replacement starts again from zero. Prometheus needs counters
// that only go up, so each new reading adds its increase over the last one
// to the slot's total, and a worker's last reading stays counted after it exits.

import type { RetireReason } from '../../primary/retire.js';

/** Why a worker process ended and its slot was refilled or removed. */
export type RestartReason = 'crash' | 'suicide' | 'heartbeat' | 'memory' | 'lifetime' | 'reload' | 'scale' | 'disconnect';
export const RESTART_REASONS: readonly RestartReason[] = ['crash', 'suicide', 'heartbeat', 'memory', 'lifetime', 'reload', 'scale', 'disconnect'];

const byRetireReason: Readonly<Record<RetireReason, RestartReason | undefined>> = {
  suicide: 'suicide',
  silent: 'heartbeat',
  reload: 'reload',
  'scale-down': 'scale',
  'max-memory': 'memory',
  'max-lifetime': 'lifetime',
  /** The app called cluster.worker.disconnect(). */
  disconnect: 'disconnect',
  shutdown: undefined,
};

/** What the totals read from the master's record of a worker. */
export interface CountedWorker {
  readonly id: number;
  readonly slot: number;
  /** Why the master retired it (primary/retire.ts); undefined if it exited by itself (a crash). */
  readonly retiredFor: RetireReason | undefined;
  /** Its requests served (heartbeat) and CPU time so far (ms, /proc), as last known. */
  readonly usage: { readonly requests: number; readonly cpuMs: number | undefined };
}

/** Why `worker` ended; undefined when it was not a restart (the master is shutting down). */
export function restartReason(worker: CountedWorker, shuttingDown: boolean): RestartReason | undefined {
  if (shuttingDown) return undefined;
  return worker.retiredFor === undefined ? 'crash' : byRetireReason[worker.retiredFor];
}

export interface SlotTotals {
  requests: number;
  cpuSeconds: number;
}

export class WorkerTotals {
  readonly restarts = Object.fromEntries(RESTART_REASONS.map((reason) => [reason, 0])) as Record<RestartReason, number>;
  readonly #slots: SlotTotals[] = [];
  /** The last reading taken of each live worker, by worker id. */
  readonly #seen = new Map<number, { requests: number; cpuMs: number }>();

  /** Adds what each live worker did since it was last read. */
  read(workers: Iterable<CountedWorker>): void {
    for (const worker of workers) this.#read(worker);
  }

  /** A worker exited: its last reading is added for good, and its restart counted. */
  exited(worker: CountedWorker, shuttingDown: boolean): void {
    this.#read(worker);
    this.#seen.delete(worker.id);
    const reason = restartReason(worker, shuttingDown);
    if (reason !== undefined) this.restarts[reason]++;
  }

  /** Totals by slot; a slot never filled is absent. */
  slots(): ReadonlyArray<SlotTotals | undefined> {
    return this.#slots;
  }

  #read(worker: CountedWorker): void {
    const seen = this.#seen.get(worker.id) ?? { requests: 0, cpuMs: 0 };
    const cpuMs = worker.usage.cpuMs ?? seen.cpuMs;
    const totals = (this.#slots[worker.slot] ??= { requests: 0, cpuSeconds: 0 });
    totals.requests += Math.max(0, worker.usage.requests - seen.requests);
    totals.cpuSeconds += Math.max(0, cpuMs - seen.cpuMs) / 1000;
    this.#seen.set(worker.id, { requests: Math.max(seen.requests, worker.usage.requests), cpuMs: Math.max(seen.cpuMs, cpuMs) });
  }
}
