// shared: every worker accepts on the master's listening socket itself -- Node's
// SharedHandle (lib/internal/cluster/shared_handle.js), SCHED_NONE.
//
// The master bound the socket before forking; it sends each worker (and each
// later replacement) a descriptor of it, and does not accept on it. (One of
// the app's other ports is bound at the first worker's listen(), and its
// socket rides with each worker's listen reply: share().) Which
// worker gets a connection is up to the kernel: on Linux, whichever process
// is woken first, which is why load can skew (Node's docs report 70% of
// connections landing on two processes out of eight).
//
// The descriptor the master keeps is never polled by the master's own event
// loop (see handle-dup.ts), so it cannot steal connections from the workers.
// The master holds no connection, so everything about hand-offs is empty here
// -- until the shutdown: takeBack() makes the master the socket's only
// acceptor, so that what waits in the kernel's backlog is accepted and handed
// out (through a round-robin handle) before the socket closes, instead of
// being reset when the last worker holding it exits (gunicorn#3397).

import type { Scheduler } from '../scheduler/types.js';
import type { TcpHandle } from '../wire/node-internals.js';
import type { DispatchHandle, HandleWorker } from './handles.js';
import type { ListeningSockets } from './handles.js';
import { Dispatcher, type DispatcherOptions } from './round-robin-handle.js';

export class SharedHandle implements DispatchHandle {
  readonly key: string;
  /** The socket must reach the worker before its server can listen. */
  readonly addOn = 'online';
  readonly #listener: ListeningSockets;
  readonly #scheduler: Scheduler;
  readonly #options: DispatcherOptions;
  readonly #handle: Promise<TcpHandle>;
  /** Workers sent the socket, and not closing yet. */
  readonly #workers = new Map<number, HandleWorker>();
  /** Those whose server listens on it (not a worker that is ready by a UDP bind alone). */
  readonly #serving = new Set<number>();
  /** From takeBack() on: the master accepts, and hands out through this. */
  #dispatcher: Dispatcher | undefined;
  /** takeBack(): each worker yet to say it gave the socket back. */
  readonly #waiting = new Map<number, () => void>();

  // SharedHandle(key, address, ...): one bound socket, not accepted on by the master (until takeBack()).
  constructor(key: string, listener: ListeningSockets, scheduler: Scheduler, options: DispatcherOptions) {
    this.key = key;
    this.#listener = listener;
    this.#scheduler = scheduler;
    this.#options = options;
    this.#handle = listener.sharedHandle();
    listener.stopAccepting();
  }

  get queued(): number {
    return this.#dispatcher?.queued ?? 0;
  }

  get held(): number {
    return this.#dispatcher?.held ?? 0;
  }

  get accepting(): boolean {
    return this.#dispatcher?.accepting ?? true;
  }

  // SharedHandle.prototype.add: send the listening socket itself to the worker.
  add(worker: HandleWorker): void {
    this.#workers.set(worker.id, worker);
    void this.#handle.then((handle) => worker.sendListenHandle(handle));
  }

  // SharedHandle.prototype.remove: forget the worker (the socket stays open for the others).
  // A closing worker closes its server, and with it its descriptor of the socket.
  remove(worker: HandleWorker): boolean {
    this.#dispatcher?.remove(worker);
    this.#serving.delete(worker.id);
    this.#gaveBack(worker.id);
    return this.#workers.delete(worker.id);
  }

  forget(worker: HandleWorker): void {
    this.remove(worker);
    this.#dispatcher?.forget(worker);
  }

  /** Its server listens on the socket: at takeBack(), one to hand connections to. */
  listening(worker: HandleWorker): void {
    if (this.#workers.has(worker.id)) this.#serving.add(worker.id);
  }

  /**
   * Workers are ready and none has a server (an app that binds UDP only): nobody accepts on the socket,
   * so the master does, and closes what it accepts, until a worker's server listens (off).
   */
  noServer(on: boolean): void {
    if (this.#dispatcher !== undefined) return this.#dispatcher.noServer(on); // shutting down: the master accepts anyway
    if (!on) return this.#listener.stopAccepting();
    this.#listener.onconnection = (client) => client.close();
    this.#listener.acceptAgain();
  }

  /**
   * At shutdown: the master accepts again, and every worker stops accepting
   * and closes its descriptor of the socket; connections reach the listening
   * ones as hand-offs, as in rr. Resolves once every worker said so (or left),
   * or after `timeoutMs`. Then the master's descriptors are the socket's last:
   * it can accept what the kernel completed and close it.
   */
  async takeBack(timeoutMs: number): Promise<void> {
    if (this.#dispatcher !== undefined) return;
    const dispatcher = new Dispatcher(this.key, this.#listener, this.#scheduler, this.#options);
    this.#dispatcher = dispatcher;
    for (const worker of this.#workers.values()) if (this.#serving.has(worker.id)) dispatcher.add(worker);
    this.#listener.acceptAgain();
    const answers = [...this.#workers.values()].map(
      (worker) =>
        new Promise<void>((resolve) => {
          this.#waiting.set(worker.id, resolve);
          if (!worker.sendUnshare()) this.#gaveBack(worker.id);
        }),
    );
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(answers), new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    this.#waiting.clear();
  }

  unshared(worker: HandleWorker): void {
    this.#gaveBack(worker.id);
  }

  #gaveBack(id: number): void {
    const resolve = this.#waiting.get(id);
    this.#waiting.delete(id);
    resolve?.();
  }

  // Hand-offs happen only after takeBack(): until then, there is nothing to do.
  reclaim(worker: HandleWorker): void {
    this.#dispatcher?.reclaim(worker);
  }
  acknowledge(worker: HandleWorker, accepted: readonly number[], refused: readonly number[]): void {
    this.#dispatcher?.acknowledge(worker, accepted, refused);
  }
  roomAgain(worker: HandleWorker, retry: boolean): void {
    this.#dispatcher?.roomAgain(worker, retry);
  }
  writeFailed(worker: HandleWorker, seq: number): void {
    this.#dispatcher?.writeFailed(worker, seq);
  }
  handedTo(worker: HandleWorker): number {
    return this.#dispatcher?.handedTo(worker) ?? 0;
  }
  inFlightTo(worker: HandleWorker): number {
    return this.#dispatcher?.inFlightTo(worker) ?? 0;
  }
  /** From takeBack() on: a hand-off of this socket's, so that the table routes its answer here. */
  holds(worker: HandleWorker, seq: number): boolean {
    return this.#dispatcher?.holds(worker, seq) ?? false;
  }
  /**
   * The listening socket itself, for a worker that asked for this address (it
   * rides with the listen reply): the worker is one of this socket's, so that
   * a shutdown's takeBack() asks it to give the socket back and hands it what
   * the master then accepts here.
   */
  share(worker: HandleWorker): Promise<TcpHandle> {
    this.#workers.set(worker.id, worker);
    this.#serving.add(worker.id); // the server that asked listens on the socket as soon as it arrives
    return this.#handle;
  }
  whenEmpty(): Promise<void> {
    return this.#dispatcher?.whenEmpty() ?? Promise.resolve();
  }
  closeQueued(): number {
    return this.#dispatcher?.closeQueued() ?? 0;
  }
}
