// How a worker leaves, for every reason it can: the one exit path.
//
//   closing (out of the rotation at once)
//     -> asked to drain, or it drains by itself (suicide), or nothing (silent)
//     -> it exits by itself within --kill-timeout
//     -> SIGKILL KILL_GRACE_MS after that (a blocked event loop cannot run its own timer)
//
// Node's equivalent is worker.disconnect() then worker.kill() (child.js
// _disconnect()); it has no timeout. tinypool's terminate() escalates the
// same way: graceful first, SIGKILL after a fixed timeout.

import type { DrainReason } from '../wire/protocol.js';

export type RetireReason = Exclude<DrainReason, 'master-gone'> | 'silent';

export interface Retirement {
  /** The master asked it to go: its exit is expected, and it is not replaced (Node: exitedAfterDisconnect). */
  asked: boolean;
  /** It failed while serving: fork its replacement now, not after the exit. */
  replace: boolean;
  /** Send it the drain message (it finishes what it has, then exits). */
  drain: boolean;
  /** SIGKILL at once (it cannot even drain), or only if it outlives the kill timeout. */
  kill: 'now' | 'after-timeout';
  /** The end of the warning logged when it has to be killed after the timeout. */
  forced: string;
}

const askedToClose = { asked: true, replace: false, drain: true, kill: 'after-timeout', forced: 'after it was told to close' } as const;

export const retirements: Readonly<Record<RetireReason, Retirement>> = {
  shutdown: askedToClose,
  reload: askedToClose,
  'scale-down': askedToClose,
  'max-memory': askedToClose,
  'max-lifetime': askedToClose,
  suicide: { asked: false, replace: true, drain: false, kill: 'after-timeout', forced: 'after its suicide signal' },
  silent: { asked: false, replace: true, drain: false, kill: 'now', forced: '' },
  // The app called cluster.worker.disconnect(): it drains by itself; its slot is refilled, as under PM2.
  // Not `asked` (that would make its exit expected before replace() runs); messages.ts marks it after.
  disconnect: { asked: false, replace: true, drain: false, kill: 'after-timeout', forced: 'after its disconnect()' },
};
