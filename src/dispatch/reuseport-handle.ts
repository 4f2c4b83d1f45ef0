// reuseport: one listening socket per worker slot, all bound to the same port
// with SO_REUSEPORT; the kernel spreads new connections among them by a hash
// of the addresses, and each worker accepts on its own slot's socket. What
// Bun (reusePort), Deno (serve --parallel) and gunicorn (reuse_port) do --
// except that here the socket belongs to the slot, not to the process:
//
//  - the master binds every slot's socket before forking and keeps a
//    descriptor of each, so a replacement (crash, reload, rotation) gets the
//    same socket and its queue, and nothing queued meanwhile is reset;
//  - while a slot has no worker accepting on its socket (a crash, until the
//    replacement is ready; a new slot, until its first worker is; a slot
//    removed by scaling down, for good) the master accepts on it and hands
//    what it takes to the other workers through the round-robin path
//    (round-robin-handle.ts): nothing waits for a fork;
//  - scaling down "parks" the slot's socket instead of closing it: closing a
//    socket of a reuseport group resets its queue (unless
//    net.ipv4.tcp_migrate_req=1), and accepting until EAGAIN before the close
//    still lost connections under load (scripts/reuseport-prototype.mjs).
//    Scaling up again gives the parked socket to the new slot's worker.
//
// Node has no such handle: cluster's SharedHandle shares one socket, and
// node:net's reusePort (22.12+) binds one per server, closed with it.

import type { Tracer } from '../trace.js';
import type { Scheduler } from '../scheduler/types.js';
import type { AcceptingSocket, DispatchHandle, HandleWorker } from './handles.js';
import { Listener } from './listener.js';
import { Dispatcher, type DispatcherOptions } from './round-robin-handle.js';

/** A slot's socket as this handle uses it: a Listener, or for slot 0 the master's ListenerSet of one. */
export type SlotListener = AcceptingSocket & Pick<Listener, 'sharedHandle' | 'acceptBacklog' | 'close'>;

/** One slot's socket, and who accepts on it. */
interface SlotSocket {
  readonly slot: number;
  readonly listener: SlotListener;
  /** Ids of this slot's workers that accept on it now (during a reload, the old one and its replacement). */
  readonly workers: Set<number>;
  /** Connections the master accepted on it while no worker did. */
  takenByMaster: number;
}

/** One slot socket, as `handoff ctl status` shows it. */
export interface SlotSocketStatus {
  slot: number;
  /** Who accepts on it now: its slot's worker(s), or the master (no worker: a gap, a new slot, or parked after scale-down). */
  acceptedBy: 'worker' | 'master';
  workers: number[];
  takenByMaster: number;
}

export interface ReusePortOptions {
  /** Slots to bind a socket for before anything is forked. */
  slots: number;
  /** reusePortFlag(): the libuv bind flag that sets SO_REUSEPORT. */
  reuseFlag: number;
  scheduler: Scheduler;
  maxPending: number;
  trace: Tracer | null;
  /** For status and /metrics: what the master accepts on slot sockets no worker accepts on. */
  observer?: DispatcherOptions['observer'];
  /** Seqs shared by every handle of the master (handle-table.ts), so an ack names one connection. */
  nextSeq?: DispatcherOptions['nextSeq'];
}

export class ReusePortHandle implements DispatchHandle {
  readonly key: string;
  /** Each worker needs its slot's socket before its server can listen. */
  readonly addOn = 'online';
  readonly #sockets = new Map<number, SlotSocket>();
  readonly #workers = new Map<number, HandleWorker>();
  readonly #reuseFlag: number;
  readonly #host: string;
  readonly #port: number;
  readonly #trace: Tracer | null;
  /** What the round-robin path sees as "the socket": every slot socket the master accepts on. */
  readonly #uncovered: AcceptingSocket = {
    onconnection: () => undefined, // set by the Dispatcher
    pause: () => {
      this.#full = true;
      for (const socket of this.#coveredSockets()) socket.listener.pause();
    },
    resume: () => {
      this.#full = false;
      for (const socket of this.#coveredSockets()) socket.listener.resume();
    },
  };
  /** The master's own hand-off, for what it accepts on slot sockets no worker accepts on. */
  readonly #rr: Dispatcher;
  /** The master holds --max-pending connections: it accepts on no slot socket until it holds half. */
  #full = false;
  /** Shutdown: from takeBack() on the master accepts on every slot socket, and the workers on none. */
  #takenBack = false;
  /** takeBack(): each worker yet to say it closed its descriptor of its slot's socket. */
  readonly #waiting = new Map<number, () => void>();
  #closed = false;

  /** `first` is the master's listener, bound with `reuseFlag`: it becomes slot 0's socket. */
  constructor(key: string, first: SlotListener & Pick<Listener, 'address'>, options: ReusePortOptions) {
    this.key = key;
    this.#reuseFlag = options.reuseFlag;
    this.#host = first.address.address;
    this.#port = first.address.port;
    this.#trace = options.trace;
    this.#rr = new Dispatcher(key, this.#uncovered, options.scheduler, { maxPending: options.maxPending, trace: options.trace, observer: options.observer, nextSeq: options.nextSeq });
    this.#adopt(0, first);
    try {
      for (let slot = 1; slot < options.slots; slot++) this.#socketOf(slot);
    } catch (error) {
      for (const socket of this.#sockets.values()) if (socket.slot !== 0) socket.listener.close();
      throw error;
    }
  }

  get queued(): number {
    return this.#rr.queued;
  }

  get held(): number {
    return this.#rr.held;
  }

  get accepting(): boolean {
    return !this.#full;
  }

  /** Every slot's listening socket, parked ones included: the shutdown accepts their backlog and closes them. */
  slotSockets(): SlotListener[] {
    return [...this.#sockets.values()].map((socket) => socket.listener);
  }

  status(): SlotSocketStatus[] {
    return [...this.#sockets.values()]
      .sort((a, b) => a.slot - b.slot)
      .map((socket) => ({
        slot: socket.slot,
        acceptedBy: socket.workers.size > 0 ? 'worker' : 'master',
        workers: [...socket.workers],
        takenByMaster: socket.takenByMaster,
      }));
  }

  // SharedHandle.prototype.add, per slot: send the worker its slot's socket (bound now if the slot is new).
  add(worker: HandleWorker): void {
    this.#workers.set(worker.id, worker);
    this.#send(worker, this.#socketOf(worker.slot).listener);
  }

  /** The slot's socket to the worker; a descriptor of it, that is (any will do: it is duplicated on the way). */
  #send(worker: HandleWorker, listener: SlotListener, retried = false): void {
    listener.sharedHandle().then(
      (handle) => this.#workers.has(worker.id) && worker.sendListenHandle(handle),
      // In the microtask in which resume() swaps its descriptors the listener has none to give: try once more.
      () => !retried && !this.#closed && setImmediate(() => this.#send(worker, listener, true)),
    );
  }

  /** The worker accepts on its slot's socket now: the master stops accepting there, and may hand it connections from the others. */
  listening(worker: HandleWorker): void {
    const socket = this.#sockets.get(worker.slot);
    if (socket === undefined || !this.#workers.has(worker.id)) return;
    if (socket.workers.size === 0) {
      this.#trace?.worker(worker.id, worker.pid, `accepts on slot ${socket.slot}'s socket: the master stops accepting there`);
      socket.listener.pause();
    }
    socket.workers.add(worker.id);
    this.#rr.add(worker);
  }

  remove(worker: HandleWorker): boolean {
    const known = this.#workers.delete(worker.id);
    this.#rr.remove(worker);
    this.#leave(worker);
    return known;
  }

  reclaim(worker: HandleWorker): void {
    this.#rr.reclaim(worker);
    this.#leave(worker);
  }

  forget(worker: HandleWorker): void {
    this.#workers.delete(worker.id);
    this.#rr.forget(worker);
    this.#leave(worker);
  }

  acknowledge(worker: HandleWorker, accepted: readonly number[], refused: readonly number[]): void {
    this.#rr.acknowledge(worker, accepted, refused);
  }

  roomAgain(worker: HandleWorker, retry: boolean): void {
    this.#rr.roomAgain(worker, retry);
  }

  writeFailed(worker: HandleWorker, seq: number): void {
    this.#rr.writeFailed(worker, seq);
  }

  handedTo(worker: HandleWorker): number {
    return this.#rr.handedTo(worker);
  }

  holds(worker: HandleWorker, seq: number): boolean {
    return this.#rr.holds(worker, seq);
  }
  inFlightTo(worker: HandleWorker): number {
    return this.#rr.inFlightTo(worker);
  }

  whenEmpty(): Promise<void> {
    return this.#rr.whenEmpty();
  }

  closeQueued(): number {
    return this.#rr.closeQueued();
  }

  /** No worker accepts on any slot's socket then, so the master does on each: it closes what it accepts. */
  noServer(on: boolean): void {
    this.#rr.noServer(on);
  }

  /**
   * At shutdown, as SharedHandle.takeBack does for its one socket: the master
   * accepts on every slot socket, and each worker stops accepting on its own
   * and closes its descriptor ('unshare'), going on taking hand-offs. Then the
   * master's descriptors are each socket's last, and the shutdown accepts
   * every socket's backlog (slotSockets()) before closing them: nothing queued
   * in a slot's socket is reset. Resolves once every worker said so (or
   * left), or after `timeoutMs`.
   */
  async takeBack(timeoutMs: number): Promise<void> {
    if (this.#takenBack) return;
    this.#takenBack = true;
    if (!this.#full) for (const socket of this.#sockets.values()) socket.listener.resume();
    const answers = [...this.#workers.values()].map(
      (worker) =>
        new Promise<void>((resolve) => {
          this.#waiting.set(worker.id, resolve);
          if (!worker.sendUnshare()) this.unshared(worker);
        }),
    );
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(answers), new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    this.#waiting.clear();
  }

  /** `worker` accepts on its slot's socket no more (it answered takeBack's 'unshare'). */
  unshared(worker: HandleWorker): void {
    this.#sockets.get(worker.slot)?.workers.delete(worker.id);
    const resolve = this.#waiting.get(worker.id);
    this.#waiting.delete(worker.id);
    resolve?.();
  }

  /** Closes the master's descriptors of every slot socket. */
  close(): void {
    this.#closed = true;
    for (const socket of this.#sockets.values()) socket.listener.close();
  }

  /** The worker no longer accepts on its slot's socket: if nobody else of that slot does, the master does. */
  #leave(worker: HandleWorker): void {
    this.#waiting.get(worker.id)?.(); // gone: it will not answer takeBack
    const socket = this.#sockets.get(worker.slot);
    if (socket === undefined || !socket.workers.delete(worker.id) || socket.workers.size > 0) return;
    this.#trace?.worker(worker.id, worker.pid, `left slot ${socket.slot}'s socket: the master accepts on it and hands connections to the other workers`);
    if (!this.#full && !this.#closed) socket.listener.resume();
  }

  #coveredSockets(): SlotSocket[] {
    return [...this.#sockets.values()].filter((socket) => this.#takenBack || socket.workers.size === 0);
  }

  /** The slot's socket, bound (and accepted on by the master until a worker does) if the slot has none yet. */
  #socketOf(slot: number): SlotSocket {
    const existing = this.#sockets.get(slot);
    if (existing !== undefined) return existing;
    return this.#adopt(slot, Listener.bind(this.#host, this.#port, this.#reuseFlag));
  }

  #adopt(slot: number, listener: SlotListener): SlotSocket {
    const socket: SlotSocket = { slot, listener, workers: new Set(), takenByMaster: 0 };
    listener.onconnection = (client) => {
      socket.takenByMaster++;
      this.#uncovered.onconnection(client);
    };
    if (this.#full || this.#closed) listener.pause();
    this.#sockets.set(slot, socket);
    return socket;
  }
}
