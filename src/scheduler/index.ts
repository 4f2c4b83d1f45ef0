// The scheduler table: the --scheduler value maps to an entry here, and
// nowhere else is a scheduler chosen. A value that looks like a path names a
// user's module instead (from-file.ts).

import { HandoffError } from '../errors.js';
import { customEntry, invalid, isSchedulerPath } from './custom.js';
import { createIpHash } from './ip-hash.js';
import { createLeastConnections } from './least-conn.js';
import { createRoundRobin } from './round-robin.js';
import type { Scheduler, SchedulerChoice } from './types.js';
import type { HandleKind } from '../dispatch/handles.js';
import { reusePortFlag } from '../wire/node-internals.js';

export interface SchedulerEntry {
  readonly name: string;
  /** True for shared: workers accept on the listening socket; the master only places the rare connection it accepted itself. */
  readonly workersAccept: boolean;
  /** reuseport: each slot gets its own listening socket on the port (SO_REUSEPORT), which its worker accepts on. */
  readonly socketPerSlot?: boolean;
  readonly description: string;
  /** Makes the master's scheduler; `report` receives a user scheduler's run-time problems (see guard.ts). */
  create(report?: (message: string) => void): Scheduler;
}

export const builtInSchedulers: Readonly<Record<string, SchedulerEntry>> = {
  rr: {
    name: 'rr',
    workersAccept: false,
    description: 'the master accepts and deals connections out to the workers in turn (cluster SCHED_RR)',
    create: createRoundRobin,
  },
  'least-conn': {
    name: 'least-conn',
    workersAccept: false,
    description: 'the master gives each connection to the worker with the fewest open connections',
    create: createLeastConnections,
  },
  'ip-hash': {
    name: 'ip-hash',
    workersAccept: false,
    description: 'the master gives every connection from one client address to the same worker',
    create: createIpHash,
  },
  shared: {
    name: 'shared',
    workersAccept: true,
    description: 'every worker accepts on the shared listening socket; the kernel picks (cluster SCHED_NONE)',
    create: createRoundRobin,
  },
  reuseport: {
    name: 'reuseport',
    workersAccept: true,
    socketPerSlot: true,
    description: 'a listening socket per worker slot on one port (SO_REUSEPORT, Node 22.12+); the kernel picks by address hash',
    // Places only what the master accepts on a slot's socket while no worker does.
    create: createRoundRobin,
  },
};

/** What --scheduler is when nobody says (the bench reads it too, to know which contender is "the default"). */
export const defaultScheduler = 'rr';
/** The kind of dispatch handle an entry needs (handles.ts). */
export function handleKind(entry: SchedulerEntry): HandleKind {
  return entry.socketPerSlot === true ? 'reuseport' : entry.workersAccept ? 'shared' : 'round-robin';
}

/** False for reuseport where this Node has no SO_REUSEPORT (before 22.12 / 23.1): it would be refused at start. */
export function runsOnThisNode(entry: SchedulerEntry): boolean {
  return entry.socketPerSlot !== true || reusePortFlag() !== undefined;
}

/**
 * The libuv bind flag for SO_REUSEPORT if the entry needs one (0 if not);
 * where this Node has none (before 22.12 / 23.1), one line saying so.
 */
export function reuseFlagFor(entry: SchedulerEntry): number {
  if (entry.socketPerSlot !== true) return 0;
  const flag = reusePortFlag();
  if (flag === undefined) {
    throw new HandoffError('ERR_HANDOFF_UNSUPPORTED_NODE', `--scheduler ${entry.name} needs Node.js 22.12 or newer (SO_REUSEPORT for each slot's socket); this is Node ${process.version}`);
  }
  return flag;
}

export function schedulerNames(): string[] {
  return Object.keys(builtInSchedulers);
}

/** The entry for a built-in name, or for a user's scheduler (object or factory) given to createMaster(). */
export function resolveScheduler(choice: SchedulerChoice): SchedulerEntry {
  if (typeof choice !== 'string') return customEntry(choice, 'createMaster({ scheduler })');
  const name = choice;
  if (isSchedulerPath(name)) {
    throw invalid(`--scheduler ${name}`, `a module must be loaded before the master starts: createMaster({ scheduler: await loadScheduler('${name}') })`);
  }
  const entry = builtInSchedulers[name];
  if (entry === undefined) {
    throw new HandoffError(
      'ERR_HANDOFF_UNKNOWN_SCHEDULER',
      `--scheduler '${name}': expected one of ${schedulerNames().join(', ')}, or the path of a scheduler module (./my-scheduler.js)`,
    );
  }
  return entry;
}

export type { Scheduler, WorkerView, ConnectionInfo, SchedulerFactory, SchedulerChoice } from './types.js';
