// The one listening socket, owned by the master, bound before any fork.
//
// Like cluster's RoundRobinHandle, the master accepts on the raw libuv handle:
// an accepted connection arrives as a bare TCP handle, and no net.Socket is
// ever built for it here. Unlike cluster, the master can also stop accepting
// (pause) and start again (resume) without losing what waits in the kernel's
// backlog: see handle-dup.ts for the spare descriptor that makes it possible.

import net from 'node:net';
import util from 'node:util';
import { ListenError } from '../errors.js';
import { createServerHandle, type TcpHandle } from '../wire/node-internals.js';
import { HandleDuplicator } from './handle-dup.js';

/** Node's own default: the kernel rounds 511 + 1 up to a backlog of 512. */
const BACKLOG = 511;

export interface BoundAddress {
  address: string;
  port: number;
  family: 'IPv4' | 'IPv6';
}

/** How long acceptBacklog() goes on accepting connections that keep arriving. */
const MAX_ACCEPTING_MS = 250;

/**
 * At shutdown the backlog shrinks to 0: the kernel then completes at most one
 * handshake that accept() has not taken (its accept queue is full at one), and
 * drops the SYNs after it, which the client sends again a second later and is
 * then refused. (Linux answers those SYNs with cookies, and logs "Possible SYN
 * flooding on port ..." once per socket: see docs/operations.md.)
 */
const CLOSING_BACKLOG = 0;
/** How long the placeholder's handshake may take on loopback before we conclude a client holds the one place. */
const PLACEHOLDER_MS = 10;
/** How many times a client may take that place first before we close all the same. */
const PLACEHOLDER_TRIES = 8;

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class Listener {
  readonly address: BoundAddress;
  /** Called for every connection the master accepts. */
  onconnection: (client: TcpHandle) => void = (client) => client.close();

  /** The descriptor libuv polls for new connections; null while paused or stopped. */
  #accepting: TcpHandle | null;
  /** A second, never-polled descriptor of the same socket; keeps it listening while paused. */
  #spare: Promise<TcpHandle> | null = null;
  #duplicator: Promise<HandleDuplicator> | null = null;
  #wantPaused = false;
  #stopped = false;
  #closed = false;
  /** Held shut until open(): an adopted socket, until the master is ready to accept (a successor: until it takes over). */
  #gated = false;
  /** Connections accepted so far (to tell when a round of accepting found the backlog empty). */
  #accepted = 0;
  /**
   * Whether the shutdown may hold this socket's accept queue shut (acceptBacklog).
   * Not for a socket systemd holds too (it outlives this master: what waits in it
   * waits for the next one), nor for one of a SO_REUSEPORT group (our own
   * connection would land in whichever socket of the group the kernel picks).
   */
  readonly #holdsQueueAtClose: boolean;
  #backlog = BACKLOG;
  /** At shutdown: not polled while our own connection takes the accept queue's one place, so that no client's can (acceptBacklog). */
  #parked = false;
  #placeholder: net.Socket | null = null;
  /** Its local ports: accepted by mistake (a handshake we gave up on, then completed), it is closed, not dispatched. */
  readonly #placeholderPorts = new Set<number>();

  private constructor(handle: TcpHandle, address: BoundAddress, gated: boolean, holdsQueueAtClose: boolean) {
    this.address = address;
    this.#holdsQueueAtClose = holdsQueueAtClose;
    if (gated) {
      // Never polled until open(): the descriptor itself is the spare.
      this.#accepting = null;
      this.#spare = Promise.resolve(handle);
      this.#gated = true;
      return;
    }
    this.#accepting = handle;
    handle.onconnection = this.#onconnection;
    // Made now, while nothing is queued, so that the first pause() takes effect at once.
    this.#spare = this.#duplicate(handle);
  }

  /**
   * A socket that is already bound and listening, inherited as a descriptor
   * (inherited-socket.ts). Nothing is accepted on it until open(): connections
   * may already wait in its backlog (systemd starts the master on the first
   * one), and only the dispatch handle knows whether the master accepts them
   * (rr) or never does (shared).
   */
  static adopt(handle: TcpHandle, address: BoundAddress, keptBySystemd = false): Listener {
    return new Listener(handle, address, true, !keptBySystemd);
  }

  /**
   * Binds and listens, synchronously: a bad host or a busy port throws a ListenError here.
   * `reuseFlag` (reusePortFlag(), for a reuseport scheduler's per-slot sockets) lets
   * several Listeners bind the same port.
   */
  static bind(host: string | undefined, port: number, reuseFlag = 0): Listener {
    const address = host === 'localhost' ? '127.0.0.1' : host;
    const family = address === undefined ? 4 : net.isIP(address);
    if (family === 0) throw new ListenError(String(host), port, 'EINVAL: --host must be an IP address or localhost');
    const bound = Listener.tryBind(address ?? null, port, family === 6 ? 6 : 4, reuseFlag);
    if (typeof bound === 'number') throw new ListenError(address ?? '*', port, util.getSystemErrorName(bound)); // no host: all interfaces
    return bound;
  }

  /**
   * Binds and listens as cluster's primary does for a worker's listen()
   * (net._createServerHandle, then listen): the Listener, or the negative
   * errno (EADDRINUSE, EACCES...) to give back to that listen().
   */
  static tryBind(address: string | null, port: number, addressType: 4 | 6, reuseFlag = 0): Listener | number {
    const handle = createServerHandle(address, port, addressType, reuseFlag);
    if (typeof handle === 'number') return handle;
    const status = handle.listen(BACKLOG);
    if (status !== 0) {
      handle.close();
      return status;
    }
    const out: Record<string, unknown> = {};
    handle.getsockname(out);
    const bound: BoundAddress = { address: String(out['address']), port: Number(out['port']), family: out['family'] === 'IPv6' ? 'IPv6' : 'IPv4' };
    return new Listener(handle, bound, false, reuseFlag === 0);
  }

  // An arrow function, so libuv's call gets `this` right without a bind per connection.
  #onconnection = (status: number, client?: TcpHandle): void => {
    // A failed accept() (EMFILE, ECONNABORTED...) is not fatal: cluster once
    // crashed the primary here (nodejs/node#44202).
    if (status !== 0 || client === undefined) return;
    if (this.#placeholderPorts.size > 0 && this.#isPlaceholder(client)) return void client.close();
    this.#accepted++;
    this.onconnection(client);
  };

  get paused(): boolean {
    return this.#accepting === null && !this.#stopped;
  }

  /** Stop accepting; new connections wait in the kernel's backlog until resume(). */
  pause(): void {
    this.#wantPaused = true;
    void this.#applyPause();
  }

  /** Starts accepting on an adopted socket (unless it is paused, or the workers accept on it: shared). */
  open(): void {
    if (!this.#gated) return;
    this.#gated = false;
    if (!this.#wantPaused) this.resume();
  }

  resume(): void {
    this.#wantPaused = false;
    if (this.#gated || this.#parked) return;
    if (this.#accepting !== null || this.#stopped || this.#closed || this.#spare === null) return;
    const spare = this.#spare;
    this.#spare = null;
    void spare.then((handle) => {
      if (this.#closed) return handle.close();
      if (this.#wantPaused || this.#stopped || this.#accepting !== null) {
        this.#spare ??= Promise.resolve(handle);
        return;
      }
      handle.onconnection = this.#onconnection;
      handle.listen(this.#backlog);
      this.#accepting = handle;
      this.#spare = this.#duplicate(handle);
    });
  }

  /** For the shared scheduler: stop accepting here; workers accept on sharedHandle() (until acceptAgain()). */
  stopAccepting(): void {
    this.#stopped = true;
    void this.#applyPause();
  }

  /** shared, at shutdown: the master accepts again (see SharedHandle.takeBack). */
  acceptAgain(): void {
    this.#stopped = false;
    if (!this.#wantPaused) this.resume();
  }

  /** A descriptor of the listening socket that this process never polls, to send to workers. */
  async sharedHandle(): Promise<TcpHandle> {
    if (this.#spare === null && this.#accepting !== null) this.#spare = this.#duplicate(this.#accepting);
    if (this.#spare === null) throw new Error('listener is closed');
    return this.#spare;
  }

  /**
   * One more descriptor of the socket, for a successor to inherit: the caller
   * passes its fd to spawn() and closes it afterwards.
   */
  async duplicate(): Promise<TcpHandle> {
    if (this.#closed) throw new Error('listener is closed');
    const source = this.#accepting ?? (await this.#spare);
    if (source === null || source === undefined) throw new Error('listener is closed');
    return this.#duplicate(source);
  }

  async #applyPause(): Promise<void> {
    const accepting = this.#accepting;
    if (accepting === null) return;
    // Never close the last descriptor: make sure the spare exists first.
    this.#spare ??= this.#duplicate(accepting);
    try {
      await this.#spare;
    } catch {
      return; // no spare, no pause: keep accepting rather than lose the backlog
    }
    if ((this.#wantPaused || this.#stopped || this.#parked) && this.#accepting === accepting) {
      this.#accepting = null;
      accepting.close();
    }
  }

  #duplicate(handle: TcpHandle): Promise<TcpHandle> {
    this.#duplicator ??= HandleDuplicator.open();
    return this.#duplicator.then((duplicator) => duplicator.duplicate(handle));
  }

  /**
   * Before close(): accepts every connection the kernel has already completed
   * (closing the socket would reset them: gunicorn#3397), and leaves none
   * that could complete before close(). libuv accepts until EAGAIN each time
   * the socket polls readable, so a turn of the event loop that accepts
   * nothing means the backlog is empty. While the master is full (paused at
   * --max-pending, see the dispatcher), it waits for room, until `deadline`
   * (ms since the epoch). Then the queue, shrunk to one place, gets our own
   * connection in that place (#parkPlaceholder), so that a handshake arriving
   * from then on is dropped (the client sends its SYN again and is refused),
   * never completed and reset. Resolves with the number accepted.
   */
  async acceptBacklog(deadline: number): Promise<number> {
    if (this.#gated) return 0; // never opened: another master serves it (a successor shutting down before it took over)
    const start = this.#accepted;
    if (!this.#holdsQueueAtClose) return this.#acceptWhatWaits(deadline).then(() => this.#accepted - start);
    this.#backlog = CLOSING_BACKLOG;
    this.#accepting?.listen(CLOSING_BACKLOG);
    for (let tries = 1; ; tries++) {
      await this.#acceptWhatWaits(deadline);
      if (this.#closed || this.#stopped || Date.now() >= deadline || (await this.#parkPlaceholder())) break;
      if (tries === PLACEHOLDER_TRIES) break; // under a flood of new connections: close with at most one reset
    }
    return this.#accepted - start;
  }

  /** Accepts until a whole turn of the event loop brings nothing (or until `deadline`). */
  async #acceptWhatWaits(deadline: number): Promise<void> {
    let acceptingFor = 0;
    for (;;) {
      if (this.#closed || this.#stopped || Date.now() >= deadline) break;
      const before = this.#accepted;
      const polled = this.#accepting;
      const turnStart = Date.now();
      await nextTurn();
      await nextTurn(); // a whole turn, poll phase included, since the last look
      if (this.#accepting === null) {
        await new Promise((resolve) => setTimeout(resolve, 10).unref()); // full: wait for room
        continue;
      }
      // Room came back during these turns (resume() listens on the spare): libuv may not have
      // polled that descriptor yet, so nothing accepted says nothing about the backlog.
      if (this.#accepting !== polled) continue;
      if (this.#accepted === before) break; // accepting, and nothing came: the backlog is empty
      // Under steady load the backlog never stays empty: what keeps arriving came after the
      // signal, and is refused once the listener closes. Stop after a turn that accepted
      // until EAGAIN; the placeholder then takes the one place left.
      acceptingFor += Date.now() - turnStart;
      if (acceptingFor >= MAX_ACCEPTING_MS) break;
    }
  }

  /**
   * The accept queue is empty and holds one: stop polling, and fill its place
   * with a connection of our own. From then on no client's handshake can
   * complete, so close() resets only ours. False if a client took the place
   * first: it is accepted, and the caller tries again.
   */
  async #parkPlaceholder(): Promise<boolean> {
    if (this.#closed || this.#stopped || this.#accepting === null) return false;
    this.#parked = true;
    await this.#applyPause();
    if (this.#accepting !== null || this.#closed) return false;
    const host = this.address.address === '0.0.0.0' ? '127.0.0.1' : this.address.address === '::' ? '::1' : this.address.address;
    const placeholder = net.connect({ host, port: this.address.port });
    placeholder.on('error', () => undefined); // reset at close(), as intended; or never connected
    this.#placeholder = placeholder;
    const connected = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), PLACEHOLDER_MS);
      placeholder.once('connect', () => {
        clearTimeout(timer);
        resolve(true);
      });
      placeholder.once('close', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    // Its handshake may still complete after we give up: then it is accepted, and must not be dispatched.
    if (placeholder.localPort !== undefined) this.#placeholderPorts.add(placeholder.localPort);
    if (connected || this.#closed) return connected;
    placeholder.destroy();
    this.#placeholder = null;
    this.#parked = false;
    if (!this.#wantPaused) this.resume(); // a client holds the place: accept it
    return false;
  }

  #isPlaceholder(client: TcpHandle): boolean {
    const peer: Record<string, unknown> = {};
    client.getpeername(peer);
    return this.#placeholderPorts.has(Number(peer['port']));
  }

  /** Closes every descriptor: the port is free afterwards and the backlog is reset. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#accepting?.close();
    this.#accepting = null;
    void this.#spare?.then((handle) => handle.close()).catch(() => undefined);
    void this.#duplicator?.then((duplicator) => duplicator.close()).catch(() => undefined);
    this.#placeholder?.destroy();
  }
}
