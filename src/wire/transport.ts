// How the rr family of schedulers gets a connection's descriptor into a worker.
//
//   send: subprocess.send({cmd:'NODE_HANDOFF', type:'conn', seq}, handle) -- the
//         public API, exactly what cluster uses; one handle in flight per channel.
//   fast: a direct write on the IPC pipe (fast-handoff.ts); no per-handle round trip.
//
// Both keep every guarantee: the master holds its copy until the worker
// acknowledges, and re-dispatches on refusal or death. The worker runtime
// understands both at all times, so the choice is the master's alone.

import type { ChildProcess } from 'node:child_process';
import { InvalidOptionError } from '../errors.js';
import { createFastWriter, type ConnectionWriter } from './fast-handoff.js';
import { supportsFastHandoff } from './node-internals.js';
import { CMD, type MasterMessage } from './protocol.js';

export type TransportName = 'fast' | 'send';

/** Resolves --transport once, at start-up. */
export function chooseTransport(wanted: 'auto' | 'fast' | 'send'): TransportName {
  if (wanted === 'send') return 'send';
  if (supportsFastHandoff()) return 'fast';
  if (wanted === 'fast') {
    throw new InvalidOptionError('transport', 'fast', `auto or send: Node ${process.version} does not expose the IPC pipe the fast hand-off writes on`);
  }
  return 'send';
}

export function createConnectionWriter(transport: TransportName, child: ChildProcess, onFailed: (seq: number) => void): { name: TransportName; write: ConnectionWriter } {
  if (transport === 'fast') {
    const write = createFastWriter(child, onFailed);
    if (write !== undefined) return { name: 'fast', write };
  }
  return {
    name: 'send',
    write(seq, handle, listener) {
      if (!child.connected) return false;
      const message: MasterMessage = listener === 0 ? { cmd: CMD, type: 'conn', seq } : { cmd: CMD, type: 'conn', seq, listener };
      return sendSafely(child, message, handle, (error) => {
        if (error) onFailed(seq);
      });
    },
  };
}

/**
 * subprocess.send() that never throws and never emits 'error' on the child
 * (an 'error' without a listener would crash the master): failures go to the callback.
 */
export function sendSafely(child: ChildProcess, message: MasterMessage, handle?: unknown, callback?: (error: Error | null) => void): boolean {
  if (!child.connected) return false;
  try {
    child.send(message, handle as never, callback ?? noop);
    return true;
  } catch {
    return false;
  }
}

function noop(): void {}
