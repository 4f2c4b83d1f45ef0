// A connection the master has accepted and still holds, and the queue of
// those not yet sent to a worker (Node's RoundRobinHandle keeps `handles`, a
// plain array; this one can also put a connection back at the front).

import type { TcpHandle } from '../wire/node-internals.js';
import type { ConnectionInfo } from '../scheduler/types.js';

export class PendingConnection implements ConnectionInfo {
  readonly seq: number;
  /** Internal: the accepted libuv handle. Schedulers only see ConnectionInfo. */
  readonly handle: TcpHandle;
  /** Which of the master's listeners accepted it (0: its own, from --port); the worker routes by it. */
  readonly listener: number;
  attempts = 0;
  /** When the master accepted it, on the dispatcher's clock (ms): the start of its hand-off latency. */
  readonly acceptedAt: number;
  #remoteAddress: string | undefined;

  constructor(seq: number, handle: TcpHandle, listener = 0, acceptedAt = 0) {
    this.seq = seq;
    this.handle = handle;
    this.listener = listener;
    this.acceptedAt = acceptedAt;
  }

  /**
   * The client is still there. One that reset while its connection waited in
   * the master is dropped, not handed out: its socket has no peer any more
   * (ENOTCONN), and Bun's cluster shipped such a descriptor, already reused
   * for another socket, to a worker (oven-sh/bun#31829).
   */
  peerAlive(): boolean {
    const out: Record<string, unknown> = {};
    return this.handle.getpeername(out) === 0;
  }

  get remoteAddress(): string {
    if (this.#remoteAddress === undefined) {
      const out: Record<string, unknown> = {};
      this.#remoteAddress = this.handle.getpeername(out) === 0 ? String(out['address']) : '';
    }
    return this.#remoteAddress;
  }
}

/** A FIFO that can also put a connection back at the front, in O(1) amortised. */
export class ConnectionQueue {
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
