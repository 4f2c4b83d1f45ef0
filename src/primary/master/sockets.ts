// The master's listening sockets and their dispatch: bound (or taken from
// systemd or an old master) in Master's constructor, before anything is
// forked, so a busy port or a scheduler that cannot serve them fails there,
// with nothing to clean up but the sockets themselves.

import type { Logger } from '../../cli/log.js';
import { defaultOptions, type ResolvedOptions } from '../../cli/options.js';
import { createHandle } from '../../dispatch/handles.js';
import { HandleTable, type InheritedListens } from '../../dispatch/handle-table.js';
import { takeInheritedSockets, type Inheritance } from '../../dispatch/inherited-socket.js';
import { ListenerSet } from '../../dispatch/listener-set.js';
import { HandoffError } from '../../errors.js';
import { capPendingToFdLimit } from '../../fd-limit.js';
import type { DispatchObserver } from '../../operations/metrics/dispatch-stats.js';
import { handleKind, reuseFlagFor, type SchedulerEntry } from '../../scheduler/index.js';
import type { Scheduler } from '../../scheduler/types.js';
import type { Tracer } from '../../trace.js';
import type { InheritedUdp } from '../../udp/udp-sockets.js';

export interface OpenedListeners {
  listeners: ListenerSet;
  inherited: Inheritance | undefined;
  /** SO_REUSEPORT's flag under reuseport, else 0. */
  reuseFlag: number;
}

/** Binds --host/--port, or takes the sockets passed; throws (with them closed) if the scheduler cannot serve them. */
export function openListeners(options: ResolvedOptions, scheduler: SchedulerEntry, log: Logger): OpenedListeners {
  const inherited = takeInheritedSockets();
  // reuseport binds every slot's socket on this port with SO_REUSEPORT (reuseport-handle.ts).
  const reuseFlag = reuseFlagFor(scheduler);
  const listeners = ListenerSet.open(options.host, options.port, inherited, reuseFlag);
  if (reuseFlag !== 0 && inherited !== undefined) {
    listeners.close();
    throw new HandoffError('ERR_HANDOFF_LISTEN', `--scheduler ${scheduler.name} binds a socket per slot itself and cannot serve sockets passed by ${inherited.source}: use rr, least-conn or ip-hash`);
  }
  if (scheduler.workersAccept && listeners.listeners.length > 1) {
    listeners.close();
    throw new HandoffError('ERR_HANDOFF_LISTEN', `--scheduler shared serves one listening socket, and this master was given ${listeners.listeners.length}: use rr, least-conn or ip-hash`);
  }
  if (inherited?.source === 'systemd') {
    const addresses = listeners.addresses.map((address) => `${address.address}:${address.port}`).join(', ');
    log.log('info', `serving on the listening socket${inherited.sockets.length === 1 ? '' : 's'} systemd passed (LISTEN_FDS=${inherited.sockets.length}): ${addresses}; --host and --port are not used`);
  }
  return { listeners, inherited, reuseFlag };
}

export interface HandleTableInput {
  options: ResolvedOptions;
  scheduler: SchedulerEntry;
  opened: OpenedListeners;
  log: Logger;
  trace: Tracer | null;
  observer: DispatchObserver;
  /** A successor's: the app's other ports, handed over by the master it replaces. */
  inherited?: InheritedListens & InheritedUdp;
}

/** The dispatch handle on the master's own sockets, and the table later listen()s add to; `scheduler` is the first handle's. */
export function createHandleTable({ options, scheduler: entry, opened, log, trace, observer, inherited }: HandleTableInput): { handle: HandleTable; scheduler: Scheduler } {
  const { listeners, reuseFlag } = opened;
  const report = (message: string): void => log.log('error', message);
  const scheduler = entry.create(report);
  const explicitPending = options.maxPending !== defaultOptions().maxPending;
  // Below this process's limit of open files; said if a value given by hand is lowered.
  const maxPending = capPendingToFdLimit(options.maxPending, options.workers, explicitPending ? (line) => log.log('info', line) : undefined);
  let seq = 0;
  const nextSeq = (): number => ++seq;
  const kind = handleKind(entry);
  const handleOf = { maxPending, trace, nextSeq, slots: options.workers, reuseFlag };
  try {
    const handle = new HandleTable(
      { listener: listeners, handle: createHandle({ ...handleOf, kind, listener: listeners, scheduler, id: 0, observer }) },
      // Each further address gets its own handle, with its own instance of the same scheduler (cluster: a RoundRobinHandle per key);
      // under reuseport, one socket the workers share (a socket per slot is for the master's own port).
      (id, listener, key) => createHandle({ ...handleOf, kind: kind === 'reuseport' ? 'shared' : kind, listener, scheduler: entry.create(report), id, key }),
      (message) => log.log('info', message),
      inherited,
    );
    return { handle, scheduler };
  } catch (error) {
    listeners.close(); // reuseport: a slot's socket could not be bound
    throw error;
  }
}
