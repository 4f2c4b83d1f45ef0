// The mechanics shared by every scheduler in which the master accepts: what
// Node's RoundRobinHandle does in distribute() and handoff(), with the policy
// (which worker?) left to a Scheduler.
//
//   accept ──> queue ──> pick ──> send handle ──> ack: accepted ──> close master's copy
//                 ^                                    │
//                 └──────── refused, or worker gone ───┘
//
// Where handoff does better than RoundRobinHandle:
//  - a window of WINDOW hand-offs in flight per worker instead of one, so the
//    master never waits a round trip before sending the next connection;
//  - a connection in flight to a worker that dies is taken back and given to
//    another worker (cluster never reclaims it: nodejs/node-v0.x-archive#7006);
//  - the master holds at most maxPending connections: past that it stops
//    accepting, and clients wait in the kernel's backlog instead of the
//    master's memory and file descriptors (cluster's queue has no bound).
//
// The master keeps its own descriptor of every connection until a worker
// says "accepted"; only then is it closed. That is what makes re-dispatch
// possible: if the worker refuses, or dies before answering, the connection
// is still here, unread, and goes to someone else.

import { performance } from 'node:perf_hooks';
import { HandoffLatency } from './handoff-latency.js';
import type { TcpHandle } from '../wire/node-internals.js';
import type { Tracer } from '../trace.js';
import type { ConnectionInfo, Scheduler, WorkerView } from '../scheduler/types.js';

/**
 * Hand-offs a worker may have unacknowledged before rr and least-conn pass it
 * over. Large, so that a burst is dealt out in strict turn (a window smaller
 * than a worker's share of the burst lets whoever answers first take the rest);
 * STALL_MS, not the window, is what keeps a stuck worker from soaking up connections.
 */
export const WINDOW = 256;
/** A worker holding hand-offs it has not answered for this long is passed over too: its event loop is stuck or very late. */
export const STALL_MS = 250;
/**
 * A worker is `late` (WorkerView.late) once it has held hand-offs unanswered
 * for LATE_FACTOR times as long as a hand-off usually takes here, and at
 * least LATE_MIN_MS. "Usually" is a running median of accept -> accepted, so
 * a machine under heavy load (where every answer is slow) does not make
 * every worker look late; and a request of 50 ms of CPU is late anywhere.
 */
export const LATE_FACTOR = 8;
export const LATE_MIN_MS = 2;
/** The running median's starting point, before any hand-off: a typical answer on an idle machine. */
const USUAL_START_MS = 0.25;

/** A connection the master has accepted and still holds. */
export class PendingConnection implements ConnectionInfo {
  readonly seq: number;
  /** Internal: the accepted libuv handle. Schedulers only see ConnectionInfo. */
  readonly handle: TcpHandle;
  attempts = 0;
  readonly acceptedAt = performance.now();
  #remoteAddress: string | undefined;

  constructor(seq: number, handle: TcpHandle) {
    this.seq = seq;
    this.handle = handle;
  }

  get remoteAddress(): string {
    if (this.#remoteAddress === undefined) {
      const out: Record<string, unknown> = {};
      this.#remoteAddress = this.handle.getpeername(out) === 0 ? String(out['address']) : '';
    }
    return this.#remoteAddress;
  }
}

/** What the dispatcher needs from the master's record of a worker. */
export interface DispatchTarget {
  readonly id: number;
  readonly view: WorkerView;
  /** Connections sent and not yet acknowledged, by seq. */
  readonly inFlight: Map<number, PendingConnection>;
  /** Write the connection's handle to the worker; false if it could not even be written. */
  sendConnection(connection: PendingConnection): boolean;
  /** Counts an accepted connection. */
  countHanded(): void;
  /** Set by the dispatcher when the worker is added: the threshold of WorkerView.late. */
  lateAfterMs: () => number;
}

export interface DispatcherOptions {
  maxPending: number;
  /** Stop accepting: called when the master holds maxPending connections. */
  pause(): void;
  /** Accept again: called once the master holds half of that. */
  resume(): void;
  trace: Tracer | null;
}

export class Dispatcher {
  readonly #scheduler: Scheduler;
  readonly #options: DispatcherOptions;
  /** Workers taking connections, in slot order, and their views (what the scheduler sees). */
  readonly #ready: DispatchTarget[] = [];
  readonly #readyViews: WorkerView[] = [];
  readonly #byView = new Map<WorkerView, DispatchTarget>();
  readonly #queue = new ConnectionQueue();
  /** Every connection whose descriptor the master holds: queued plus in flight. */
  #held = 0;
  #seq = 0;
  #paused = false;
  #whenEmpty: Array<() => void> = [];
  /** From accept to "accepted", per connection: `handoff ctl status` shows it. */
  readonly handoffLatency = new HandoffLatency();
  /** A running median of the same, in ms (each hand-off moves it 2% towards itself). */
  #usualMs = USUAL_START_MS;

  constructor(scheduler: Scheduler, options: DispatcherOptions) {
    this.#scheduler = scheduler;
    this.#options = options;
  }

  get queued(): number {
    return this.#queue.length;
  }

  get held(): number {
    return this.#held;
  }

  get accepting(): boolean {
    return !this.#paused;
  }

  /** How long a worker may hold hand-offs unanswered before it is `late`, in ms. */
  get lateAfterMs(): number {
    return Math.max(LATE_MIN_MS, LATE_FACTOR * this.#usualMs);
  }

  /** A new connection from the listener (RoundRobinHandle.distribute). */
  accept(handle: TcpHandle): void {
    const connection = new PendingConnection(++this.#seq, handle);
    this.#options.trace?.conn(connection.seq, `accepted by the master on fd ${handle.fd}, from ${connection.remoteAddress || 'a client already gone'}`);
    this.#held++;
    this.#queue.push(connection);
    this.#drain();
    if (this.#held >= this.#options.maxPending && !this.#paused) {
      this.#paused = true;
      this.#options.trace?.conn(connection.seq, `master holds ${this.#held} connections: accepting paused`);
      this.#options.pause();
    }
  }

  /** A worker is listening: it may get connections from now on. */
  add(target: DispatchTarget): void {
    if (this.#byView.has(target.view)) return;
    target.lateAfterMs = () => this.lateAfterMs;
    const index = this.#ready.findIndex((other) => other.view.slot > target.view.slot);
    const at = index === -1 ? this.#ready.length : index;
    this.#ready.splice(at, 0, target);
    this.#readyViews.splice(at, 0, target.view);
    this.#byView.set(target.view, target);
    this.#scheduler.add?.(target.view);
    this.#drain();
  }

  /** A worker stops taking connections (draining, suicide, silent): none are sent from now on. */
  remove(target: DispatchTarget): void {
    if (!this.#byView.delete(target.view)) return;
    const index = this.#ready.indexOf(target);
    this.#ready.splice(index, 1);
    this.#readyViews.splice(index, 1);
    this.#scheduler.remove?.(target.view);
  }

  /**
   * The worker's channel is gone, so no answer will come: every connection in
   * flight to it is taken back and re-dispatched, oldest first. Called only
   * after the channel closed, i.e. after every acknowledgement it sent was read.
   */
  reclaim(target: DispatchTarget): void {
    this.remove(target);
    const orphans = [...target.inFlight.keys()].sort((a, b) => b - a); // newest first, so the oldest ends up at the front
    for (const seq of orphans) this.#takeBack(target, seq, `reclaimed from w${target.id}, which is gone: re-dispatching`);
    this.#drain();
  }

  /** The worker's answers (child.js: accepted first, then the socket is built). */
  acknowledge(target: DispatchTarget, accepted: readonly number[], refused: readonly number[]): void {
    const trace = this.#options.trace;
    const now = accepted.length > 0 ? performance.now() : 0;
    for (const seq of accepted) {
      const connection = target.inFlight.get(seq);
      if (connection === undefined) continue;
      target.inFlight.delete(seq);
      const tookMs = now - connection.acceptedAt;
      this.handoffLatency.record(tookMs * 1000);
      this.#usualMs *= tookMs > this.#usualMs ? 1.02 : 0.98;
      connection.handle.close(); // the worker has its own descriptor now
      this.#held--;
      target.countHanded();
      trace?.conn(seq, `w${target.id} accepted it: the master closes its copy`);
    }
    this.#released();
    for (let i = refused.length - 1; i >= 0; i--) this.#takeBack(target, refused[i] as number, `w${target.id} refused it: re-dispatching`);
    this.#maybeResume();
    this.#drain();
  }

  /** A write that libuv had queued failed later: the worker never got that connection. */
  writeFailed(target: DispatchTarget, seq: number): void {
    if (!this.#takeBack(target, seq, `could not be written to w${target.id}: re-dispatching`)) return;
    this.remove(target);
    this.#drain();
  }

  /** Something changed about a worker's load (it reported fewer connections): try the queue again. */
  poke(): void {
    this.#drain();
  }

  /** A connection in flight to `target` comes back to the front of the queue; false if it was not in flight there. */
  #takeBack(target: DispatchTarget, seq: number, why: string): boolean {
    const connection = target.inFlight.get(seq);
    if (connection === undefined) return false;
    target.inFlight.delete(seq);
    connection.attempts++;
    this.#options.trace?.conn(seq, why);
    this.#queue.unshift(connection);
    return true;
  }

  /** Resolves once the master holds no connection (every one accepted by a worker, or closed). */
  whenEmpty(): Promise<void> {
    if (this.#held === 0) return Promise.resolve();
    return new Promise((resolve) => this.#whenEmpty.push(resolve));
  }

  #released(): void {
    if (this.#held === 0 && this.#whenEmpty.length > 0) for (const resolve of this.#whenEmpty.splice(0)) resolve();
  }

  /** Closes every connection the master still holds in its queue (at shutdown, with no worker left). */
  closeQueued(): number {
    let closed = 0;
    for (let connection = this.#queue.shift(); connection !== undefined; connection = this.#queue.shift()) {
      connection.handle.close();
      this.#held--;
      closed++;
    }
    this.#released();
    return closed;
  }

  #drain(): void {
    const trace = this.#options.trace;
    while (this.#queue.length > 0 && this.#ready.length > 0) {
      const connection = this.#queue.peek() as PendingConnection;
      const view = this.#scheduler.pick(connection, this.#readyViews);
      if (view === undefined) return;
      const target = this.#byView.get(view);
      if (target === undefined) return; // a scheduler returned something that is not a ready worker
      this.#queue.shift();
      if (trace) {
        trace.conn(connection.seq, `scheduler ${this.#scheduler.name} picked w${target.id}: ${this.#scheduler.explain?.(connection, view) ?? 'no reason given'}`);
        // Before the write, so that the worker's "received" line cannot come first.
        trace.conn(connection.seq, `handle sent to w${target.id} (pid ${target.view.pid})`);
      }
      target.inFlight.set(connection.seq, connection);
      const sent = target.sendConnection(connection);
      if (trace && !sent) trace.conn(connection.seq, `could not be written to w${target.id}: back to the queue`);
      if (!sent) {
        // The write failed outright (the channel is closing): take the worker out and retry elsewhere.
        target.inFlight.delete(connection.seq);
        this.#queue.unshift(connection);
        this.remove(target);
      }
    }
  }

  #maybeResume(): void {
    if (this.#paused && this.#held <= this.#options.maxPending / 2) {
      this.#paused = false;
      this.#options.resume();
    }
  }
}

/** A FIFO that can also put a connection back at the front, in O(1) amortised. */
class ConnectionQueue {
  #items: Array<PendingConnection | undefined> = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(connection: PendingConnection): void {
    this.#items.push(connection);
  }

  unshift(connection: PendingConnection): void {
    if (this.#head > 0) this.#items[--this.#head] = connection;
    else this.#items.unshift(connection);
  }

  peek(): PendingConnection | undefined {
    return this.#items[this.#head];
  }

  shift(): PendingConnection | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const connection = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return connection;
  }
}
