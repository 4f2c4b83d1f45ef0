// The scheduler table: the --scheduler value maps to an entry here, and
// nowhere else is a scheduler chosen.

import { HandoffError } from '../errors.js';
import { createIpHash } from './ip-hash.js';
import { createLeastConnections } from './least-conn.js';
import { createRoundRobin } from './round-robin.js';
import type { Scheduler } from './types.js';

export interface SchedulerEntry {
  readonly name: string;
  /** True for shared: workers accept on the listening socket; the master only places the rare connection it accepted itself. */
  readonly workersAccept: boolean;
  readonly description: string;
  create(): Scheduler;
}

export const builtInSchedulers: Readonly<Record<string, SchedulerEntry>> = {
  rr: {
    name: 'rr',
    workersAccept: false,
    description: 'the master accepts and deals connections out to the workers in turn (cluster SCHED_RR)',
    create: createRoundRobin,
  },
  shared: {
    name: 'shared',
    workersAccept: true,
    description: 'every worker accepts on the shared listening socket; the kernel picks (cluster SCHED_NONE)',
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
};

export function schedulerNames(): string[] {
  return Object.keys(builtInSchedulers);
}

export function resolveScheduler(name: string): SchedulerEntry {
  const entry = builtInSchedulers[name];
  if (entry === undefined) {
    throw new HandoffError(
      'ERR_HANDOFF_UNKNOWN_SCHEDULER',
      `--scheduler '${name}': expected one of ${schedulerNames().join(', ')}`,
    );
  }
  return entry;
}

export type { Scheduler, WorkerView, ConnectionInfo, SchedulerFactory, SchedulerChoice } from './types.js';
