// Every event of a worker joined in one place, as Node's primary.js does in
// cluster.fork(): its state, acknowledgements, messages (one table,
// ../messages.ts), disconnect and exit (exits.ts), and the pool giving up on
// reforking; each becomes the Master event it is. A worker is wired before
// the 'fork' event hands it to anyone else.

import type { EventEmitter } from 'node:events';
import { createMessageHandlers, type MessageContext } from '../messages.js';
import type { Worker } from '../worker.js';
import type { MasterEvents } from './events.js';
import { createExitHandler, reportGiveUp, type ExitContext } from './exits.js';
import type { Readiness } from './readiness.js';
import type { UdpOnly } from './udp-only.js';

/** What a worker's events reach: the exit handler's parts, the message table's, the two states they decide, and Master's events. */
export interface WorkerEventParts extends Omit<ExitContext, 'exited'>, Pick<MessageContext, 'address' | 'messaging'> {
  readiness: Readiness;
  udpOnly: UdpOnly;
  /** The Master, for its events only. */
  events: Pick<EventEmitter<MasterEvents>, 'emit'>;
}

/** Wires every worker the pool forks from now on, then says 'fork'. */
export function wireWorkers(parts: WorkerEventParts): void {
  const { options, pool, handle, metrics, udpOnly, log, events } = parts;
  const onMessage = createMessageHandlers({
    ...parts,
    online: (worker) => events.emit('online', worker),
    ready: (worker) => {
      events.emit('listening', worker);
      parts.readiness.check();
    },
    served: () => udpOnly.update(),
    message: (worker, data) => events.emit('message', worker, data, undefined),
    appMetrics: (worker, message) => metrics.appMetrics?.answer(worker, message.id, message.metrics, message.error),
  });
  const onExit = createExitHandler({ ...parts, exited: (worker, code, signal) => events.emit('exit', worker, code, signal) });

  const wire = (worker: Worker): void => {
    // A worker that starts closing gets no more connections, whatever made it close.
    worker.on('state', (state) => {
      if (state === 'closing') handle.remove(worker);
      if (state === 'closing' || state === 'dead') udpOnly.update();
    });
    worker.on('ack', (accepted, refused) => handle.acknowledge(worker, accepted, refused));
    worker.on('bad-ack', (line, dropped) => {
      const more = dropped > 1 ? ` (${dropped} of them since the last warning)` : '';
      log.log('warn', `worker ${worker.id} (pid ${worker.pid}) wrote an acknowledgement the master cannot read; dropped${more}: ${line.slice(0, 200)}`);
    });
    worker.on('internal', (message) => onMessage(worker, message));
    worker.on('message', (message, workerHandle) => events.emit('message', worker, message, workerHandle));
    worker.on('write-failed', (seq) => handle.writeFailed(worker, seq));
    // Only once the channel is closed have all its acknowledgements been read:
    // whatever is still in flight then was never accepted, and can go elsewhere.
    worker.on('disconnect', () => {
      handle.reclaim(worker);
      metrics.appMetrics?.retire(worker);
    });
    worker.on('exit', (code, signal) => onExit(worker, code, signal));
  };

  pool.on('worker', (worker) => {
    wire(worker);
    events.emit('fork', worker);
  });
  pool.on('giveup', (info) => {
    reportGiveUp(info, options, log);
    events.emit('giveup', info);
    parts.readiness.gaveUp(pool.workers().some((worker) => worker.state === 'listening'));
  });
}
