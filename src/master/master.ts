// The master: owns the listening socket, forks the workers, routes their
// messages, and is what createMaster() returns and the CLI drives.
//
// Its counterpart in Node is lib/internal/cluster/primary.js. The parts are:
//   Listener        the bound socket, accepted on directly (listener.ts)
//   Dispatcher      queue, hand-off, acks, re-dispatch (../scheduler/dispatcher.ts)
//   Pool            the worker slots: fork, replace, rotate, drain (pool.ts)
//   Worker          one child process and its counters (worker.ts)
//   worker-messages what each message from a worker does (worker-messages.ts)
//   HealthMonitor   heartbeat, memory and lifetime checks (health.ts)

import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { resolveControlPath } from '../control/paths.js';
import { ControlServer } from '../control/server.js';
import { HandoffError } from '../errors.js';
import { CMD } from '../protocol.js';
import { resolveScheduler, type SchedulerEntry } from '../scheduler/index.js';
import { Dispatcher } from '../scheduler/dispatcher.js';
import { SharedSocket } from '../scheduler/shared.js';
import { createTracer, parseTraceOrigin, TRACE_ORIGIN_ENV, type Tracer } from '../trace.js';
import { VERSION } from '../version.js';
import { HealthMonitor } from './health.js';
import { Listener, type BoundAddress } from './listener.js';
import { createLogger, type Logger } from './log.js';
import { resolveOptions, type MasterOptions, type ResolvedOptions } from './options.js';
import { checkCronExpression, scheduleRestarts } from './cron-restart.js';
import { removePidFile, writePidFile } from './pid-file.js';
import { describeExit, Pool, type GiveUp } from './pool.js';
import { rollingReload, type ReloadResult } from './reload.js';
import { SharedState, type StateChange } from './shared-state.js';
import { workerStatuses, type MasterStatus } from './status.js';
import { chooseTransport, type TransportName } from './transport.js';
import { formatDuration, formatSize } from './units.js';
import { checkWatchPaths, startWatching } from './watch.js';
import { createMessageHandlers } from './worker-messages.js';
import type { Worker } from './worker.js';

export interface MasterEvents {
  fork: [worker: Worker];
  online: [worker: Worker];
  listening: [worker: Worker];
  /** Every slot has a listening worker (emitted once). */
  ready: [address: BoundAddress];
  exit: [worker: Worker, code: number | null, signal: NodeJS.Signals | null];
  /** Data a worker's code sent: process.send(data), or send(data) from handoff/worker. */
  message: [worker: Worker, data: unknown, handle: unknown];
  giveup: [info: GiveUp];
  reload: [result: ReloadResult];
  /** The master has stopped; `exitCode` is what a CLI should exit with. */
  close: [exitCode: number];
}

export interface MasterDependencies {
  logger?: Logger;
}

export class Master extends EventEmitter<MasterEvents> {
  readonly options: ResolvedOptions;
  readonly address: BoundAddress;
  readonly scheduler: SchedulerEntry;
  readonly transport: TransportName;
  readonly startedAt = Date.now();
  readonly #listener: Listener;
  readonly #dispatcher: Dispatcher;
  readonly #pool: Pool;
  readonly #shared: SharedSocket | undefined;
  readonly #health: HealthMonitor;
  readonly #state = new SharedState();
  readonly #log: Logger;
  readonly #trace: Tracer | null;
  readonly #onMessage: ReturnType<typeof createMessageHandlers>;
  readonly #control: ControlServer | undefined;
  #ready = false;
  #reloading: Promise<ReloadResult> | undefined;
  #reloadAgain: Promise<ReloadResult> | undefined;
  #closing: Promise<number> | undefined;
  /** With --no-restart: how each worker ended, so the master's exit says whether the job succeeded. */
  readonly #exitCodes: number[] = [];
  readonly #stopSchedules: Array<() => void> = [];

  constructor(input: MasterOptions, dependencies: MasterDependencies = {}) {
    super();
    const options = resolveOptions(input);
    options.script = checkScript(options.script);
    this.options = options;
    this.scheduler = resolveScheduler(options.scheduler);
    this.transport = chooseTransport(options.transport);
    if (options.cronRestart !== undefined) checkCronExpression(options.cronRestart);
    if (options.watch !== undefined) options.watch = checkWatchPaths(options.watch.length > 0 ? options.watch : [path.dirname(options.script)]);
    this.#log = dependencies.logger ?? createLogger({ format: options.logFormat, timestamps: options.timestamps });
    const traceOrigin = parseTraceOrigin(process.env[TRACE_ORIGIN_ENV]);
    this.#trace = createTracer(options.trace, 'master', traceOrigin, (line) => this.#log.trace(line));

    // Bind before forking anything: a busy port fails here, with nothing to clean up.
    this.#listener = Listener.bind(options.host, options.port);
    this.address = this.#listener.address;
    if (options.pidFile !== undefined) {
      try {
        options.pidFile = writePidFile(options.pidFile);
      } catch (error) {
        this.#listener.close();
        throw error;
      }
    }
    const control = resolveControlPath(options.control);
    this.#control = control && new ControlServer({ ...control, target: this, logger: this.#log });

    const scheduler = this.scheduler.create((message) => this.#log.log('error', message));
    this.#dispatcher = new Dispatcher(scheduler, {
      maxPending: options.maxPending,
      pause: () => this.#listener.pause(),
      resume: () => this.#listener.resume(),
      trace: this.#trace,
    });
    this.#listener.onconnection = (handle) => this.#dispatcher.accept(handle);
    this.#shared = this.scheduler.workersAccept ? new SharedSocket(this.#listener) : undefined;

    this.#pool = new Pool({
      size: options.workers,
      replaceExited: options.restart,
      output: (worker, stream, line) => {
        if (stream === 'stderr' && line.startsWith('trace ')) this.#log.trace(line);
        else this.#log.output(worker, stream, line);
      },
      args: options.args,
      env: { ...process.env, ...options.env, [TRACE_ORIGIN_ENV]: traceOrigin.toString() },
      config: {
        script: options.script,
        accepts: this.#shared ? 'self' : 'master',
        address: this.address,
        killTimeout: options.killTimeout,
        heartbeatInterval: options.heartbeatInterval,
        waitReady: options.waitReady,
        killSignal: options.killSignal,
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
    this.#pool.on('worker', (worker) => {
      this.#wire(worker);
      this.emit('fork', worker);
    });
    this.#pool.on('giveup', (info) => this.#giveUp(info));

    this.#onMessage = createMessageHandlers({
      options,
      dispatcher: this.#dispatcher,
      pool: this.#pool,
      state: this.#state,
      shared: this.#shared,
      log: this.#log,
      trace: this.#trace,
      ready: (worker) => {
        this.emit('listening', worker);
        this.#checkReady();
      },
      message: (worker, data) => this.emit('message', worker, data, undefined),
      relay: (from, data, includeSelf) => this.#relay(from, data, includeSelf),
      publishState: () => this.#publishState(),
    });

    this.#health = new HealthMonitor(() => this.workers, options, {
      silent: (worker, silentMs) => this.#replaceSilent(worker, silentMs),
      tooBig: (worker, rss) => this.#rotate(worker, 'max-memory', `uses ${formatSize(rss)}, over --max-memory ${formatSize(options.maxMemory)}`),
      tooOld: (worker) => this.#rotate(worker, 'max-lifetime', `reached --max-lifetime ${formatDuration(options.maxLifetime)}`),
    });
    // Fork on the next tick, so that whoever called createMaster() can attach listeners first.
    process.nextTick(() => void this.#start());
  }

  /** Opens the control socket, then forks: a control socket that cannot be made stops the start with nothing forked. */
  async #start(): Promise<void> {
    try {
      await this.#control?.listen();
    } catch (error) {
      this.#log.log('error', error instanceof Error ? error.message : String(error));
      void this.close(1);
      return;
    }
    if (this.#closing !== undefined) return; // closed before it started
    this.#pool.start();
    this.#health.start();
    this.#startSchedules();
  }

  /** Where the master's events and its workers' output go. */
  get logger(): Logger {
    return this.#log;
  }

  /** Live worker processes, including ones still starting or closing. */
  get workers(): Worker[] {
    return this.#pool.workers();
  }

  /** Workers that take connections now. */
  get listeningWorkers(): Worker[] {
    return this.workers.filter((worker) => worker.state === 'listening');
  }

  /** --cron-restart and --watch: both end in a rolling reload. */
  #startSchedules(): void {
    const { cronRestart, watch } = this.options;
    if (cronRestart !== undefined) {
      const cron = scheduleRestarts(cronRestart, () => {
        this.#log.log('info', `--cron-restart "${cronRestart}": rolling restart`);
        return this.reload();
      });
      this.#stopSchedules.push(() => cron.stop());
    }
    if (watch !== undefined) {
      const watching = startWatching({ paths: watch, ignore: this.options.watchIgnore, delayMs: this.options.watchDelay }, this.#log, () => void this.reload());
      this.#stopSchedules.push(() => void watching.then((w) => w.close()).catch(() => undefined));
      watching.catch((error: unknown) => this.#log.log('error', `--watch could not start: ${error instanceof Error ? error.message : String(error)}`));
    }
  }

  // ---- operations -----------------------------------------------------------------

  /**
   * Rolling reload: every worker in turn is replaced by one that loads the
   * script afresh, and drained only once its replacement is ready. A reload
   * asked for while one runs starts again once it is over (the code may have
   * changed again in between).
   */
  reload(): Promise<ReloadResult> {
    if (this.#closing) return Promise.resolve({ ok: false, replaced: 0, error: 'the master is shutting down' });
    if (this.#reloading === undefined) {
      this.#reloading = rollingReload(this.#pool, this.#log).then((result) => {
        this.#reloading = undefined;
        this.emit('reload', result);
        return result;
      });
      return this.#reloading;
    }
    this.#reloadAgain ??= this.#reloading.then(() => {
      this.#reloadAgain = undefined;
      return this.reload();
    });
    return this.#reloadAgain;
  }

  /** Sets the number of workers: a number, or "+1" / "-1"; never below one. Returns the new count. */
  scale(target: number | string): number {
    const current = this.#pool.size;
    const text = String(target).trim();
    const wanted = /^[+-]\d+$/.test(text) ? current + Number(text) : /^\d+$/.test(text) ? Number(text) : NaN;
    if (!Number.isSafeInteger(wanted)) throw new HandoffError('ERR_HANDOFF_INVALID_OPTION', `scale '${text}': expected a number of workers, +N or -N`);
    const size = Math.min(1024, Math.max(1, wanted));
    if (this.#closing === undefined && size !== current) {
      this.#log.log('info', `scaling from ${current} to ${size} worker${size === 1 ? '' : 's'}`);
      this.#pool.resize(size);
    }
    return this.#pool.size;
  }

  status(): MasterStatus {
    return {
      pid: process.pid,
      version: VERSION,
      node: process.version,
      address: this.address,
      scheduler: this.scheduler.name,
      transport: this.transport,
      uptimeMs: Date.now() - this.startedAt,
      workers: this.#pool.size,
      ready: this.listeningWorkers.length,
      accepting: this.#dispatcher.accepting,
      heldConnections: this.#dispatcher.held,
      reloading: this.#reloading !== undefined,
      closing: this.#closing !== undefined,
      gaveUp: this.#pool.gaveUp,
      sharedStateBytes: this.#state.bytes,
      processes: workerStatuses(this.#pool),
    };
  }

  // ---- messages and shared state ------------------------------------------------------

  /** Sends `data` to every worker's onMessage listeners. */
  broadcast(data: unknown): void {
    this.#relay('master', data, true);
  }

  get state(): Readonly<Record<string, unknown>> {
    return this.#state.snapshot();
  }

  setState(key: string, value: unknown): StateChange {
    return this.#changed(this.#state.set(key, value));
  }

  incrementState(key: string, by = 1): StateChange {
    return this.#changed(this.#state.increment(key, by));
  }

  #changed(change: StateChange): StateChange {
    if (change.ok) this.#publishState();
    return change;
  }

  #relay(from: Worker | 'master', data: unknown, includeSelf: boolean): void {
    const sender = from === 'master' ? 'master' : from.id;
    for (const worker of this.workers) {
      if (worker === from && !includeSelf) continue;
      if (worker.state !== 'starting') worker.send({ cmd: CMD, type: 'relay', from: sender, data });
    }
  }

  #publishState(): void {
    const state = this.#state.snapshot();
    for (const worker of this.workers) if (worker.state !== 'starting') worker.send({ cmd: CMD, type: 'state', state });
  }

  // ---- workers coming and going -----------------------------------------------------

  #wire(worker: Worker): void {
    // A worker that starts closing gets no more connections, whatever made it close.
    worker.on('state', (state) => {
      if (state === 'closing') this.#dispatcher.remove(worker);
    });
    worker.on('internal', (message) => this.#onMessage(worker, message));
    worker.on('message', (message, handle) => this.emit('message', worker, message, handle));
    worker.on('write-failed', (seq) => this.#dispatcher.writeFailed(worker, seq));
    // Only once the channel is closed have all its acknowledgements been read:
    // whatever is still in flight then was never accepted, and can go elsewhere.
    worker.on('disconnect', () => this.#dispatcher.reclaim(worker));
    worker.on('exit', (code, signal) => this.#onExit(worker, code, signal));
  }

  #onExit(worker: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    worker.moveTo('dead');
    this.#dispatcher.remove(worker);
    this.#trace?.worker(worker.id, worker.pid, `exited (${describeExit(code, signal)})`);
    this.emit('exit', worker, code, signal);
    if (!worker.exitedAfterDisconnect && !worker.replaced && !worker.onProbation && !this.#pool.stopping) {
      this.#log.log('warn', `worker ${worker.id} (pid ${worker.pid}) exited unexpectedly (${describeExit(code, signal)})`);
      this.#pool.replace(worker);
    }
    if (!this.options.restart) this.#exitCodes.push(code === 0 && signal === null ? 0 : 1);
    if (this.workers.length === 0 && this.#closing === undefined) {
      if (this.#pool.gaveUp) {
        this.#log.log('error', 'no worker left and reforking was given up: stopping');
        void this.close(1);
      } else if (!this.options.restart && this.#pool.slots.every((slot) => slot.current === undefined)) {
        this.#log.log('info', 'every worker has exited (--no-restart): stopping');
        void this.close(Math.max(...this.#exitCodes));
      }
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

  /** A worker stuck in a busy loop: out of the rotation at once, replaced, and killed. */
  #replaceSilent(worker: Worker, silentMs: number): void {
    const message = `no heartbeat for ${formatDuration(silentMs)} (over --heartbeat-timeout ${formatDuration(this.options.heartbeatTimeout)}): its event loop is blocked`;
    worker.lastError = { message, stack: message };
    this.#log.log('warn', `worker ${worker.id} (pid ${worker.pid}) sent ${message.replace(': its', '; its')}; replacing it and killing it`);
    this.#trace?.worker(worker.id, worker.pid, 'silent: taken out of the rotation, replaced, killed');
    worker.moveTo('closing');
    this.#pool.replace(worker);
    worker.kill('SIGKILL');
  }

  /** Replacement first, then a graceful drain of the old worker; resolves once the old one has exited (or stays). */
  async #rotate(worker: Worker, reason: 'max-memory' | 'max-lifetime', why: string): Promise<void> {
    if (!this.options.restart) {
      this.#log.log('info', `worker ${worker.id} (pid ${worker.pid}) ${why}: draining it, without a replacement (--no-restart)`);
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      this.#pool.drain(worker, reason);
      return exited;
    }
    this.#log.log('info', `worker ${worker.id} (pid ${worker.pid}) ${why}: starting its replacement, then draining it`);
    this.#trace?.worker(worker.id, worker.pid, `rotating (${reason})`);
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    if ((await this.#pool.rotate(worker, reason)).ok) await exited;
    else this.#log.log('warn', `worker ${worker.id} (pid ${worker.pid}) keeps serving: its replacement did not become ready`);
  }

  // ---- shutdown -------------------------------------------------------------------

  /**
   * Graceful shutdown: stop accepting, let the workers take every connection
   * the master still holds, drain every worker (forced out after
   * --kill-timeout), then close. Resolves with the exit code a CLI should
   * use: 0 if every connection was answered, 1 if any had to be cut.
   */
  close(exitCode = 0): Promise<number> {
    this.#closing ??= this.#shutdown(exitCode);
    return this.#closing;
  }

  async #shutdown(initialCode: number): Promise<number> {
    this.#pool.stop();
    this.#health.stop();
    for (const stop of this.#stopSchedules) stop();
    this.#listener.close();
    if (this.listeningWorkers.length > 0) {
      await Promise.race([this.#dispatcher.whenEmpty(), new Promise((resolve) => setTimeout(resolve, this.options.killTimeout).unref())]);
    }
    const workers = this.workers;
    const exits = workers.map((worker) => new Promise<boolean>((resolve) => {
      if (worker.state === 'dead') return resolve(worker.exitCode === 0);
      worker.once('exit', (code, signal) => resolve(code === 0 && signal === null));
    }));
    for (const worker of workers) this.#pool.drain(worker, 'shutdown');
    const clean = await Promise.all(exits);
    const dropped = this.#dispatcher.closeQueued();
    if (this.options.pidFile !== undefined) removePidFile(this.options.pidFile);
    await this.#control?.close(); // last: until now, `handoff ctl status` could watch the drain
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
