// The UDP sockets the master binds for its workers: cluster's SharedHandle
// for dgram (shared_handle.js). primary.js queryServer() picks SharedHandle
// for every udp4/udp6 bind whatever the scheduling policy -- a datagram is
// not a connection, there is nothing to hand out -- and so does handoff,
// under every scheduler.
//
// A worker's dgram bind() that is not exclusive asks the master
// (udp-bind.ts). The first ask for a key binds it (createUdpHandle: what
// dgram._createSocketHandle does for cluster), and every worker that asks
// for the same key gets the same socket, sent with the reply as Node's
// 'dgram.Native'. The key is cluster's: address, port, type and the
// worker's index of that bind, so port 0 is one random port for every
// worker, and a worker's second bind of port 0 is a second socket.
//
// The master never reads from the socket: each datagram goes to whichever
// worker reads first (the kernel's choice, as under cluster). It keeps its
// copy while any worker holds the socket -- a reload's new workers get the
// same one, and datagrams wait in its buffer while no worker reads -- and
// closes it when the last of them closes it or exits, and at shutdown.
//
// In an upgrade the old master passes each socket here to its successor,
// with what its bind asked for (handover(): the key's fields and flags);
// the successor's first ask for the same key takes the inherited socket
// instead of binding a port the old master still holds (EADDRINUSE), so a
// port 0 stays the same port (../operations/upgrade/inherited-ports.ts).
// Until the takeover both masters' workers read from it: each datagram goes
// to whichever reads first, as between two workers.

import type { ListenAddress } from '../wire/protocol.js';
import { createUdpHandle, type UdpHandle } from '../wire/node-internals.js';

export interface UdpRequest {
  address: string;
  port: number;
  addressType: 'udp4' | 'udp6';
  flags: number;
  index: number;
}

export type UdpAnswer =
  | { ok: true; id: number; handle: UdpHandle; /** bound by this request (the first ask) */ fresh: boolean; port: number; /** "master 4242": the socket that master handed over */ from?: string }
  | { ok: false; errno: number };

/** UDP sockets this master did not bind: those the master it replaces handed over (InheritedPorts). */
export interface InheritedUdp {
  /** "master 4242": who handed them over, for the log. */
  readonly from: string;
  /** The socket for `key` (udpKey()), once, with the port it is bound to: undefined if none was handed over for it. */
  takeUdp?(key: string): { handle: UdpHandle; port: number } | undefined;
}

/** Cluster's key: a port asked for as 0 stays 0 here, so every worker's same bind shares one socket. */
export function udpKey(request: UdpRequest): string {
  return `${request.address}:${request.port}:${request.addressType}:${request.index}`;
}

interface Entry {
  id: number;
  key: string;
  /** What the first bind asked for: what an upgrade's successor is told. */
  asked: UdpRequest;
  handle: UdpHandle;
  /** As bound: port 0 asked is the port the kernel chose. */
  address: ListenAddress;
  /** Ids of the workers that hold it. */
  workers: Set<number>;
}

interface UdpWorker {
  readonly id: number;
}

export class UdpSockets {
  readonly #byKey = new Map<string, Entry>();
  readonly #byId = new Map<number, Entry>();
  #nextId = 1;
  readonly #inherited: InheritedUdp | undefined;

  constructor(inherited?: InheritedUdp) {
    this.#inherited = inherited;
  }

  /** queryServer for UDP: the socket for this key, bound now if nobody holds it, with `worker` holding it too. */
  request(worker: UdpWorker, request: UdpRequest): UdpAnswer {
    const key = udpKey(request);
    let entry = this.#byKey.get(key);
    const fresh = entry === undefined;
    const inherited = fresh ? this.#inherited?.takeUdp?.(key) : undefined;
    if (entry === undefined) {
      const bound = inherited?.handle ?? createUdpHandle(request.address, request.port, request.addressType, request.flags);
      if (typeof bound === 'number') return { ok: false, errno: bound }; // not kept: the next ask tries again, as in cluster
      const name: { port?: number } = {};
      bound.getsockname(name);
      const address: ListenAddress = { address: request.address, port: name.port ?? inherited?.port ?? request.port, family: request.addressType === 'udp6' ? 'IPv6' : 'IPv4' };
      const { port, addressType, flags, index } = request;
      entry = { id: this.#nextId++, key, asked: { address: request.address, port, addressType, flags, index }, handle: bound, address, workers: new Set() };
      this.#byKey.set(key, entry);
      this.#byId.set(entry.id, entry);
    }
    entry.workers.add(worker.id);
    const from = inherited === undefined ? {} : { from: this.#inherited?.from };
    return { ok: true, id: entry.id, handle: entry.handle, fresh, port: entry.address.port, ...from };
  }

  /**
   * For an upgrade: every socket held, with what its first bind asked for.
   * The handles are the master's own copies, not duplicates: the caller
   * passes their descriptors to the successor and must not close them.
   */
  handover(): Array<{ asked: UdpRequest; handle: UdpHandle }> {
    return [...this.#byId.values()].map(({ asked, handle }) => ({ asked, handle }));
  }

  /** Every socket held, for the ready line and status: its bound address, and how many workers hold it. */
  list(): Array<{ id: number; address: ListenAddress; workers: number }> {
    return [...this.#byId.values()].map(({ id, address, workers }) => ({ id, address, workers: workers.size }));
  }

  /** The worker closed its socket `id` (or never got it). */
  closedBy(worker: UdpWorker, id: number): void {
    const entry = this.#byId.get(id);
    if (entry !== undefined) this.#leave(entry, worker.id);
  }

  /** The worker exited: it holds none of them any more. */
  forget(worker: UdpWorker): void {
    for (const entry of [...this.#byId.values()]) this.#leave(entry, worker.id);
  }

  /** At shutdown: the master's copies; each worker's own closes with it. */
  close(): void {
    for (const entry of this.#byId.values()) entry.handle.close();
    this.#byId.clear();
    this.#byKey.clear();
  }

  #leave(entry: Entry, workerId: number): void {
    if (!entry.workers.delete(workerId) || entry.workers.size > 0) return;
    entry.handle.close();
    this.#byId.delete(entry.id);
    this.#byKey.delete(entry.key);
  }
}
