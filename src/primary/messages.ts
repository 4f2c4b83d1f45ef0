// What the master does with each message a worker runtime sends: one handler
// per message type, in one table -- Node's primary.js does the same with
// `{ online, listening, queryServer, ... }`.

import path from 'node:path';
import { CMD, type DrainReason, type WorkerMessage } from '../wire/protocol.js';
import type { HandleTable } from '../dispatch/handle-table.js';
import type { BoundAddress } from '../dispatch/listener.js';
import { createListenHandlers } from './listens.js';
import type { Tracer } from '../trace.js';
import type { Logger } from '../cli/log.js';
import type { ResolvedOptions } from '../cli/options.js';
import type { Pool, Replacement } from './pool.js';
import { canMove } from './lifecycle.js';
import { retirements } from './retire.js';
import type { Messaging } from '../operations/messaging.js';
import { jsonSize, MAX_MESSAGE_BYTES, type StateChange } from '../operations/shared-state.js';
import type { Worker } from './worker.js';

/** The parts of the master the handlers act on. */
export interface MessageContext {
  readonly options: ResolvedOptions;
  readonly handle: HandleTable;
  /** The master's own bound address (--host, --port). */
  readonly address: BoundAddress;
  readonly pool: Pool;
  readonly messaging: Messaging;
  readonly log: Logger;
  readonly trace: Tracer | null;
  /** A worker's runtime is up (it is loading the script). */
  online(worker: Worker): void;
  /** A worker became ready: it listens (with a TCP server, it may get connections; see Worker.servesTcp). */
  ready(worker: Worker): void;
  /** What a ready worker serves changed: it became ready, or attached its TCP server after a UDP bind alone. */
  served(worker: Worker): void;
  /** Data from a worker's code for the master's 'message' event. */
  message(worker: Worker, data: unknown): void;
  /** The app's prom-client metrics, asked for by a scrape of --metrics (or sent as the worker exits). */
  appMetrics(worker: Worker, message: Extract<WorkerMessage, { type: 'metrics' }>): void;
}

/** How the suicide log line tells what became of the worker's slot. */
const replacementSaid: Readonly<Record<Replacement, string>> = {
  forked: 'forking its replacement and ',
  'after-backoff': 'its replacement follows after the backoff; ',
  'gave-up': 'not replacing it (reforking was given up); ',
  'not-restarting': 'not replacing it (--no-restart); ',
  none: '',
};

/** Every message but `ack`, which the worker record sends straight to the dispatch handle (master/worker-events.ts). */
export type TableMessage = Exclude<WorkerMessage, { type: 'ack' }>;
type Handlers = { [T in TableMessage['type']]: (worker: Worker, message: Extract<TableMessage, { type: T }>) => void };

export function createMessageHandlers(context: MessageContext): (worker: Worker, message: TableMessage) => void {
  const { options, handle, pool, messaging, log, trace } = context;
  const { state } = messaging;
  const reportedLoadErrors = new Set<string>();
  const warned = new WarnOnce(log);
  const listens = createListenHandlers(handle, context.address, log, trace);

  const handlers: Handlers = {
    online(worker) {
      const toldToDrain = worker.state === 'closing' ? drainSent(worker) : undefined;
      if (toldToDrain !== undefined) {
        // Asked to drain while still starting (a shutdown during a reload, or while a crashed worker's
        // replacement starts): that message may have arrived before the runtime listened for it. Say it
        // again, now that it listens.
        worker.send({ cmd: CMD, type: 'drain', reason: toldToDrain, timeoutMs: options.killTimeout });
        return;
      }
      if (!worker.moveTo('online')) return;
      trace?.worker(worker.id, worker.pid, 'online: runtime up, loading the script');
      // Sent only now: Node does not buffer internal messages for a child not yet listening for them.
      // The runtime reports ready only after it has this state.
      worker.send({ cmd: CMD, type: 'state', state: state.snapshot() });
      if (handle.addOn === 'online') handle.add(worker);
      context.online(worker);
    },
    listening(worker, message) {
      // The first says the worker is ready, by its server or by a UDP bind alone (cluster's 'listening' for
      // either); after a UDP bind alone, a second brings its server: only a server gets connections.
      const later = worker.state === 'listening';
      if (later ? worker.servesTcp || message.form === undefined : !canMove(worker.state, 'listening')) return;
      worker.servesTcp = message.form !== undefined;
      worker.tls = message.tls === true;
      if (!later) worker.moveTo('listening');
      if (message.form === undefined) trace?.worker(worker.id, worker.pid, 'ready: a UDP socket is bound, no TCP server: no connections for it');
      else {
        trace?.worker(worker.id, worker.pid, `${later ? 'serves TCP now' : 'ready'}: server attached (${message.form})`);
        listens.mapped(message.asked);
        if (handle.addOn === 'listening') handle.add(worker);
        else handle.listening?.(worker);
      }
      context.served(worker);
      if (!later) context.ready(worker);
    },
    'load-error'(worker, message) {
      worker.lastError = message.error;
      const script = path.relative(process.cwd(), options.script) || options.script;
      if (reportedLoadErrors.has(message.error.message)) {
        log.log('error', `worker ${worker.id} (pid ${worker.pid}) failed to load ${script} again: ${message.error.message}`);
      } else {
        reportedLoadErrors.add(message.error.message);
        log.log('error', `worker ${worker.id} (pid ${worker.pid}) failed to load ${script}:\n${message.error.stack}`);
      }
    },
    suicide(worker, message) {
      worker.lastError = message.error;
      trace?.worker(worker.id, worker.pid, `suicide signal: ${message.error.message}`);
      // Closing takes it out of the rotation at once; the replacement is forked now, not after the exit.
      const replacement = replacementSaid[pool.retire(worker, 'suicide')];
      log.log('error', `worker ${worker.id} (pid ${worker.pid}) threw ${message.error.message}; ${replacement}draining it`);
    },
    load(worker, message) {
      trace?.worker(worker.id, worker.pid, `load: ${message.active} open`);
      // Connections closed: one that refused at maxConnections may take more now, and
      // a scheduler may have been holding connections back.
      handle.roomAgain(worker, true);
    },
    heartbeat(worker, message) {
      worker.lastHeartbeat = Date.now();
      worker.usage.reported(message.requests, message.rss, message.elu, message.loopDelayP99);
      handle.roomAgain(worker, false);
    },
    unshared(worker) {
      handle.unshared(worker); // awaited by SharedHandle.takeBack()
    },
    exiting(worker, message) {
      worker.exitReport = { code: message.code, inFlight: message.inFlight, open: message.open };
    },
    draining(worker, message) {
      trace?.worker(worker.id, worker.pid, `draining (${message.reason}): ${message.active} connection${message.active === 1 ? '' : 's'} open`);
      // The app called cluster.worker.disconnect(): out of the rotation now, and its slot refilled, as under PM2.
      if (message.reason === 'disconnect' && worker.state !== 'closing' && worker.state !== 'dead') {
        const replacement = replacementSaid[pool.retire(worker, 'disconnect')];
        worker.exitedAfterDisconnect = true; // as cluster says of a worker that disconnected itself
        log.log('info', `worker ${worker.id} (pid ${worker.pid}) called cluster.worker.disconnect(); ${replacement}draining it`);
      }
    },
    broadcast(worker, message) {
      if (tooBig(worker, 'broadcast', message.data)) return;
      messaging.relay(worker, message.data, message.includeSelf);
    },
    'to-master'(worker, message) {
      context.message(worker, message.data);
    },
    metrics(worker, message) {
      context.appMetrics(worker, message);
    },
    'set-state'(worker, message) {
      applied(worker, state.set(message.key, message.value));
    },
    'increment-state'(worker, message) {
      applied(worker, state.increment(message.key, message.by));
    },
    'listen-request': listens['listen-request'],
    'listen-close': listens['listen-close'],
    'udp-request': listens['udp-request'],
    'udp-close': listens['udp-close'],
  };

  function tooBig(worker: Worker, what: string, data: unknown): boolean {
    const size = jsonSize(data);
    if (size !== undefined && size <= MAX_MESSAGE_BYTES) return false;
    const why = size === undefined ? 'cannot be sent as JSON' : `is ${size} bytes of JSON, over the ${MAX_MESSAGE_BYTES}-byte limit`;
    warned.once(`${worker.slot}:${what}`, `worker ${worker.id} (pid ${worker.pid}): a ${what} message ${why}; dropped`);
    return true;
  }

  function applied(worker: Worker, change: StateChange): void {
    if (!messaging.apply(change).ok && !change.ok) warned.once(`${worker.slot}:state`, `worker ${worker.id} (pid ${worker.pid}): shared state not changed: ${change.reason}`);
  }

  return (worker, message) => (handlers[message.type] as (w: Worker, m: TableMessage) => void)(worker, message);
}

/** Why the master sent it the drain message (retire.ts); undefined for a worker that drains by itself. */
function drainSent(worker: Worker): DrainReason | undefined {
  const reason = worker.drainReason;
  return reason !== undefined && reason !== 'master-gone' && retirements[reason].drain ? reason : undefined;
}

/** A warning about a misbehaving worker is logged once a minute per kind, not once per message. */
class WarnOnce {
  readonly #log: Logger;
  readonly #last = new Map<string, number>();

  constructor(log: Logger) {
    this.#log = log;
  }

  once(key: string, message: string): void {
    const now = Date.now();
    if (now - (this.#last.get(key) ?? -Infinity) < 60_000) return;
    this.#last.set(key, now);
    this.#log.log('warn', message);
  }
}

