// What starts a drain besides the master's `drain` message.
//
// SIGINT/SIGTERM sent to the worker itself (a terminal's Ctrl-C reaches the
// whole process group), and the --kill-signal the master sends with every
// drain request: drain gracefully instead of dying mid-request. The app's
// own listeners for these signals run too; that is the point of --kill-signal.
// And the master gone (even SIGKILLed): nobody will replace us or send us
// work; finish what is open, briefly, and go.

import type { DrainReason } from '../../wire/protocol.js';
import type { Drain } from './drain.js';

export interface SignalParts {
  killSignal: NodeJS.Signals;
  killTimeout: number;
  drainer: Pick<Drain, 'killSignalArrived'>;
  /** The runtime's drain: the attached server, the app's other servers, its UDP sockets. */
  drain(reason: DrainReason, timeoutMs: number): void;
}

export function drainOnSignals({ killSignal, killTimeout, drainer, drain }: SignalParts): void {
  for (const signal of new Set<NodeJS.Signals>(['SIGINT', 'SIGTERM', killSignal])) {
    process.on(signal, () => {
      if (signal === killSignal) drainer.killSignalArrived();
      drain('shutdown', killTimeout);
    });
  }
  process.on('disconnect', () => drain('master-gone', Math.min(killTimeout, 1000)));
}
