// A dispatch handle per listening address, as Node's primary.js keeps
// `handles`, keyed by address; and the one line that chooses which kind of
// handle serves an address (primary.js queryServer: RoundRobinHandle, or
// SharedHandle under SCHED_NONE; handoff adds a third kind, a socket per
// slot: reuseport-handle.ts). Nothing checks the mode after that.

import type { DispatchObserver } from '../operations/metrics/dispatch-stats.js';
import type { Tracer } from '../trace.js';
import type { Scheduler } from '../scheduler/types.js';
import type { TcpHandle } from '../wire/node-internals.js';
import type { BoundAddress, Listener } from './listener.js';
import type { RoundRobinWorker } from './lane.js';
import { Dispatcher } from './round-robin-handle.js';
import { schedulingNoiseMs } from './scheduling-noise.js';
import { ReusePortHandle, type SlotListener, type SlotSocketStatus } from './reuseport-handle.js';
import { SharedHandle } from './shared-handle.js';

/** A worker as a dispatch handle sees it: it can take connections, or the listening socket itself. */
export interface HandleWorker extends RoundRobinWorker {
  sendListenHandle(handle: TcpHandle): boolean;
  /** shared, at shutdown: stop accepting on the listening socket and close your descriptor of it (answered with `unshared`). */
  sendUnshare(): boolean;
}

/** What both kinds of handle do, with Node's add/remove shape. */
export interface DispatchHandle {
  readonly key: string;
  /** When the master adds a worker: once it runs (the shared socket must reach it before it listens), or once it listens. */
  readonly addOn: 'online' | 'listening';
  readonly queued: number;
  readonly held: number;
  readonly accepting: boolean;
  add(worker: HandleWorker): void;
  /** No more connections for `worker`; false if it was not there. */
  remove(worker: HandleWorker): boolean;
  /** Its channel closed: take back what it never answered. */
  reclaim(worker: HandleWorker): void;
  /** It exited. */
  forget(worker: HandleWorker): void;
  acknowledge(worker: HandleWorker, accepted: readonly number[], refused: readonly number[]): void;
  roomAgain(worker: HandleWorker, retry: boolean): void;
  writeFailed(worker: HandleWorker, seq: number): void;
  handedTo(worker: HandleWorker): number;
  inFlightTo(worker: HandleWorker): number;
  /** Connection `seq` is in flight to `worker` from this handle. */
  holds(worker: HandleWorker, seq: number): boolean;
  whenEmpty(): Promise<void>;
  closeQueued(): number;
  /**
   * At shutdown, before the listener accepts its backlog and closes: from now
   * on only the master accepts on the socket (shared: the workers give it
   * back; rr: nothing to do). Resolves when done, or after `timeoutMs`.
   */
  takeBack(timeoutMs: number): Promise<void>;
  /** shared: `worker` no longer accepts on the socket, and closed its descriptor of it. */
  unshared(worker: HandleWorker): void;
  /** For a handle that added the worker when it ran (addOn 'online'): now its server listens. */
  listening?(worker: HandleWorker): void;
  /**
   * Workers are ready and none has a server here (an app that binds UDP only: primary/master/udp-only.ts).
   * While on, what the master accepts is closed at once, and nothing waits in its queue.
   */
  noServer(on: boolean): void;
  /** Every listening socket of this address, when there are more than the master's listener (reuseport: one per slot). */
  slotSockets?(): Array<Pick<SlotListener, 'acceptBacklog'>>;
  /** Closes the master's descriptors of those sockets (shutdown). */
  close?(): void;
  /** Who accepts on each of those sockets, for `handoff ctl status`. */
  status?(): SlotSocketStatus[] | undefined;
}

/** Node's key is address:port:addressType:fd; handoff binds by address and port. */
export function handleKey(address: BoundAddress): string {
  return `${address.address}:${address.port}:${address.family}`;
}

/** Which kind of handle serves an address: the master accepts; the workers accept on one socket; or on one socket per slot. */
export type HandleKind = 'round-robin' | 'shared' | 'reuseport';

/** What the dispatcher needs of the listening socket. */
export interface AcceptingSocket {
  onconnection: (client: TcpHandle) => void;
  /** Stop accepting: called when the master holds maxPending connections. */
  pause(): void;
  /** Accept again: called once the master holds half of that. */
  resume(): void;
}

/** The socket(s) a handle serves: one Listener, or a ListenerSet (several sockets as one, for the same workers). */
export type ListeningSockets = AcceptingSocket & Pick<Listener, 'address' | 'sharedHandle' | 'stopAccepting' | 'acceptAgain' | 'acceptBacklog' | 'close'>;

export interface HandleChoice {
  kind: HandleKind;
  /** The master's socket(s); for reuseport, bound with `reuseFlag`: slot 0's socket. */
  listener: ListeningSockets;
  scheduler: Scheduler;
  maxPending: number;
  trace: Tracer | null;
  /** reuseport: the slots to bind a socket for before anything is forked, and reusePortFlag(). */
  slots: number;
  reuseFlag: number;
  /** Counts and times for status and /metrics (operations/metrics/dispatch-stats.ts); the master's accept only. */
  observer?: DispatchObserver;
  /** The id written with each hand-off, so the worker gives it to the right server (0: the master's own). */
  id?: number;
  nextSeq?: () => number;
  /** The key, when not the bound address (a requested port 0 is one handle for every worker, as in Node). */
  key?: string;
}

export function createHandle(choice: HandleChoice): DispatchHandle {
  const { kind, listener, scheduler, maxPending, trace, observer, slots, reuseFlag, id, nextSeq } = choice;
  const key = choice.key ?? handleKey(listener.address);
  if (kind === 'round-robin') schedulingNoiseMs(); // start measuring now, not at the first connection
  const options = { maxPending, trace, observer, listener: id, nextSeq };
  // The one line: queryServer's `new RoundRobinHandle` or `new SharedHandle`, and handoff's third kind.
  return kind === 'reuseport'
    ? new ReusePortHandle(key, listener, { ...options, slots, reuseFlag, scheduler })
    : kind === 'shared'
      ? new SharedHandle(key, listener, scheduler, options)
      : new Dispatcher(key, listener, scheduler, { ...options, noiseMs: schedulingNoiseMs });
}
