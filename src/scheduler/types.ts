// The one interface every scheduler implements, built-in or user-supplied.
//
// Node's cluster hard-codes two strategies (round_robin_handle.js and
// shared_handle.js) and core declined to add more (nodejs/node#11546 asked for
// a pluggable one instead). handoff separates the policy -- which worker gets
// this connection? -- from the mechanics every master-accepting scheduler
// needs (queueing, hand-off, acknowledgement, re-dispatch, the queue bound),
// which live once, in ../dispatch/round-robin-handle.ts. A policy is therefore small: see
// round-robin.ts, or the 20-line example in docs/schedulers.md.

import type { WorkerState } from '../primary/lifecycle.js';

/** What a scheduler may know about a worker: a read-only view, never the live record. */
export interface WorkerView {
  /** Unique for the master's lifetime: never reused. */
  readonly id: number;
  /** Stable position, 0..workers-1: a replacement inherits the slot of the worker it replaces. */
  readonly slot: number;
  readonly pid: number;
  readonly state: WorkerState;
  /** Connections sent to this worker that it has not acknowledged yet. */
  readonly inFlight: number;
  /**
   * Open connections the worker last reported: with every acknowledgement and
   * heartbeat, and also as soon as connections close if the scheduler sets
   * needsLoadReports.
   */
  readonly active: number;
  /**
   * How long, in ms, the worker has held hand-offs without answering any: 0
   * when it holds none. A worker answers within one turn of its event loop.
   */
  readonly unansweredMs: number;
  /**
   * True when unansweredMs is much longer than hand-offs usually take here
   * (LATE_FACTOR times the dispatcher's running median from accept to
   * acknowledgement, and at least LATE_MIN_MS): its event loop is busy with
   * something long, a slow request most likely. rr sends it nothing while
   * another worker can take the connection.
   */
  readonly late: boolean;
  /**
   * True when the worker should not be sent more right now: it holds a full
   * window of unanswered hand-offs, or has answered none for 250 ms (its
   * event loop is stuck), or has just refused one (it is at maxConnections).
   */
  readonly busy: boolean;
  /**
   * Event-loop utilisation over the worker's last heartbeat interval, 0..1
   * (perf_hooks eventLoopUtilization): the share of the time its loop was
   * running code rather than waiting for events. null until its first
   * heartbeat, or with heartbeats off.
   */
  readonly elu: number | null;
  /**
   * The 99th percentile of the worker's event-loop delay over its last
   * heartbeat interval, in ms (perf_hooks monitorEventLoopDelay): how late a
   * timer due now would run. null until its first heartbeat.
   */
  readonly loopDelayP99: number | null;
}

/** The connection being placed. */
export interface ConnectionInfo {
  /** The master's sequence number for this connection, as shown by --trace. */
  readonly seq: number;
  /** The client's address ("127.0.0.1", "::1"); looked up on first use, "" if the client is already gone. */
  readonly remoteAddress: string;
  /** How many workers refused or lost this connection before. */
  readonly attempts: number;
}

export interface Scheduler {
  /** Shown in the ready line and in --trace ("scheduler least-conn picked w2"). */
  readonly name: string;
  /**
   * Optional: true if the policy reads `active` and needs it fresh. Workers
   * then also report each change of their open-connection count (at most one
   * message per event-loop turn, only when it changed); otherwise `active` is
   * refreshed only by acknowledgements and heartbeats. Costs an IPC message
   * per turn in which connections closed, so only ask if you use it.
   */
  readonly needsLoadReports?: boolean;
  /**
   * Choose a worker for `connection` among `workers` (every worker that is
   * listening, in slot order), or return undefined to leave the connection
   * queued until a worker acknowledges, becomes ready or goes away.
   * Returning a busy worker is allowed: the connection is still sent to it.
   */
  pick(connection: ConnectionInfo, workers: readonly WorkerView[]): WorkerView | undefined;
  /** Optional: one short phrase saying why `worker` was picked, printed by --trace. */
  explain?(connection: ConnectionInfo, worker: WorkerView): string;
  /** Optional: told when a worker starts or stops taking connections. */
  add?(worker: WorkerView): void;
  remove?(worker: WorkerView): void;
}

/**
 * What a scheduler module exports (as default, or as createScheduler), and
 * what createMaster({ scheduler }) accepts besides a built-in name: a
 * scheduler, or a function that makes one (called once per master).
 */
export type SchedulerFactory = () => Scheduler;
export type SchedulerChoice = string | Scheduler | SchedulerFactory;
