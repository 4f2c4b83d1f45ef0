// What the kernel knows about a process, read from /proc (Linux only):
// CPU seconds used so far and peak resident memory. The bench reads the
// dispatcher's numbers (handoff master, cluster primary, the single process)
// just before asking it to stop, so they cover the warm-up and the run.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

/** Clock ticks per second, the unit of utime/stime in /proc/<pid>/stat (almost always 100). */
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** The fields of /proc/<pid>/stat after "pid (comm)"; comm may hold spaces and parentheses. */
function statFields(pid) {
  const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/**
 * { cpuSeconds, userSeconds, systemSeconds, peakRssMB } of a live process, or
 * null if it is gone (or not Linux). user + system = cpu; system is the
 * kernel's work on the process's behalf (accept4, sendmsg, close, epoll...).
 */
export function readProcStats(pid) {
  try {
    const fields = statFields(pid);
    // After "pid (comm)": [0] state, ... [11] utime, [12] stime (fields 14 and 15 of proc(5)).
    const userSeconds = Number(fields[11]) / CLK_TCK;
    const systemSeconds = Number(fields[12]) / CLK_TCK;
    const cpuSeconds = userSeconds + systemSeconds;
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const hwm = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
    return { cpuSeconds, userSeconds, systemSeconds, peakRssMB: hwm ? Number(hwm[1]) / 1024 : null };
  } catch {
    return null;
  }
}

/**
 * Live (not zombie) processes in process group `pgid`. Each contender is
 * started as its own group, so this finds any worker left behind after its
 * master exited -- an orphan, which the bench then kills and reports.
 */
export function liveGroupMembers(pgid) {
  const members = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const fields = statFields(name);
      // [0] state, [1] ppid, [2] pgrp
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') members.push(Number(name));
    } catch {
      // exited while we looked
    }
  }
  return members;
}
