// The worker script a master runs: resolved once, checked before anything is bound or forked.

import fs from 'node:fs';
import path from 'node:path';
import { HandoffError } from '../errors.js';

/** The script's absolute path, or a coded error saying what is wrong with it. */
export function checkWorkerScript(script: string | undefined): string {
  if (script === undefined || script === '') {
    throw new HandoffError('ERR_HANDOFF_MISSING_SCRIPT', 'no worker script given: name the file to run, e.g. handoff examples/hello.js');
  }
  const absolute = path.resolve(script);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(absolute);
  } catch {
    throw new HandoffError('ERR_HANDOFF_SCRIPT_NOT_FOUND', `worker script not found: ${absolute} (check the path; it is resolved from ${process.cwd()})`);
  }
  if (stat.isDirectory()) {
    throw new HandoffError('ERR_HANDOFF_SCRIPT_IS_DIRECTORY', `worker script is a directory: ${absolute} (name the file to run, e.g. ${path.join(script, 'index.js')})`);
  }
  return absolute;
}
