// Masters that an upgrade started: they are not children of the test, so
// stopAllMasters() does not know them. Each test names the ones it saw, and
// stopSuccessors() kills them and checks that their workers go too.

import fs from 'node:fs';
import { childPids, eventually, isAlive } from './process.js';

const successors = new Set<number>();

export function trackSuccessor(pid: number): number {
  successors.add(pid);
  return pid;
}

export function readPidFile(file: string): number {
  return Number(fs.readFileSync(file, 'utf8').trim());
}

export async function stopSuccessors(): Promise<void> {
  const pids = [...successors];
  successors.clear();
  const workers = pids.flatMap((pid) => childPids(pid));
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  await eventually(() => [...pids, ...workers].every((pid) => !isAlive(pid)), 5000, `successors ${pids.join(', ')} or their workers ${workers.join(', ')} outlived the test`);
}
