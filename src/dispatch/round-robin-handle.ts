// What Node's RoundRobinHandle (lib/internal/cluster/round_robin_handle.js)
// does, for every scheduler in which the master accepts: queue each accepted
// connection, hand it to a worker, close the master's copy once the worker
// says "accepted". Which worker gets it is a Scheduler's to say.
//
//   accept ──> queue ──> pick ──> send handle ──> ack: accepted ──> close master's copy
//                 ^                                    │
//                 └──────── refused, or worker gone ───┘
//
// Node's steps, and where each is here:
//   RoundRobinHandle(key, address, ...) + server.listen  -> constructor
//   RoundRobinHandle.prototype.add(worker, send)         -> add()
//   RoundRobinHandle.prototype.remove(worker)            -> remove()
//   RoundRobinHandle.prototype.distribute(err, handle)   -> accept()
//   RoundRobinHandle.prototype.handoff(worker)           -> #handoff()
//   the reply callback passed to sendHelper() in handoff -> acknowledge()
//
// Where handoff does better than RoundRobinHandle:
//  - a window of WINDOW hand-offs in flight per worker instead of one (see
//    lane.ts), so the master never waits a round trip before the next one;
//  - a connection in flight to a worker that dies is taken back and given to
//    another worker (cluster never reclaims it: nodejs/node-v0.x-archive#7006);
//  - the master holds at most maxPending connections: past that it stops
//    accepting, and clients wait in the kernel's backlog instead of the
//    master's memory and file descriptors (cluster's queue has no bound);
//  - the last worker leaving does not close the queue: a replacement takes it;
//  - a connection whose client reset while it waited is dropped here, not
//    handed to a worker (PendingConnection.peerAlive()).

import { performance } from 'node:perf_hooks';
import type { DispatchObserver } from '../operations/metrics/dispatch-stats.js';
import type { TcpHandle } from '../wire/node-internals.js';
import type { Tracer } from '../trace.js';
import type { Scheduler, WorkerView } from '../scheduler/types.js';
import { ConnectionQueue, PendingConnection } from './connection.js';
import type { AcceptingSocket, DispatchHandle } from './handles.js';
import { Lane, LATE_FACTOR, LATE_MIN_MS, NOISE_FACTOR, USUAL_START_MS, type DispatchWorker, type RoundRobinWorker } from './lane.js';

export interface DispatcherOptions {
  maxPending: number;
  trace: Tracer | null;
  /** The clock (ms) the lanes measure stalls and lateness with, and hand-off latency is timed by (tests pass their own). */
  now?: () => number;
  /** Counts and times for status and /metrics (operations/metrics/dispatch-stats.ts). */
  observer?: DispatchObserver;
  /** How late the master's own event loop runs, in ms (scheduling-noise.ts; none if not given): late is never less than NOISE_FACTOR times this. */
  noiseMs?: () => number;
  /** The listener id written with each hand-off (0: the master's own). */
  listener?: number;
  /** Seqs shared by every handle of the master, so an ack or a trace line names one connection. */
  nextSeq?: () => number;
}

export class Dispatcher implements DispatchHandle {
  /** Like Node's handle key: the listening address this handle serves. */
  readonly key: string;
  /** Connections only once the worker listens. */
  readonly addOn = 'listening';
  readonly #socket: AcceptingSocket;
  readonly #scheduler: Scheduler;
  readonly #options: DispatcherOptions;
  readonly #now: () => number;
  /** Every worker with a lane (Node's `all`), by id: taking connections, or still owing answers. */
  readonly #lanes = new Map<number, Lane>();
  /** The lanes taking connections, in slot order, as the scheduler sees them (their views), and each view's lane. */
  readonly #ready: WorkerView[] = [];
  readonly #byView = new Map<WorkerView, Lane>();
  readonly #queue = new ConnectionQueue();
  /** Every connection whose descriptor the master holds: queued plus in flight. */
  #held = 0;
  #seq = 0;
  /** The connection accept() is handing out right now: the only one that has not waited in the queue. */
  #fresh: PendingConnection | undefined;
  #paused = false;
  /** No worker has a server for this address (noServer()): close what is accepted while no worker is ready. */
  #noServer = false;
  /** Clients that reset while their connection waited in the master: closed by their client, not cut. */
  #goneWhileQueued = 0;
  #whenEmpty: Array<() => void> = [];
  /** A running median of the same, in ms: each hand-off moves it 2% towards itself. */
  #usualMs = USUAL_START_MS;
  /** #handoff() as a callback, made once: a lane calls it after pausing a worker that refused. */
  readonly #retry = (): void => this.#handoff();

  // RoundRobinHandle(key, address, ...): the socket is already bound and listening (Listener.bind).
  constructor(key: string, socket: AcceptingSocket, scheduler: Scheduler, options: DispatcherOptions) {
    this.key = key;
    this.#socket = socket;
    this.#scheduler = scheduler;
    this.#options = options;
    this.#now = options.now ?? (() => performance.now());
    socket.onconnection = (handle) => this.accept(handle);
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

  get goneWhileQueued(): number {
    return this.#goneWhileQueued;
  }

  /** How long a worker may hold hand-offs unanswered before it is `late` (lane.ts), in ms. */
  get lateAfterMs(): number {
    return Math.max(LATE_MIN_MS, LATE_FACTOR * this.#usualMs, NOISE_FACTOR * (this.#options.noiseMs?.() ?? 0));
  }

  /** Connections the worker accepted, and those in flight to it (0 if it has no lane). */
  handedTo(worker: DispatchWorker): number {
    return this.#lanes.get(worker.id)?.handed ?? 0;
  }

  inFlightTo(worker: DispatchWorker): number {
    return this.#lanes.get(worker.id)?.inFlight.size ?? 0;
  }

  /** Is connection `seq` in flight to `worker` from this handle? (how the master routes an ack) */
  holds(worker: DispatchWorker, seq: number): boolean {
    return this.#lanes.get(worker.id)?.inFlight.has(seq) ?? false;
  }

  // RoundRobinHandle.prototype.distribute: queue the connection, then hand out what can be.
  accept(handle: TcpHandle): void {
    const seq = this.#options.nextSeq?.() ?? ++this.#seq;
    const connection = new PendingConnection(seq, handle, this.#options.listener, this.#now());
    if (this.#options.trace) {
      const on = this.#options.listener ? ` (listener ${this.#options.listener}, ${this.key})` : '';
      this.#options.trace.conn(connection.seq, `accepted by the master${on} on fd ${handle.fd}, from ${connection.remoteAddress || 'a client already gone'}`);
    }
    if (this.#noServer && this.#ready.length === 0) {
      handle.close();
      this.#options.trace?.conn(connection.seq, 'closed: no worker has a TCP server (the app binds UDP only)');
      return;
    }
    this.#held++;
    this.#options.observer?.accepted();
    this.#queue.push(connection);
    this.#fresh = connection;
    this.#handoff();
    this.#fresh = undefined;
    if (this.#held >= this.#options.maxPending && !this.#paused) {
      this.#paused = true;
      this.#options.trace?.conn(connection.seq, `master holds ${this.#held} connections: accepting paused`);
      this.#socket.pause();
    }
  }

  // RoundRobinHandle.prototype.add: a worker is listening; it may get connections from now on.
  add(worker: RoundRobinWorker): void {
    let lane = this.#lanes.get(worker.id);
    if (lane === undefined) this.#lanes.set(worker.id, (lane = new Lane(worker, (connection) => worker.sendConnection(connection), this.#now, () => this.lateAfterMs)));
    if (this.#byView.has(lane.view)) return;
    const index = this.#ready.findIndex((other) => other.slot > worker.slot);
    this.#ready.splice(index === -1 ? this.#ready.length : index, 0, lane.view);
    this.#byView.set(lane.view, lane);
    this.#scheduler.add?.(lane.view);
    this.#handoff();
  }

  // RoundRobinHandle.prototype.remove: none are sent from now on (draining, suicide, silent, dead).
  // Unlike Node, the lane stays until its answers are in (reclaim), and the queue stays for the others.
  remove(worker: DispatchWorker): boolean {
    const lane = this.#lanes.get(worker.id);
    if (lane === undefined || !this.#byView.delete(lane.view)) return false;
    this.#ready.splice(this.#ready.indexOf(lane.view), 1);
    this.#scheduler.remove?.(lane.view);
    return true;
  }

  /**
   * The worker's channel is gone, so no answer will come: every connection in
   * flight to it is taken back and re-dispatched, oldest first. Called only
   * after the channel closed, i.e. after every acknowledgement it sent was read.
   */
  reclaim(worker: DispatchWorker): void {
    const lane = this.#lanes.get(worker.id);
    if (lane === undefined) return;
    this.remove(worker);
    const orphans = [...lane.inFlight.keys()].sort((a, b) => b - a); // newest first, so the oldest ends up at the front
    for (const seq of orphans) {
      if (this.#takeBack(lane, seq, `reclaimed from w${worker.id}, which is gone: re-dispatching`)) this.#options.observer?.reclaimed(worker.slot);
    }
    if (worker.state === 'dead') this.#lanes.delete(worker.id);
    this.#handoff();
  }

  /** The worker exited: out of rotation; its lane goes once nothing is left in flight (else at reclaim). */
  forget(worker: DispatchWorker): void {
    this.remove(worker);
    if (this.inFlightTo(worker) === 0) this.#lanes.delete(worker.id);
  }

  // The reply callback of RoundRobinHandle.prototype.handoff: accepted, close our copy; refused, distribute again.
  acknowledge(worker: DispatchWorker, accepted: readonly number[], refused: readonly number[]): void {
    const lane = this.#lanes.get(worker.id);
    if (lane === undefined) return;
    lane.answered(accepted.length, refused.length, this.#retry);
    const { trace, observer } = this.#options;
    // One clock reading for the batch: it answers every connection the worker took in one turn.
    const now = accepted.length > 0 ? this.#now() : 0;
    for (const seq of accepted) {
      const connection = lane.accepted(seq);
      if (connection === undefined) continue;
      const tookMs = now - connection.acceptedAt;
      this.#usualMs *= tookMs > this.#usualMs ? 1.02 : 0.98;
      connection.handle.close(); // the worker has its own descriptor now
      this.#held--;
      observer?.handed(worker.slot, tookMs);
      trace?.conn(seq, `w${worker.id} accepted it: the master closes its copy`);
    }
    this.#released();
    for (let i = refused.length - 1; i >= 0; i--) {
      if (this.#takeBack(lane, refused[i] as number, `w${worker.id} refused it: re-dispatching`)) observer?.refused(worker.slot);
    }
    this.#maybeResume();
    this.#handoff();
  }

  /** The worker reported fewer open connections: one that refused may take more; `retry` also tries the queue when it had not. */
  roomAgain(worker: DispatchWorker, retry: boolean): void {
    const wasRefusing = this.#lanes.get(worker.id)?.clearRefusal() ?? false;
    if (wasRefusing || retry) this.#handoff();
  }

  /** A write that libuv had queued failed later: the worker never got that connection. */
  writeFailed(worker: DispatchWorker, seq: number): void {
    const lane = this.#lanes.get(worker.id);
    if (lane === undefined || !this.#takeBack(lane, seq, `could not be written to w${worker.id}: re-dispatching`)) return;
    this.#options.observer?.reclaimed(worker.slot);
    this.remove(worker);
    this.#handoff();
  }

  /** A connection in flight on `lane` comes back to the front of the queue; false if it was not in flight there. */
  #takeBack(lane: Lane, seq: number, why: string): boolean {
    const connection = lane.take(seq);
    if (connection === undefined) return false;
    connection.attempts++;
    this.#options.trace?.conn(seq, why);
    this.#queue.unshift(connection);
    return true;
  }

  /** The master accepts on the listening socket already: nothing to take back (see SharedHandle.takeBack). */
  takeBack(): Promise<void> {
    return Promise.resolve();
  }

  unshared(): void {}

  /** Resolves once the master holds no connection (every one accepted by a worker, or closed). */
  whenEmpty(): Promise<void> {
    if (this.#held === 0) return Promise.resolve();
    return new Promise((resolve) => this.#whenEmpty.push(resolve));
  }

  #released(): void {
    if (this.#held === 0 && this.#whenEmpty.length > 0) for (const resolve of this.#whenEmpty.splice(0)) resolve();
  }

  /** Workers are ready and none has a server here: close what waits, and from now on what is accepted (see accept()). */
  noServer(on: boolean): void {
    this.#noServer = on;
    if (!on) return;
    this.closeQueued();
    this.#maybeResume();
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

  // RoundRobinHandle.prototype.handoff: send queued connections while the scheduler picks a worker.
  #handoff(): void {
    const trace = this.#options.trace;
    while (this.#queue.length > 0 && this.#ready.length > 0) {
      const connection = this.#queue.peek() as PendingConnection;
      // Only a connection that waited (not the one accept() is handing out) can have lost its client meanwhile.
      if (connection !== this.#fresh && !connection.peerAlive()) {
        this.#dropGone(connection);
        continue;
      }
      const view = this.#scheduler.pick(connection, this.#ready);
      if (view === undefined) return;
      const lane = this.#byView.get(view);
      if (lane === undefined) return; // a scheduler returned something that is not a ready worker
      this.#queue.shift();
      const { id, pid } = lane.worker;
      if (trace) {
        trace.conn(connection.seq, `scheduler ${this.#scheduler.name} picked w${id}: ${this.#scheduler.explain?.(connection, view) ?? 'no reason given'}`);
        // Before the write, so that the worker's "received" line cannot come first.
        trace.conn(connection.seq, `handle sent to w${id} (pid ${pid})`);
      }
      if (!lane.hand(connection)) {
        // The write failed outright (the channel is closing): take the worker out and retry elsewhere.
        trace?.conn(connection.seq, `could not be written to w${id}: back to the queue`);
        this.#queue.unshift(connection);
        this.remove(lane.worker);
      }
    }
  }

  /** A client that reset while its connection waited here: closed, never handed out, and counted. */
  #dropGone(connection: PendingConnection): void {
    this.#queue.shift();
    connection.handle.close();
    this.#held--;
    this.#goneWhileQueued++;
    this.#options.observer?.goneWhileQueued();
    this.#options.trace?.conn(connection.seq, 'the client reset while it waited in the master: dropped, not handed out');
    this.#released();
    this.#maybeResume();
  }

  #maybeResume(): void {
    if (this.#paused && this.#held <= this.#options.maxPending / 2) {
      this.#paused = false;
      this.#socket.resume();
    }
  }
}
