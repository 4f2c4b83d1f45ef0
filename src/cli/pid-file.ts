// --pid-file: the master's pid, for init systems and scripts.

import fs from 'node:fs';
import path from 'node:path';
import { HandoffError } from '../errors.js';
import { isRunning } from '../operations/process-stats.js';

/**
 * Writes our pid to `file`; refuses if it names another master that is still
 * running, unless it is the one we replace (`replacing`, in an upgrade).
 */
export function writePidFile(file: string, options: { replacing?: number } = {}): string {
  const absolute = path.resolve(file);
  const existing = Number(readOrEmpty(absolute).trim());
  if (Number.isSafeInteger(existing) && existing > 0 && existing !== process.pid && existing !== options.replacing && isRunning(existing)) {
    throw new HandoffError('ERR_HANDOFF_PID_FILE', `--pid-file ${absolute}: it names process ${existing}, which is still running; stop it or use another file`);
  }
  try {
    // Written aside and renamed over: whoever reads it (systemd's PIDFile=, a script) never sees it empty,
    // not even while a new master takes it over in an upgrade.
    const aside = `${absolute}.${process.pid}.tmp`;
    fs.writeFileSync(aside, `${process.pid}\n`);
    try {
      fs.renameSync(aside, absolute);
    } catch (error) {
      fs.rmSync(aside, { force: true });
      throw error;
    }
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
