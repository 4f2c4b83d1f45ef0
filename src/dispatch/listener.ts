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
import { delay, Placeholders, type PlaceOutcome } from './placeholders.js';

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
 * then refused. (With a backlog of 0 Linux answers SYNs with cookies, and logs
 * "Possible SYN flooding on port ..." once per socket: see docs/operations.md.)
 */
const CLOSING_BACKLOG = 0;
/** How many times a client may take that place first before we close all the same. */
const PLACEHOLDER_TRIES = 8;

/** How long stopping polling may take (it waits for the spare descriptor) before the queue is left as it is. */
const PAUSE_MS = 100;

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
  #holdingQueue = false;
  /** Our own connections to this socket, one of them holding the queue's place. */
  readonly #placeholders = new Placeholders();
  /** Time spent accepting under steady arrivals, over the whole of acceptBacklog(). */
  #acceptingFor = 0;

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
    if (this.#placeholders.includes(client)) return void client.close(); // ours: never dispatched
    this.#accepted++;
    this.onconnection(client);
  };

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
    if (this.#gated || this.#holdingQueue) return;
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
    if ((this.#wantPaused || this.#stopped || this.#holdingQueue) && this.#accepting === accepting) {
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
   * connection in that place (#holdQueue), so that a handshake arriving from
   * then on is dropped (the client sends its SYN again and is refused), never
   * completed and reset. Resolves with the number accepted.
   */
  async acceptBacklog(deadline: number): Promise<number> {
    if (this.#gated) return 0; // never opened: another master serves it (a successor shutting down before it took over)
    const start = this.#accepted;
    if (!this.#holdsQueueAtClose) return this.#acceptWhatWaits(deadline).then(() => this.#accepted - start);
    this.#backlog = CLOSING_BACKLOG;
    this.#accepting?.listen(CLOSING_BACKLOG);
    this.#acceptingFor = 0;
    for (let tries = 0; ; tries++) {
      await this.#acceptWhatWaits(deadline); // after a failed try: the client that took the place
      // After the last try, under a flood of new connections: what arrives in this instant may be reset.
      if (this.#closed || this.#stopped || Date.now() >= deadline || tries === PLACEHOLDER_TRIES) break;
      const held = await this.#holdQueue(deadline);
      if (held !== 'taken') break; // held; or it cannot be (no pause, no connection of ours): close as is
    }
    return this.#accepted - start;
  }

  /** Accepts until a whole turn of the event loop brings nothing (or until `deadline`). */
  async #acceptWhatWaits(deadline: number): Promise<void> {
    for (;;) {
      if (this.#closed || this.#stopped || Date.now() >= deadline) break;
      const before = this.#accepted;
      const polled = this.#accepting;
      const turnStart = Date.now();
      await nextTurn();
      await nextTurn(); // a whole turn, poll phase included, since the last look
      if (this.#accepting === null) {
        await delay(10); // full: wait for room
        continue;
      }
      // Room came back during these turns (resume() listens on the spare): libuv may not have
      // polled that descriptor yet, so nothing accepted says nothing about the backlog.
      if (this.#accepting !== polled) continue;
      if (this.#accepted === before) break; // accepting, and nothing came: the backlog is empty
      // Under steady load the backlog never stays empty: what keeps arriving came after the
      // signal, and is refused once the listener closes. Stop after a turn that accepted
      // until EAGAIN; the placeholder then takes the one place left.
      this.#acceptingFor += Date.now() - turnStart;
      if (this.#acceptingFor >= MAX_ACCEPTING_MS) break;
    }
  }

  /**
   * The accept queue is empty and holds one: stop polling, and fill its place
   * with a connection of our own. From then on no client's handshake can
   * complete, so close() resets only ours. 'taken' if a client took the place
   * first: polling again, the caller accepts it and tries again.
   */
  async #holdQueue(deadline: number): Promise<PlaceOutcome> {
    if (this.#closed || this.#stopped || this.#accepting === null) return 'cannot';
    this.#holdingQueue = true;
    // The pause waits for the spare descriptor, made long ago; bounded all the same.
    await Promise.race([this.#applyPause(), delay(Math.max(0, Math.min(PAUSE_MS, deadline - Date.now())))]);
    if (this.#accepting !== null || this.#closed) return this.#stopHolding('cannot');
    const outcome = await this.#placeholders.take(this.address.address, this.address.port);
    if (outcome === 'held') return outcome;
    return this.#closed ? 'cannot' : this.#stopHolding(outcome);
  }

  #stopHolding<T>(outcome: T): T {
    this.#holdingQueue = false;
    if (!this.#wantPaused) this.resume();
    return outcome;
  }

  /** Closes every descriptor: the port is free afterwards and the backlog is reset. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#accepting?.close();
    this.#accepting = null;
    void this.#spare?.then((handle) => handle.close()).catch(() => undefined);
    void this.#duplicator?.then((duplicator) => duplicator.close()).catch(() => undefined);
    this.#placeholders.destroy();
  }
}
