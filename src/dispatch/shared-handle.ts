// shared: every worker accepts on the master's listening socket itself -- Node's
// SharedHandle (lib/internal/cluster/shared_handle.js), SCHED_NONE.
//
// The master bound the socket before forking; it sends each worker (and each
// later replacement) a descriptor of it, and never accepts on it again. Which
// worker gets a connection is up to the kernel: on Linux, whichever process
// is woken first, which is why load can skew (Node's docs report 70% of
// connections landing on two processes out of eight).
//
// The descriptor the master keeps is never polled by the master's own event
// loop (see handle-dup.ts), so it cannot steal connections from the workers.
// The master holds no connection, so everything about hand-offs is empty here.

import type { TcpHandle } from '../wire/node-internals.js';
import type { DispatchHandle, HandleWorker } from './handles.js';
import type { Listener } from './listener.js';

export class SharedHandle implements DispatchHandle {
  readonly key: string;
  /** The socket must reach the worker before its server can listen. */
  readonly addOn = 'online';
  readonly queued = 0;
  readonly held = 0;
  readonly accepting = true;
  readonly #handle: Promise<TcpHandle>;
  readonly #workers = new Set<number>();

  // SharedHandle(key, address, ...): one bound socket, never accepted on by the master.
  constructor(key: string, listener: Pick<Listener, 'sharedHandle' | 'stopAccepting'>) {
    this.key = key;
    this.#handle = listener.sharedHandle();
    listener.stopAccepting();
  }

  // SharedHandle.prototype.add: send the listening socket itself to the worker.
  add(worker: HandleWorker): void {
    this.#workers.add(worker.id);
    void this.#handle.then((handle) => worker.sendListenHandle(handle));
  }

  // SharedHandle.prototype.remove: forget the worker (the socket stays open for the others).
  remove(worker: HandleWorker): boolean {
    return this.#workers.delete(worker.id);
  }

  forget(worker: HandleWorker): void {
    this.remove(worker);
  }

  reclaim(): void {}
  acknowledge(): void {}
  roomAgain(): void {}
  writeFailed(): void {}
  handedTo(): number {
    return 0;
  }
  inFlightTo(): number {
    return 0;
  }
  holds(): boolean {
    return false;
  }
  /** The listening socket itself, for a worker that asked for this address (it rides with the listen reply). */
  socket(): Promise<TcpHandle> {
    return this.#handle;
  }
  whenEmpty(): Promise<void> {
    return Promise.resolve();
  }
  closeQueued(): number {
    return 0;
  }
}
