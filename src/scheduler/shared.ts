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

import type { ChildProcess } from 'node:child_process';
import { CMD, type WorkerMessage } from '../protocol.js';
import type { TcpHandle } from '../node-internals.js';
import type { Listener } from '../master/listener.js';
import { sendSafely } from '../master/transport.js';

/** What takeBack() needs of a worker. */
export interface SharingWorker {
  readonly process: ChildProcess;
  on(event: 'internal', listener: (message: WorkerMessage) => void): unknown;
  off(event: 'internal', listener: (message: WorkerMessage) => void): unknown;
  once(event: 'exit', listener: () => void): unknown;
}

export class SharedSocket {
  readonly #handle: Promise<TcpHandle>;
  readonly #listener: Listener;

  constructor(listener: Listener) {
    this.#listener = listener;
    this.#handle = listener.sharedHandle();
    listener.stopAccepting();
  }

  /**
   * At shutdown: the master accepts again, and every worker stops accepting
   * and closes its descriptor of the socket (connections reach it as
   * hand-offs, as in rr). Resolves once every worker said so (or exited), or
   * after `timeoutMs`. Then the master's descriptors are the socket's last:
   * it can accept what the kernel completed and close it, and no connection
   * waits in a backlog that a worker's exit would reset.
   */
  async takeBack(workers: readonly SharingWorker[], timeoutMs: number): Promise<void> {
    this.#listener.acceptAgain();
    let timer: NodeJS.Timeout | undefined;
    const answered = workers.map(
      (worker) =>
        new Promise<void>((resolve) => {
          const onMessage = (message: WorkerMessage): void => {
            if (message.type !== 'unshared') return;
            worker.off('internal', onMessage);
            resolve();
          };
          worker.on('internal', onMessage);
          worker.once('exit', () => resolve());
          if (!sendSafely(worker.process, { cmd: CMD, type: 'unshare' })) resolve();
        }),
    );
    await Promise.race([Promise.all(answered), new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }

  /** Sends the listening socket to a newly forked worker. */
  async giveTo(child: ChildProcess): Promise<boolean> {
    const handle = await this.#handle;
    return sendSafely(child, { cmd: CMD, type: 'listen-handle' }, handle);
  }
}
