// The process's limit on open file descriptors (RLIMIT_NOFILE, `ulimit -n`),
// and how many it has open: Node has no getrlimit(), Linux says both in /proc.
//
// Why it matters: at the limit, accept() fails with EMFILE and libuv's answer
// is to accept the connection on a reserve descriptor and close it at once --
// a reset the client sees. The master stops accepting before that (the
// connections then wait in the kernel's backlog), and a worker near its limit
// refuses a hand-off, which the master then gives to someone else.

import fs from 'node:fs';

/** The soft limit, or undefined where it cannot be read (no /proc). */
export function readFdLimit(): number | undefined {
  try {
    const line = /^Max open files\s+(\S+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
    const soft = line?.[1];
    return soft === undefined || soft === 'unlimited' ? undefined : Number(soft);
  } catch {
    return undefined;
  }
}

/** Descriptors open now, or undefined where that cannot be read. */
export function countOpenFds(): number | undefined {
  try {
    return fs.readdirSync('/proc/self/fd').length - 1; // readdir's own descriptor is listed too
  } catch {
    return undefined;
  }
}

/** Descriptors a worker keeps free for the app's own use (files, outgoing connections, /proc reads). */
export function workerFdHeadroom(limit: number): number {
  return Math.max(16, Math.ceil(limit / 20));
}
