// The master: owns the listening socket, forks the workers, routes their
// messages, and is what createMaster() returns and the CLI drives.
//
// Its counterpart in Node is lib/internal/cluster/primary.js. The parts are:
//   Listener    the bound socket, accepted on directly (listener.ts)
//   Dispatcher  queue, hand-off, acks, re-dispatch (../scheduler/dispatcher.ts)
//   Pool        the worker slots: fork, replace, rotate, drain (pool.ts)
//   Worker      one child process and its counters (worker.ts)

import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { HandoffError } from '../errors.js';
import { type SerializedError, type WorkerMessage, type WorkerMessageType } from '../protocol.js';
import { resolveScheduler, type SchedulerEntry } from '../scheduler/index.js';
import { Dispatcher } from '../scheduler/dispatcher.js';
import { SharedSocket } from '../scheduler/shared.js';
import { createTracer, parseTraceOrigin, TRACE_ORIGIN_ENV, type Tracer } from '../trace.js';
import { Listener, type BoundAddress } from './listener.js';
import { createStderrLogger, type Logger } from './log.js';
import { resolveOptions, type MasterOptions, type ResolvedOptions } from './options.js';
import { describeExit, KILL_GRACE_MS, Pool, type GiveUp } from './pool.js';
import { chooseTransport, type TransportName } from './transport.js';
import { formatDuration } from './units.js';
import type { Worker } from './worker.js';

export interface MasterEvents {
  fork: [worker: Worker];
  online: [worker: Worker];
  listening: [worker: Worker];
  /** Every slot has a listening worker (emitted once). */
  ready: [address: BoundAddress];
  exit: [worker: Worker, code: number | null, signal: NodeJS.Signals | null];
  /** A message the user's code sent with process.send(). */
  message: [worker: Worker, message: unknown, handle: unknown];
  giveup: [info: GiveUp];
  /** The master has stopped; `exitCode` is what a CLI should exit with. */
  close: [exitCode: number];
}

export interface MasterDependencies {
  logger?: Logger;
}

type Handlers = { [T in WorkerMessageType]: (worker: Worker, message: Extract<WorkerMessage, { type: T }>) => void };

export class Master extends EventEmitter<MasterEvents> {
  readonly options: ResolvedOptions;
  readonly address: BoundAddress;
  readonly scheduler: SchedulerEntry;
  readonly transport: TransportName;
  readonly #listener: Listener;
  readonly #dispatcher: Dispatcher;
  readonly #pool: Pool;
  readonly #shared: SharedSocket | undefined;
  readonly #log: Logger;
  readonly #trace: Tracer | null;
  #ready = false;
  #closing: Promise<number> | undefined;
  readonly #reportedLoadErrors = new Set<string>();

  constructor(input: MasterOptions, dependencies: MasterDependencies = {}) {
    super();
    const options = resolveOptions(input);
    options.script = checkScript(options.script);
    this.options = options;
    this.scheduler = resolveScheduler(options.scheduler);
    this.transport = chooseTransport(options.transport);
    this.#log = dependencies.logger ?? createStderrLogger();
    const traceOrigin = parseTraceOrigin(process.env[TRACE_ORIGIN_ENV]);
    this.#trace = createTracer(options.trace, 'master', traceOrigin);

    // Bind before forking anything: a busy port fails here, with nothing to clean up.
    this.#listener = Listener.bind(options.host, options.port);
    this.address = this.#listener.address;

    const scheduler = this.scheduler.create((message) => this.#log.log('error', message));
    this.#dispatcher = new Dispatcher(scheduler, {
      maxPending: options.maxPending,
      pause: () => this.#listener.pause(),
      resume: () => this.#listener.resume(),
      trace: this.#trace,
    });
    this.#listener.onconnection = (handle) => this.#dispatcher.accept(handle);
    const shared = this.scheduler.workersAccept ? new SharedSocket(this.#listener) : undefined;

    this.#pool = new Pool({
      size: options.workers,
      args: options.args,
      env: { ...process.env, [TRACE_ORIGIN_ENV]: traceOrigin.toString() },
      config: {
        script: options.script,
        accepts: shared ? 'self' : 'master',
        address: this.address,
        killTimeout: options.killTimeout,
        heartbeatInterval: options.heartbeatInterval,
        trace: options.trace,
        reportLoad: scheduler.needsLoadReports === true,
      },
      transport: this.transport,
      killTimeout: options.killTimeout,
      listenTimeout: options.listenTimeout,
      restart: { maxRestarts: options.maxRestarts, windowMs: options.restartWindow, baseDelayMs: options.restartDelay },
      logger: this.#log,
      trace: this.#trace,
    });
    this.#shared = shared;
    this.#pool.on('worker', (worker) => {
      this.#wire(worker);
      this.emit('fork', worker);
    });
    this.#pool.on('giveup', (info) => this.#giveUp(info));
    // Fork on the next tick, so that whoever called createMaster() can attach listeners first.
    process.nextTick(() => this.#pool.start());
  }

  /** Live worker processes, including ones still starting or closing. */
  get workers(): Worker[] {
    return this.#pool.workers();
  }

  /** Workers that take connections now. */
  get listeningWorkers(): Worker[] {
    return this.workers.filter((worker) => worker.state === 'listening');
  }

  /** Connections the master holds: waiting in its queue or in flight to a worker. */
  get heldConnections(): number {
    return this.#dispatcher.held;
  }

  // ---- worker messages ------------------------------------------------------------

  #wire(worker: Worker): void {
    worker.on('internal', (message) => (this.#handlers[message.type] as (w: Worker, m: WorkerMessage) => void)(worker, message));
    worker.on('message', (message, handle) => this.emit('message', worker, message, handle));
    worker.on('write-failed', (seq) => this.#dispatcher.writeFailed(worker, seq));
    // Only once the channel is closed have all its acknowledgements been read:
    // whatever is still in flight then was never accepted, and can go elsewhere.
    worker.on('disconnect', () => this.#dispatcher.reclaim(worker));
    worker.on('exit', (code, signal) => this.#onExit(worker, code, signal));
  }

  readonly #handlers: Handlers = {
    online: (worker) => {
      if (!worker.moveTo('online')) return;
      this.#trace?.worker(worker.id, worker.pid, 'online: runtime up, loading the script');
      // Only now: Node does not buffer internal messages for a child that is not listening yet.
      if (this.#shared) void this.#shared.giveTo(worker.process);
      this.emit('online', worker);
    },
    listening: (worker, message) => {
      if (!worker.moveTo('listening')) return;
      this.#trace?.worker(worker.id, worker.pid, `ready: server attached (${message.form})`);
      this.#dispatcher.add(worker);
      this.emit('listening', worker);
      this.#checkReady();
    },
    ack: (worker, message) => {
      worker.active = message.active;
      worker.refusing = message.refused.length > 0 && message.accepted.length === 0;
      this.#dispatcher.acknowledge(worker, message.accepted, message.refused);
    },
    'load-error': (worker, message) => {
      worker.lastError = message.error;
      this.#reportLoadError(worker, message.error);
    },
    suicide: (worker, message) => {
      worker.lastError = message.error;
      this.#log.log('error', `worker ${worker.id} (pid ${worker.pid}) threw ${message.error.message}; forking its replacement and draining it`);
      this.#trace?.worker(worker.id, worker.pid, `suicide signal: ${message.error.message}`);
      // Stop handing it connections at once; fork the replacement now, not after the exit.
      this.#dispatcher.remove(worker);
      worker.drainReason = 'suicide';
      worker.moveTo('closing');
      this.#pool.replace(worker);
      worker.expectExit(this.options.killTimeout + KILL_GRACE_MS, () =>
        this.#log.log('warn', `worker ${worker.id} (pid ${worker.pid}) did not exit ${formatDuration(this.options.killTimeout + KILL_GRACE_MS)} after its suicide signal: SIGKILL`),
      );
    },
    load: (worker, message) => {
      worker.active = message.active;
      this.#trace?.worker(worker.id, worker.pid, `load: ${message.active} open`);
      this.#dispatcher.poke(); // a scheduler may have been holding connections back
    },
    heartbeat: (worker, message) => {
      worker.lastHeartbeat = Date.now();
      worker.active = message.active;
      worker.rss = message.rss;
      if (worker.refusing) {
        worker.refusing = false;
        this.#dispatcher.poke();
      }
    },
    draining: (worker, message) => {
      worker.active = message.active;
      this.#trace?.worker(worker.id, worker.pid, `draining (${message.reason}): ${message.active} connections open`);
    },
    broadcast: () => undefined,
    'to-master': () => undefined,
    'set-state': () => undefined,
  };

  #reportLoadError(worker: Worker, error: SerializedError): void {
    const script = path.relative(process.cwd(), this.options.script) || this.options.script;
    if (this.#reportedLoadErrors.has(error.message)) {
      this.#log.log('error', `worker ${worker.id} (pid ${worker.pid}) failed to load ${script} again: ${error.message}`);
    } else {
      this.#reportedLoadErrors.add(error.message);
      this.#log.log('error', `worker ${worker.id} (pid ${worker.pid}) failed to load ${script}:\n${error.stack}`);
    }
  }

  #onExit(worker: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    worker.moveTo('dead');
    this.#dispatcher.remove(worker);
    this.#trace?.worker(worker.id, worker.pid, `exited (${describeExit(code, signal)})`);
    this.emit('exit', worker, code, signal);
    const unexpected = !worker.exitedAfterDisconnect && !worker.replaced && !this.#pool.stopping;
    if (unexpected) {
      this.#log.log('warn', `worker ${worker.id} (pid ${worker.pid}) exited unexpectedly (${describeExit(code, signal)})`);
      this.#pool.replace(worker);
    }
    if (this.#pool.gaveUp && this.workers.length === 0 && this.#closing === undefined) {
      this.#log.log('error', 'no worker left and reforking was given up: stopping');
      void this.close(1);
    }
  }

  #checkReady(): void {
    if (this.#ready) return;
    const slots = this.#pool.slots;
    if (slots.length === 0 || !slots.every((slot) => slot.current?.state === 'listening')) return;
    this.#ready = true;
    this.emit('ready', this.address);
  }

  #giveUp(info: GiveUp): void {
    this.#log.log(
      'error',
      `giving up: ${info.exitsInWindow} unexpected worker exits within ${formatDuration(info.windowMs)} (--max-restarts ${this.options.maxRestarts}); ` +
        `not forking again. Last error: ${info.lastError}`,
    );
    this.emit('giveup', info);
    if (!this.#ready && this.listeningWorkers.length > 0) {
      this.#ready = true;
      this.emit('ready', this.address);
    }
  }

  // ---- shutdown -------------------------------------------------------------------

  /**
   * Graceful shutdown: stop accepting, drain every worker (forced out after
   * --kill-timeout), then close. Resolves with the exit code a CLI should use:
   * 0 if every worker finished what it had, 1 otherwise.
   */
  close(exitCode = 0): Promise<number> {
    this.#closing ??= this.#shutdown(exitCode);
    return this.#closing;
  }

  async #shutdown(initialCode: number): Promise<number> {
    this.#pool.stop();
    this.#listener.close();
    const workers = this.workers;
    const exits = workers.map((worker) => new Promise<boolean>((resolve) => {
      if (worker.state === 'dead') return resolve(worker.exitCode === 0);
      worker.once('exit', (code, signal) => resolve(code === 0 && signal === null));
    }));
    for (const worker of workers) this.#pool.drain(worker, 'shutdown');
    const clean = await Promise.all(exits);
    const dropped = this.#dispatcher.closeQueued();
    const exitCode = initialCode !== 0 || dropped > 0 || clean.includes(false) ? Math.max(initialCode, 1) : 0;
    this.emit('close', exitCode);
    return exitCode;
  }
}

/** Resolves the worker script, or throws a coded error saying what is wrong with it. */
function checkScript(script: string | undefined): string {
  if (script === undefined || script === '') {
    throw new HandoffError('ERR_HANDOFF_MISSING_SCRIPT', 'no worker script given: name the file to run, e.g. handoff examples/hello.js');
  }
  const absolute = path.resolve(script);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(absolute);
  } catch {
    throw new HandoffError('ERR_HANDOFF_SCRIPT_NOT_FOUND', `worker script not found: ${absolute} (check the path; it is resolved from ${process.cwd()})`);
  }
  if (stat.isDirectory()) {
    throw new HandoffError('ERR_HANDOFF_SCRIPT_IS_DIRECTORY', `worker script is a directory: ${absolute} (name the file to run, e.g. ${path.join(script, 'index.js')})`);
  }
  return absolute;
}

export function createMaster(options: MasterOptions, dependencies?: MasterDependencies): Master {
  return new Master(options, dependencies);
}

