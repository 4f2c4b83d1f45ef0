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
import { CMD } from '../wire/protocol.js';
import type { TcpHandle } from '../wire/node-internals.js';
import type { Listener } from './listener.js';
import { sendSafely } from '../wire/transport.js';

export class SharedSocket {
  readonly #handle: Promise<TcpHandle>;

  constructor(listener: Listener) {
    this.#handle = listener.sharedHandle();
    listener.stopAccepting();
  }

  /** Sends the listening socket to a newly forked worker. */
  async giveTo(child: ChildProcess): Promise<boolean> {
    const handle = await this.#handle;
    return sendSafely(child, { cmd: CMD, type: 'listen-handle' }, handle);
  }
}
