// Masters that an upgrade started: they are not children of the test, so
// stopAllMasters() does not know them. Each test names the ones it saw, and
// stopSuccessors() kills them and checks that their workers go too. A master
// started with the environment of marked() passes it to its successors, so
// one that a failed test never saw is found too.

import fs from 'node:fs';
import { childPids, eventually, isAlive } from './process.js';

const successors = new Set<number>();
const MARK = `HANDOFF_TEST_RUN=${process.pid}-${Date.now()}`;

/** Environment for a master whose successors must not outlive the test file. */
export function marked(env: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const [name, value] = MARK.split('=') as [string, string];
  return { ...env, [name]: value };
}

/** Masters (dist/master.js) still running with this file's mark. */
function markedMasters(): number[] {
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    const pid = Number(entry);
    if (!(pid > 0) || pid === process.pid) continue;
    try {
      if (!fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('dist/master.js')) continue;
      if (fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(MARK)) found.push(pid);
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

export function trackSuccessor(pid: number): number {
  successors.add(pid);
  return pid;
}

export function readPidFile(file: string): number {
  return Number(fs.readFileSync(file, 'utf8').trim());
}

export async function stopSuccessors(): Promise<void> {
  const pids = [...new Set([...successors, ...(fs.existsSync('/proc') ? markedMasters() : [])])];
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
