// --pid-file: the master's pid, for init systems and scripts.

import fs from 'node:fs';
import path from 'node:path';
import { HandoffError } from '../errors.js';
import { isRunning } from '../operations/process-stats.js';

/** Writes our pid to `file`; refuses if it names another master that is still running. */
export function writePidFile(file: string): string {
  const absolute = path.resolve(file);
  const existing = Number(readOrEmpty(absolute).trim());
  if (Number.isSafeInteger(existing) && existing > 0 && existing !== process.pid && isRunning(existing)) {
    throw new HandoffError('ERR_HANDOFF_PID_FILE', `--pid-file ${absolute}: it names process ${existing}, which is still running; stop it or use another file`);
  }
  try {
    fs.writeFileSync(absolute, `${process.pid}\n`);
  } catch (error) {
    throw new HandoffError('ERR_HANDOFF_PID_FILE', `--pid-file ${absolute}: cannot write it (${(error as NodeJS.ErrnoException).code ?? error})`);
  }
  return absolute;
}

/** Removes the file if it still holds our pid. */
export function removePidFile(file: string): void {
  if (readOrEmpty(file).trim() === String(process.pid)) fs.rmSync(file, { force: true });
}

function readOrEmpty(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
