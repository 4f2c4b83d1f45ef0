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

/**
 * The master's --max-pending, capped below its own limit. Every connection
 * the master holds is a descriptor; at RLIMIT_NOFILE, accept() fails with
 * EMFILE and libuv accepts and closes (a reset). Room is left for the
 * master's own descriptors (three pipes per worker, the control socket,
 * files): past the cap the master stops accepting and clients wait in the
 * kernel's backlog instead. `say` hears of a lowered value (the master
 * passes it only for a value given by hand: the default, 1024, is lowered
 * silently under the common `ulimit -n` of 1024).
 */
export function capPendingToFdLimit(maxPending: number, workers: number, say?: (line: string) => void): number {
  const limit = readFdLimit();
  const open = countOpenFds();
  if (limit === undefined || open === undefined) return maxPending;
  const cap = Math.max(1, limit - open - 4 * Math.max(workers, 4) - 32);
  if (maxPending <= cap) return maxPending;
  say?.(`--max-pending ${maxPending} lowered to ${cap}: this process may open ${limit} files (ulimit -n) and holds one per pending connection`);
  return cap;
}
