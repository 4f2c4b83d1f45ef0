// A scheduler that is not built in: the user's own, given to createMaster()
// as an object or a factory, or loaded from a module by from-file.ts. It is
// checked once, at start-up, and every missing or mistyped member is named,
// so a wrong module fails there with one clear line instead of at the first
// connection.

import { errorSummary, HandoffError } from '../errors.js';
import { guardScheduler } from './guard.js';
import type { SchedulerEntry } from './index.js';
import type { Scheduler, SchedulerFactory } from './types.js';

/** Anything that looks like a path names a module: ./x.js, ../x, /abs/x, x.mjs. */
export function isSchedulerPath(spec: string): boolean {
  return spec.startsWith('.') || spec.startsWith('/') || /\.[cm]?js$/.test(spec);
}

/** What every scheduler must have, and what it may have; the wording goes into the error as is. */
const members: ReadonlyArray<{ key: keyof Scheduler; type: 'string' | 'function' | 'boolean'; shown: string; required: boolean }> = [
  { key: 'name', type: 'string', shown: 'name (a string)', required: true },
  { key: 'pick', type: 'function', shown: 'pick(connection, workers) (a function)', required: true },
  { key: 'explain', type: 'function', shown: 'explain(connection, worker)', required: false },
  { key: 'add', type: 'function', shown: 'add(worker)', required: false },
  { key: 'remove', type: 'function', shown: 'remove(worker)', required: false },
  { key: 'needsLoadReports', type: 'boolean', shown: 'needsLoadReports', required: false },
];

/** `candidate` if it is a scheduler; otherwise throws ERR_HANDOFF_INVALID_SCHEDULER naming each problem. `source` says where it came from. */
export function checkScheduler(candidate: unknown, source: string): Scheduler {
  if (typeof candidate !== 'object' || candidate === null) {
    throw invalid(source, `expected a scheduler { name, pick(connection, workers) } or a function that returns one, got ${kindOf(candidate)}`);
  }
  const record = candidate as Record<string, unknown>;
  const missing: string[] = [];
  const wrong: string[] = [];
  for (const member of members) {
    const value = record[member.key];
    if (value === undefined) {
      if (member.required) missing.push(member.shown);
    } else if (typeof value !== member.type || (member.type === 'string' && value === '')) {
      wrong.push(`${member.shown.replace(/ \(.*\)$/, '')} must be ${member.type === 'string' ? 'a non-empty string' : `a ${member.type}`}, not ${kindOf(value)}`);
    }
  }
  const problems = [...(missing.length > 0 ? [`the scheduler is missing ${missing.join(' and ')}`] : []), ...wrong];
  if (problems.length > 0) throw invalid(source, problems.join('; '));
  return candidate as Scheduler;
}

/** A scheduler from an object, or from a factory (a function, or a class), checked. */
export function instantiate(choice: unknown, source: string, what = 'the factory'): Scheduler {
  if (typeof choice !== 'function') return checkScheduler(choice, source);
  let made: unknown;
  try {
    made = isClass(choice) ? new (choice as new () => unknown)() : (choice as SchedulerFactory)();
  } catch (error) {
    throw invalid(source, `${what} threw: ${errorSummary(error)}`, error);
  }
  return checkScheduler(made, source);
}

/** The table entry for a user's scheduler; `report` receives its run-time problems (guard.ts). */
export function customEntry(choice: Scheduler | SchedulerFactory, source: string): SchedulerEntry {
  const scheduler = instantiate(choice, source);
  return {
    name: scheduler.name,
    workersAccept: false,
    description: `a user's scheduler (${source})`,
    create: (report: (message: string) => void = () => undefined) => guardScheduler(scheduler, report),
  };
}

export function invalid(source: string, problem: string, cause?: unknown): HandoffError {
  return new HandoffError('ERR_HANDOFF_INVALID_SCHEDULER', `${source}: ${problem}`, cause === undefined ? undefined : { cause });
}

function isClass(fn: unknown): boolean {
  return /^class\b/.test(Function.prototype.toString.call(fn));
}

function kindOf(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string '${value}'`;
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}
