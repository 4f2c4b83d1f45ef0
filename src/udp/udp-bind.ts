// A worker's dgram bind() through the master: cluster's _getServer() and
// shared() (child.js) for UDP.
//
// When cluster.isWorker, dgram's bind() resolves the address and then asks
// cluster._getServer() for the socket, unless the bind is exclusive
// (lib/dgram.js bindServerHandle). cluster-worker.ts sends that here: a
// `udp-request` to the master (udp-sockets.ts), whose reply carries the
// bound socket. The callback gives it to dgram, which puts it in place of
// its own unbound handle (replaceHandle) and starts reading
// (startListening): 'listening', then datagrams. A bind error comes back as
// the errno, which dgram emits as the socket's 'error' (bind EADDRINUSE ...).
//
// The first bind that succeeds makes the worker ready (`bound`), as cluster's
// child.js sends { act: 'listening', addressType: 'udp4' } once the socket
// emits 'listening': an app that binds UDP only is served like any other.
//
// As in child.js shared(), the handle's close() is wrapped to tell the
// master, which closes its copy once no worker holds the socket. At the
// drain the worker stops reading its shared sockets (recvStop), so new
// datagrams go to the workers that stay, while the app can still send its
// answers; cluster closes them at disconnect, and a later send() throws.

import os from 'node:os';
import { CMD, type MasterMessage, type WorkerMessage } from '../wire/protocol.js';
import type { UdpHandle } from '../wire/node-internals.js';

type Reply = Extract<MasterMessage, { type: 'udp-reply' }>;
type Callback = (errno: number, handle: unknown) => void;

/** What dgram passes to cluster._getServer() for a bind that is not exclusive. */
export interface UdpQuery {
  address: string;
  port: unknown;
  addressType: 'udp4' | 'udp6';
  flags: number | undefined;
}

const EBADF = -(os.constants.errno.EBADF ?? 9);

export class UdpBinds {
  readonly #send: (message: WorkerMessage) => void;
  readonly #bound: () => void;
  #nextRequest = 0;
  readonly #waiting = new Map<number, { callback: Callback; release: () => void }>();
  /** child.js `indexes`: this worker's open binds of one address, port and type, each with its index. */
  readonly #indexes = new Map<string, { next: number; open: Set<number> }>();
  /** The shared sockets this worker holds, to stop reading at the drain. */
  readonly #held = new Set<UdpHandle>();
  #draining = false;

  /** `bound`: a socket is in dgram's hands and listening (the runtime's readiness). */
  constructor(send: (message: WorkerMessage) => void, bound: () => void) {
    this.#send = send;
    this.#bound = bound;
  }

  /** cluster._getServer for a dgram bind(): ask the master. */
  share(query: UdpQuery, callback: Callback): void {
    // The C++ bind's own conversion (Uint32, then 16 bits), which cluster's primary applies to the same value.
    const port = (Number(query.port) >>> 0) & 0xffff;
    const flags = (query.flags ?? 0) >>> 0;
    const indexKey = `${query.address}:${port}:${query.addressType}`;
    const indexes = this.#indexes.get(indexKey) ?? { next: 0, open: new Set<number>() };
    this.#indexes.set(indexKey, indexes);
    const index = indexes.next++;
    indexes.open.add(index);
    const release = (): void => {
      indexes.open.delete(index);
      if (indexes.open.size === 0 && this.#indexes.get(indexKey) === indexes) this.#indexes.delete(indexKey);
    };
    const request = ++this.#nextRequest;
    this.#waiting.set(request, { callback, release });
    this.#send({ cmd: CMD, type: 'udp-request', request, address: query.address, port, addressType: query.addressType, flags, index });
  }

  /** The master's answer: the socket, or the bind's errno for dgram's 'error'. */
  answered(reply: Reply, handle: UdpHandle | undefined): void {
    const waiting = this.#waiting.get(reply.request);
    this.#waiting.delete(reply.request);
    if (waiting === undefined || reply.errno !== 0 || handle === undefined) {
      if (reply.errno === 0) this.#send({ cmd: CMD, type: 'udp-close', socket: reply.socket }); // not used: the master may close it
      handle?.close();
      waiting?.release();
      return waiting?.callback(reply.errno !== 0 ? reply.errno : EBADF, null);
    }
    this.#held.add(handle);
    const close = handle.close;
    let closed = false;
    handle.close = (...args: Parameters<UdpHandle['close']>): void => {
      if (!closed) {
        closed = true;
        this.#held.delete(handle);
        waiting.release();
        this.#send({ cmd: CMD, type: 'udp-close', socket: reply.socket });
      }
      close.apply(handle, args);
    };
    waiting.callback(0, handle); // dgram: replaceHandle(), startListening(), 'listening'
    if (this.#draining && !closed) handle.recvStop();
    else if (!closed) this.#bound();
  }

  /** The drain: no more datagrams for this worker; its sockets stay open for the app's answers. */
  stopReceiving(): void {
    this.#draining = true;
    for (const handle of this.#held) handle.recvStop();
  }
}
