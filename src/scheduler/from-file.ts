// `--scheduler ./my-scheduler.js`: loading a user's scheduler module.
//
// import() is asynchronous and createMaster() is not (it binds the port at
// once, so a busy port throws right there). So the module is loaded first --
// the CLI awaits loadScheduler() before it creates the master -- and
// createMaster() receives the scheduler itself. Programmatic users do the same:
//
//   createMaster({ script, scheduler: await loadScheduler('./my-scheduler.js') })
//
// The module's default export, or else its export named createScheduler, is
// a scheduler object, or a function (or class) that makes one.

import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { instantiate, invalid, isSchedulerPath } from './custom.js';
import { resolveScheduler } from './index.js';
import type { Scheduler } from './types.js';
import { errorSummary } from '../errors.js';

/**
 * Resolves what --scheduler accepts into what createMaster({ scheduler })
 * accepts: a built-in name is checked and returned as it is; a path (relative
 * to the working directory) is imported, and the scheduler it exports is
 * checked and returned. Rejects with a HandoffError (ERR_HANDOFF_UNKNOWN_SCHEDULER
 * or ERR_HANDOFF_INVALID_SCHEDULER) that says what is wrong.
 */
export async function loadScheduler(spec: string): Promise<string | Scheduler> {
  if (!isSchedulerPath(spec)) {
    resolveScheduler(spec); // throws for an unknown name
    return spec;
  }
  const source = `--scheduler ${spec}`;
  const file = path.resolve(spec);
  if (!fs.existsSync(file)) throw invalid(source, `no such file: ${file} (it is resolved from ${process.cwd()})`);

  let namespace: Record<string, unknown>;
  try {
    namespace = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (error) {
    throw invalid(source, `the module threw while loading: ${errorSummary(error)}`, error);
  }
  const [exported, what] = chooseExport(namespace);
  if (exported === undefined) {
    throw invalid(source, 'the module has no default export and no export named createScheduler: export a scheduler { name, pick(connection, workers) } or a function that returns one');
  }
  return instantiate(exported, source, what);
}

/** The default export if it is a scheduler or a factory; else createScheduler; else whatever the default is, for the error to describe. */
function chooseExport(namespace: Record<string, unknown>): [unknown, string] {
  let value = namespace['default'];
  // A CommonJS module compiled from ESM arrives as { __esModule, default }.
  if (isRecord(value) && value['__esModule'] === true && 'default' in value) value = value['default'];
  if (typeof value === 'function' || (isRecord(value) && 'pick' in value)) return [value, 'the default export'];
  // exports.createScheduler = ... in CommonJS shows up on the default export too.
  const factory = namespace['createScheduler'] ?? (isRecord(value) ? value['createScheduler'] : undefined);
  if (factory !== undefined) return [factory, 'createScheduler()'];
  return [value, 'the default export'];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
