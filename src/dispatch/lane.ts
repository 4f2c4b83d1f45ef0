// The dispatcher's own record of one worker: what it sent that worker and how
// the worker answered. Node's RoundRobinHandle keeps the same thing as two
// collections, `all` and `free` (a worker with no hand-off in flight); a lane
// allows a window of hand-offs instead of one, so it needs a little more.
//
// The lane is the only writer of these fields, and `busy` is the one place
// that decides whether its worker may take another connection now; `late`,
// the one place that decides whether it is slow to answer (a scheduler may
// then prefer another: rr does).

import type { WorkerState } from '../primary/lifecycle.js';
import type { WorkerView } from '../scheduler/types.js';
import type { PendingConnection } from './connection.js';

/**
 * Hand-offs a worker may have unacknowledged before rr and least-conn pass it
 * over. Large, so that a burst is dealt out in strict turn (a window smaller
 * than a worker's share of the burst lets whoever answers first take the rest);
 * STALL_MS, not the window, is what keeps a stuck worker from soaking up connections.
 */
export const WINDOW = 256;
/** A worker holding hand-offs it has not answered for this long is passed over too: its event loop is stuck or very late. */
export const STALL_MS = 250;
/** How long a worker that refused a connection is passed over. */
export const REFUSAL_PAUSE_MS = 100;
/**
 * A worker is `late` once it has held hand-offs unanswered for LATE_FACTOR
 * times as long as a hand-off usually takes here (the dispatcher's running
 * median of accept -> accepted), and at least LATE_MIN_MS. Relative, so that
 * on a machine under heavy load, where every answer is slow or a worker may
 * wait for a CPU, a worker that was merely descheduled for a moment does not
 * look stuck; a request of 50 ms of CPU is late on any machine not that busy.
 */
export const LATE_FACTOR = 8;
export const LATE_MIN_MS = 2;
/** The running median's starting point, before any hand-off: a typical answer on an idle machine, in ms. */
export const USUAL_START_MS = 0.25;
/** ...and never less than this many times how late the master's own event loop runs (scheduling-noise.ts). */
export const NOISE_FACTOR = 2;

/** What the dispatcher needs to know of a worker: who it is, and what it last reported. */
export interface DispatchWorker {
  readonly id: number;
  readonly slot: number;
  readonly pid: number;
  readonly state: WorkerState;
  /** Open connections, as the worker last reported. */
  readonly active: number;
  /** Its event loop over its last heartbeat interval: busy share 0..1 and p99 delay in ms; null before the first (or with no heartbeats). */
  readonly elu?: number | null;
  readonly loopDelayP99?: number | null;
}

/** Writes a connection's handle to the worker; false if it could not even be written. */
export type SendConnection = (connection: PendingConnection) => boolean;

/** A worker the round-robin handle can send connections to. */
export interface RoundRobinWorker extends DispatchWorker {
  sendConnection: SendConnection;
}

export class Lane {
  readonly worker: DispatchWorker;
  readonly send: SendConnection;
  /** What the scheduler sees of this worker. */
  readonly view: WorkerView;
  /** Connections sent and not yet acknowledged, by seq. */
  readonly inFlight = new Map<number, PendingConnection>();
  /** Connections the worker accepted (counted by accepted() only). */
  #handed = 0;
  readonly #now: () => number;
  readonly #lateAfterMs: () => number;

  get handed(): number {
    return this.#handed;
  }
  /** When it last answered a hand-off, or when it was sent one while holding none (see `stalled`). */
  #answeredAt = 0;
  /** It refused its last connections (at server.maxConnections): passed over for REFUSAL_PAUSE_MS. */
  #refusing = false;
  #refusalTimer: NodeJS.Timeout | undefined;

  constructor(worker: DispatchWorker, send: SendConnection, now: () => number, lateAfterMs: () => number = () => LATE_MIN_MS) {
    this.worker = worker;
    this.send = send;
    this.#now = now;
    this.#lateAfterMs = lateAfterMs;
    this.view = createView(this);
  }

  /** How long it has held hand-offs without answering any, in ms; 0 if it holds none. */
  get unansweredMs(): number {
    return this.inFlight.size > 0 ? this.#now() - this.#answeredAt : 0;
  }

  /** Slow to answer: it holds hand-offs it has not answered for much longer than answers take here. */
  get late(): boolean {
    return this.inFlight.size > 0 && this.#now() - this.#answeredAt > this.#lateAfterMs();
  }

  /** May it take another connection? No while it refuses, holds a full window, or is stalled. */
  get busy(): boolean {
    return this.#refusing || this.inFlight.size >= WINDOW || this.stalled;
  }

  /** It holds hand-offs and has answered none for STALL_MS. */
  get stalled(): boolean {
    return this.inFlight.size > 0 && this.#now() - this.#answeredAt > STALL_MS;
  }

  /** Sends a connection down the lane; false if it could not be written (it is then not in flight). */
  hand(connection: PendingConnection): boolean {
    this.inFlight.set(connection.seq, connection);
    if (this.inFlight.size === 1) this.#answeredAt = this.#now(); // the wait for an answer starts now
    if (this.send(connection)) return true;
    this.inFlight.delete(connection.seq);
    return false;
  }

  /** Takes a connection back out of flight (refused, reclaimed, or its write failed); undefined if it was not in flight here. */
  take(seq: number): PendingConnection | undefined {
    const connection = this.inFlight.get(seq);
    if (connection !== undefined) this.inFlight.delete(seq);
    return connection;
  }

  /** The worker accepted connection `seq`: out of flight, and counted as handed; undefined if it was not in flight here. */
  accepted(seq: number): PendingConnection | undefined {
    const connection = this.take(seq);
    if (connection !== undefined) this.#handed++;
    return connection;
  }

  /**
   * It answered: it is not stuck. If it refused and accepted nothing, skip it
   * for REFUSAL_PAUSE_MS and then `retry` (without the timer a worker that
   * refused once, with heartbeats off, would never be tried again); if it
   * accepted, it has room.
   */
  answered(accepted: number, refused: number, retry: () => void): void {
    this.#answeredAt = this.#now();
    if (refused > 0 && accepted === 0) this.#pauseAfterRefusal(retry);
    else if (accepted > 0) this.clearRefusal();
  }

  #pauseAfterRefusal(retry: () => void): void {
    this.#refusing = true;
    clearTimeout(this.#refusalTimer);
    this.#refusalTimer = setTimeout(() => {
      this.#refusing = false;
      retry();
    }, REFUSAL_PAUSE_MS);
    this.#refusalTimer.unref();
  }

  /** It has room again (it accepted, or reported closed connections); true if it had been refusing. */
  clearRefusal(): boolean {
    if (!this.#refusing) return false;
    this.#refusing = false;
    clearTimeout(this.#refusalTimer);
    return true;
  }
}

/** A read-only window on the lane for schedulers: getters only, no way back to the record. */
function createView(lane: Lane): WorkerView {
  const { worker } = lane;
  return Object.freeze({
    get id() {
      return worker.id;
    },
    get slot() {
      return worker.slot;
    },
    get pid() {
      return worker.pid;
    },
    get state() {
      return worker.state;
    },
    get inFlight() {
      return lane.inFlight.size;
    },
    get active() {
      return worker.active;
    },
    get unansweredMs() {
      return lane.unansweredMs;
    },
    get late() {
      return lane.late;
    },
    get busy() {
      return lane.busy;
    },
    get elu() {
      return worker.elu ?? null;
    },
    get loopDelayP99() {
      return worker.loopDelayP99 ?? null;
    },
  });
}
