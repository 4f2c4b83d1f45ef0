// Every listening address the master holds, each with its dispatch handle:
// Node's `handles` map in primary.js, and its queryServer().
//
// The master's own listener (bound before any fork, from --port) is id 0. A
// worker's listen() on any other TCP address asks the master (a
// `listen-request`); the first ask binds it, once, and every later worker that
// asks for the same address is added to the same handle -- a handle per key,
// workers added as they listen, as in cluster. Each hand-off names its
// listener id, so the worker gives the connection to the server listening
// there. A bind error goes back to the asking listen() as its errno; the
// master itself never fails on it.
//
// The app's UDP sockets sit beside them (`udp`, udp/udp-sockets.ts), as
// they do in Node's map: a worker that exits lets go of them too, and the
// shutdown closes them with the rest.
//
// To the rest of the master the table is one DispatchHandle: it adds a worker
// to its own listener, takes it out of all of them, routes each ack to the
// handle the connection came from (seqs are unique across handles), and sums
// the counts. At shutdown every address is treated alike: each handle takes
// its shared socket back from the workers, and each socket's backlog is
// accepted and handed out before it closes (operations/shutdown.ts).
//
// In an upgrade the old master hands its successor a descriptor of every
// socket here (appSockets(), with what each listen() asked for), and the
// successor's table takes the inherited one for a key instead of binding an
// address the old master still holds (operations/upgrade/inherited-ports.ts);
// its UDP table does the same for the app's UDP sockets.

import util from 'node:util';
import type { ListenAddress } from '../wire/protocol.js';
import type { TcpHandle } from '../wire/node-internals.js';
import type { DispatchHandle, HandleWorker } from './handles.js';
import { Listener } from './listener.js';
import type { SharedHandle } from './shared-handle.js';
import type { SlotSocketStatus } from './reuseport-handle.js';
import { UdpSockets, type InheritedUdp } from '../udp/udp-sockets.js';

export interface ListenRequest {
  address: string | null;
  port: number;
  addressType: 4 | 6;
}

/** What the master answers a listen-request with. */
export type ListenAnswer =
  | { ok: true; id: number; address: ListenAddress; /** shared: the socket to send with the reply */ socket?: Promise<unknown> }
  | { ok: false; errno: number };

export interface ListenerEntry {
  id: number;
  key: string;
  address: ListenAddress;
  /** Workers it hands connections to (or that accept on it, under shared). */
  workers: Set<number>;
}

/** Makes the dispatch handle of a newly bound listener (same scheduler kind as the master's own). */
export type MakeHandle = (id: number, listener: Listener, key: string) => DispatchHandle;

/** What the table needs of the master's own sockets. */
export interface OwnSockets {
  readonly address: ListenAddress;
  close(): void;
  /** At shutdown: accept what the kernel has completed before closing (ListenerSet.acceptBacklog). */
  acceptBacklog(deadline: number): Promise<number>;
}

interface Entry extends ListenerEntry {
  listener: OwnSockets;
  handle: DispatchHandle;
  /** The app's other ports: what the listen() asked for, and the socket itself. */
  app?: { asked: ListenRequest; listener: Listener };
}

/** Sockets for the app's listen()s that this master did not bind: those the master it replaces handed over. */
export interface InheritedListens {
  /** "master 4242": who handed them over, for the log. */
  readonly from: string;
  /** The socket for `key`, once: undefined if none was handed over for it. */
  take(key: string): Listener | undefined;
}

/** Node's key is address:port:addressType:fd; a port asked for as 0 stays 0 here, so every worker shares one. */
export function listenKey(request: ListenRequest): string {
  return `${request.address ?? '*'}:${request.port}:${request.addressType}`;
}

/** "127.0.0.1:9100", ":8080" (all interfaces), "[::1]:80": an address as the app asked for it. */
export function showAddress(address: string | null | undefined, port: number): string {
  if (address === null || address === undefined || address === '' || address === '::' || address === '0.0.0.0') return `:${port}`;
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

export class HandleTable implements DispatchHandle {
  readonly #own: Entry;
  readonly #entries = new Map<number, Entry>();
  readonly #byKey = new Map<string, Entry>();
  readonly #make: MakeHandle;
  readonly #said: (message: string) => void;
  #nextId = 1;
  readonly #failures = new Set<string>();
  readonly #inherited: InheritedListens | undefined;
  /** The app's dgram sockets, bound once for every worker (cluster's SharedHandle for UDP). */
  readonly udp: UdpSockets;

  /** `own.listener`: the master's own sockets (a ListenerSet: --port, or inherited ones), served by one handle. */
  constructor(own: { listener: OwnSockets; handle: DispatchHandle }, make: MakeHandle, said: (message: string) => void, inherited?: InheritedListens & InheritedUdp) {
    this.#own = { id: 0, key: own.handle.key, address: own.listener.address, workers: new Set(), ...own };
    this.#entries.set(0, this.#own);
    this.#make = make;
    this.#said = said;
    this.#inherited = inherited;
    this.udp = new UdpSockets(inherited);
  }

  get key(): string {
    return this.#own.handle.key;
  }
  get addOn(): 'online' | 'listening' {
    return this.#own.handle.addOn;
  }
  get accepting(): boolean {
    return this.#own.handle.accepting;
  }
  get queued(): number {
    return this.#sum((handle) => handle.queued);
  }
  get held(): number {
    return this.#sum((handle) => handle.held);
  }

  /** Every listener, the master's own first: for status and the docs' "every listener". */
  listeners(): ListenerEntry[] {
    return [...this.#entries.values()].map(({ id, key, address, workers }) => ({ id, key, address, workers }));
  }

  /** queryServer: the handle for this address, bound now if nobody asked for it before, with `worker` added. */
  request(worker: HandleWorker, request: ListenRequest): ListenAnswer {
    const key = listenKey(request);
    let entry = this.#byKey.get(key);
    if (entry === undefined) {
      const inherited = this.#inherited?.take(key);
      const bound = inherited ?? Listener.tryBind(request.address, request.port, request.addressType);
      if (typeof bound === 'number') {
        const failure = `app's listen on ${showAddress(request.address, request.port)} failed: ${util.getSystemErrorName(bound)} (given to its listen() as the error)`;
        if (!this.#failures.has(failure)) this.#said(failure); // once: every worker, and every reload, asks again
        this.#failures.add(failure);
        return { ok: false, errno: bound };
      }
      const id = this.#nextId++;
      const asked = { address: request.address, port: request.port, addressType: request.addressType };
      entry = { id, key, address: bound.address, workers: new Set(), listener: bound, handle: this.#make(id, bound, key), app: { asked, listener: bound } };
      this.#entries.set(id, entry);
      this.#byKey.set(key, entry);
      const port = request.port === 0 ? ` (port ${bound.address.port})` : '';
      const how = inherited === undefined ? 'bound once by the master' : `the socket ${this.#inherited?.from} handed over`;
      this.#said(`app listens on ${showAddress(request.address, request.port)}${port}: ${how}, shared by every worker (listener ${id})`);
    }
    entry.workers.add(worker.id);
    if (entry.handle.addOn === 'online') return { ok: true, id: entry.id, address: entry.address, socket: (entry.handle as SharedHandle).share(worker) };
    entry.handle.add(worker);
    return { ok: true, id: entry.id, address: entry.address };
  }

  /** The worker closed its server on listener `id`. */
  closedBy(worker: HandleWorker, id: number): void {
    const entry = this.#entries.get(id);
    if (entry === undefined || id === 0) return;
    entry.workers.delete(worker.id);
    entry.handle.remove(worker);
  }

  /**
   * At shutdown, on every address: the workers give back each shared socket
   * (takeBack), so that the master's descriptors are the last and what waits
   * in a backlog can be accepted (slotSockets) instead of reset at close.
   */
  async takeBack(timeoutMs: number): Promise<void> {
    await Promise.all([...this.#entries.values()].map(({ handle }) => handle.takeBack(timeoutMs)));
  }
  /** The worker gave back every shared socket it had (one 'unshare' answers them all: child/listens.ts). */
  unshared(worker: HandleWorker): void {
    for (const { handle } of this.#entries.values()) handle.unshared(worker);
  }
  /** Every listening socket whose backlog the shutdown accepts: the master's own (reuseport's one per slot, else its listener set), then the app's other ports. */
  slotSockets(): Array<Pick<OwnSockets, 'acceptBacklog'>> {
    const own = this.#own.handle.slotSockets?.() ?? [this.#own.listener];
    return [...own, ...[...this.#entries.values()].filter((entry) => entry.id !== 0).map((entry) => entry.listener)];
  }
  /** For an upgrade: a new descriptor of each of the app's other sockets, with what its listen() asked for; the caller closes them. */
  appSockets(): Promise<Array<{ asked: ListenRequest; handle: TcpHandle }>> {
    const apps = [...this.#entries.values()].flatMap((entry) => (entry.app === undefined ? [] : [entry.app]));
    return Promise.all(apps.map(async ({ asked, listener }) => ({ asked, handle: await listener.duplicate() })));
  }
  /** reuseport: who accepts on each slot's socket, for status. */
  status(): SlotSocketStatus[] | undefined {
    return this.#own.handle.status?.();
  }
  listening(worker: HandleWorker): void {
    this.#own.handle.listening?.(worker);
  }
  /** Only the master's own sockets: an app that binds UDP only asked for no other. */
  noServer(on: boolean): void {
    this.#own.handle.noServer(on);
  }

  /** Closes every listening socket (no new connections anywhere), and the master's copies of the UDP sockets. */
  close(): void {
    for (const entry of this.#entries.values()) entry.listener.close();
    this.udp.close();
    this.#own.handle.close?.(); // reuseport: every slot's socket
  }

  // ---- DispatchHandle ----------------------------------------------------------------

  add(worker: HandleWorker): void {
    this.#own.workers.add(worker.id);
    this.#own.handle.add(worker);
  }

  remove(worker: HandleWorker): boolean {
    let removed = false;
    for (const { handle } of this.#entries.values()) removed = handle.remove(worker) || removed;
    return removed;
  }

  reclaim(worker: HandleWorker): void {
    for (const { handle } of this.#entries.values()) handle.reclaim(worker);
  }

  forget(worker: HandleWorker): void {
    this.udp.forget(worker);
    for (const entry of this.#entries.values()) {
      entry.workers.delete(worker.id);
      entry.handle.forget(worker);
    }
  }

  acknowledge(worker: HandleWorker, accepted: readonly number[], refused: readonly number[]): void {
    if (this.#entries.size === 1) return this.#own.handle.acknowledge(worker, accepted, refused);
    for (const { handle } of this.#entries.values()) {
      const mine = accepted.filter((seq) => handle.holds(worker, seq));
      const back = refused.filter((seq) => handle.holds(worker, seq));
      if (mine.length > 0 || back.length > 0) handle.acknowledge(worker, mine, back);
    }
  }

  roomAgain(worker: HandleWorker, retry: boolean): void {
    for (const { handle } of this.#entries.values()) handle.roomAgain(worker, retry);
  }

  writeFailed(worker: HandleWorker, seq: number): void {
    for (const { handle } of this.#entries.values()) if (handle.holds(worker, seq)) return handle.writeFailed(worker, seq);
  }

  handedTo(worker: HandleWorker): number {
    return this.#sum((handle) => handle.handedTo(worker));
  }
  inFlightTo(worker: HandleWorker): number {
    return this.#sum((handle) => handle.inFlightTo(worker));
  }
  holds(worker: HandleWorker, seq: number): boolean {
    return [...this.#entries.values()].some(({ handle }) => handle.holds(worker, seq));
  }

  async whenEmpty(): Promise<void> {
    await Promise.all([...this.#entries.values()].map(({ handle }) => handle.whenEmpty()));
  }

  closeQueued(): number {
    return this.#sum((handle) => handle.closeQueued());
  }

  #sum(count: (handle: DispatchHandle) => number): number {
    let total = 0;
    for (const { handle } of this.#entries.values()) total += count(handle);
    return total;
  }
}
