// The master: owns the listening socket, forks the workers, routes their
// messages, and is what createMaster() returns and the CLI drives.
//
// Its counterpart in Node is lib/internal/cluster/primary.js. The parts are:
//   Listener        the bound socket, accepted on directly (../dispatch/listener.ts)
//   DispatchHandle  queue, hand-off, acks, re-dispatch (../dispatch/)
//   Pool            the worker slots: fork, replace, rotate, retire (pool.ts, retire.ts)
//   Worker          one child process and its lifecycle (worker.ts, lifecycle.ts)
//   messages.ts     what each message from a worker does
//   HealthMonitor   heartbeat, memory and lifetime checks (../operations/health-monitor.ts, health-remedies.ts)
//   Messaging       broadcast relay and shared state (../operations/messaging.ts)
//   ../operations/  reload, shutdown, auto-reload; ../control/status.ts

import { EventEmitter } from 'node:events';
import path from 'node:path';
import { resolveControlPath } from '../control/paths.js';
import { ControlServer } from '../control/server.js';
import { handleKind, resolveScheduler, reuseFlagFor, type SchedulerEntry } from '../scheduler/index.js';
import { createHandle } from '../dispatch/handles.js';
import { HandleTable } from '../dispatch/handle-table.js';
import { createTracer, parseTraceOrigin, TRACE_ORIGIN_ENV, type Tracer } from '../trace.js';
import { HealthMonitor } from '../operations/health-monitor.js';
import type { BoundAddress } from '../dispatch/listener.js';
import { ListenerSet } from '../dispatch/listener-set.js';
import { takeInheritedSockets } from '../dispatch/inherited-socket.js';
import { Successor } from '../operations/upgrade/successor.js';
import { notifySystemd } from '../operations/upgrade/sd-notify.js';
import { Upgrades, type UpgradeOptions, type UpgradeResult } from '../operations/upgrade/upgrade.js';
import { HandoffError } from '../errors.js';
import { createLogger, type Logger } from '../cli/log.js';
import { defaultOptions, resolveOptions, type MasterOptions, type ResolvedOptions } from '../cli/options.js';
import { checkCronExpression } from '../operations/cron-restart.js';
import { createHealthActions } from '../operations/health-remedies.js';
import { writePidFile } from '../cli/pid-file.js';
import { Pool, type GiveUp } from './pool.js';
import { poolOptions, scaledSize } from './pool-config.js';
import { Reloads, rollingReload, type ReloadResult } from '../operations/reload.js';
import { Messaging } from '../operations/messaging.js';
import type { StateChange } from '../operations/shared-state.js';
import { masterStatus, type MasterStatus } from '../control/status.js';
import { chooseTransport, type TransportName } from '../wire/transport.js';
import { startSchedules } from '../operations/auto-reload.js';
import { shutDown } from '../operations/shutdown.js';
import { formatDuration } from '../units.js';
import { checkWatchPaths } from '../operations/watch.js';
import { checkWorkerScript } from './worker-script.js';
import { createMessageHandlers } from './messages.js';
import { describeExit, type Worker } from './worker.js';
import { capPendingToFdLimit } from '../fd-limit.js';
import type { AppMetrics } from '../operations/metrics/app-metrics.js';
import { DispatchStats } from '../operations/metrics/dispatch-stats.js';
import { parseMetricsAddress, type MetricsAddress, type MetricsEndpoint } from '../operations/metrics/endpoint.js';
import { WorkerTotals } from '../operations/metrics/worker-totals.js';
import { installClusterView, loadPrimaryModule } from './cluster-view.js';
import { errorMessage } from '../errors.js';

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
  readonly #listeners: ListenerSet;
  /** Set when this master was started by `handoff ctl upgrade` to replace another. */
  readonly #successor: Successor | undefined;
  readonly #upgrades = new Upgrades();
  /** Every listening address and its dispatch handle (Node's `handles`): the master's own sockets (one handle), and those the app's listen()s asked for. */
  readonly #handle: HandleTable;
  readonly #pool: Pool;
  readonly #health: HealthMonitor;
  readonly #messaging = new Messaging(() => this.workers);
  readonly #log: Logger;
  readonly #trace: Tracer | null;
  readonly #onMessage: ReturnType<typeof createMessageHandlers>;
  readonly #control: ControlServer | undefined;
  #ready = false;
  readonly #reloads = new Reloads(async () => {
    const result = await rollingReload(this.#pool, this.#log);
    this.emit('reload', result);
    return result;
  });
  #closing: Promise<number> | undefined;
  /** With --no-restart: how each worker ended, so the master's exit says whether the job succeeded. */
  readonly #exitCodes: number[] = [];
  #stopSchedules: () => void = () => undefined;
  /** What the dispatcher counts, and what outlives the workers: for status and /metrics. */
  readonly #dispatchStats = new DispatchStats();
  readonly #workerTotals = new WorkerTotals();
  readonly #metricsAddress: MetricsAddress | undefined;
  /** With --metrics, once #start() has made them. */
  #appMetrics: AppMetrics | undefined;
  #metrics: MetricsEndpoint | undefined;
  #shuttingDown = false;

  constructor(input: MasterOptions, dependencies: MasterDependencies = {}) {
    super();
    const options = resolveOptions(input);
    options.script = checkWorkerScript(options.script);
    this.options = options;
    this.scheduler = resolveScheduler(options.scheduler);
    this.transport = chooseTransport(options.transport);
    if (options.cronRestart !== undefined) checkCronExpression(options.cronRestart);
    if (options.watch !== undefined) options.watch = checkWatchPaths(options.watch.length > 0 ? options.watch : [path.dirname(options.script)]);
    this.#log = dependencies.logger ?? createLogger({ format: options.logFormat, timestamps: options.timestamps });
    const traceOrigin = parseTraceOrigin(process.env[TRACE_ORIGIN_ENV]);
    this.#trace = createTracer(options.trace, 'master', traceOrigin, (line) => this.#log.trace(line));

    // Bind (or take the sockets systemd or an old master passed) before forking
    // anything: a busy port fails here, with nothing to clean up.
    const inherited = takeInheritedSockets();
    // reuseport binds every slot's socket on this port with SO_REUSEPORT (reuseport-handle.ts).
    const reuseFlag = reuseFlagFor(this.scheduler);
    this.#listeners = ListenerSet.open(options.host, options.port, inherited, reuseFlag);
    this.address = this.#listeners.address;
    if (reuseFlag !== 0 && inherited !== undefined) {
      this.#listeners.close();
      throw new HandoffError('ERR_HANDOFF_LISTEN', `--scheduler ${this.scheduler.name} binds a socket per slot itself and cannot serve sockets passed by ${inherited.source}: use rr, least-conn or ip-hash`);
    }
    if (this.scheduler.workersAccept && this.#listeners.listeners.length > 1) {
      this.#listeners.close();
      throw new HandoffError('ERR_HANDOFF_LISTEN', `--scheduler shared serves one listening socket, and this master was given ${this.#listeners.listeners.length}: use rr, least-conn or ip-hash`);
    }
    if (inherited?.source === 'systemd') {
      const addresses = this.#listeners.addresses.map((address) => `${address.address}:${address.port}`).join(', ');
      this.#log.log('info', `serving on the listening socket${inherited.sockets.length === 1 ? '' : 's'} systemd passed (LISTEN_FDS=${inherited.sockets.length}): ${addresses}; --host and --port are not used`);
    }
    // A successor writes the pid file and opens the control socket only when it takes over.
    this.#successor = inherited?.source === 'upgrade' ? new Successor(inherited.from as number, this.#log, () => this.#takeOver()) : undefined;
    if (options.pidFile !== undefined && this.#successor === undefined) {
      try {
        options.pidFile = writePidFile(options.pidFile);
      } catch (error) {
        this.#listeners.close();
        throw error;
      }
    }
    this.#metricsAddress = options.metrics === undefined ? undefined : parseMetricsAddress(options.metrics);
    const control = resolveControlPath(options.control);
    this.#control = control && new ControlServer({ ...control, target: this, logger: this.#log });

    const report = (message: string): void => this.#log.log('error', message);
    const scheduler = this.scheduler.create(report);
    const explicitPending = options.maxPending !== defaultOptions().maxPending;
    // Below this process's limit of open files; said if a value given by hand is lowered.
    const maxPending = capPendingToFdLimit(options.maxPending, options.workers, explicitPending ? (line) => this.#log.log('info', line) : undefined);
    let seq = 0;
    const nextSeq = (): number => ++seq;
    const kind = handleKind(this.scheduler);
    const handleOf = { maxPending, trace: this.#trace, nextSeq, slots: options.workers, reuseFlag };
    try {
      this.#handle = new HandleTable(
        { listener: this.#listeners, handle: createHandle({ ...handleOf, kind, listener: this.#listeners, scheduler, id: 0, observer: this.#dispatchStats }) },
        // Each further address gets its own handle, with its own instance of the same scheduler (cluster: a RoundRobinHandle per key);
        // under reuseport, one socket the workers share (a socket per slot is for the master's own port).
        (id, listener, key) => createHandle({ ...handleOf, kind: kind === 'reuseport' ? 'shared' : kind, listener, scheduler: this.scheduler.create(report), id, key }),
        (message) => this.#log.log('info', message),
      );
    } catch (error) {
      this.#listeners.close(); // reuseport: a slot's socket could not be bound
      throw error;
    }
    // Inherited sockets accept once the handle is in place; a successor's only once it takes over.
    if (this.#successor === undefined) this.#listeners.open();

    this.#pool = new Pool(
      poolOptions(options, {
        address: this.address,
        accepts: this.#handle.addOn === 'online' ? 'self' : 'master',
        transport: this.transport,
        reportLoad: scheduler.needsLoadReports === true,
        traceOrigin,
        logger: this.#log,
        trace: this.#trace,
      }),
    );
    this.#pool.on('worker', (worker) => {
      this.#wire(worker);
      this.emit('fork', worker);
    });
    this.#pool.on('giveup', (info) => this.#giveUp(info));

    this.#onMessage = createMessageHandlers({
      options,
      address: this.address,
      handle: this.#handle,
      pool: this.#pool,
      messaging: this.#messaging,
      log: this.#log,
      trace: this.#trace,
      online: (worker) => this.emit('online', worker),
      ready: (worker) => {
        this.emit('listening', worker);
        this.#checkReady();
      },
      message: (worker, data) => this.emit('message', worker, data, undefined),
      appMetrics: (worker, message) => this.#appMetrics?.answer(worker, message.id, message.metrics, message.error),
    });

    this.#health = new HealthMonitor(() => this.workers, options, createHealthActions(this.#pool, options, this.#log, this.#trace));
    // Fork on the next tick, so that whoever called createMaster() can attach listeners first.
    process.nextTick(() => void this.#start());
  }

  /** Opens the control socket, then forks: a control socket that cannot be made stops the start with nothing forked. */
  async #start(): Promise<void> {
    try {
      if (this.#successor === undefined) await this.#control?.listen();
      // A successor serves metrics once it has taken over (the old master holds the port until then).
      if (this.#metricsAddress !== undefined && this.#successor === undefined) await this.#serveMetrics(this.#metricsAddress);
      if (this.options.primary !== undefined) {
        installClusterView(this, this.address);
        await loadPrimaryModule(this.options.primary);
      }
    } catch (error) {
      this.#log.log('error', errorMessage(error));
      void this.close(1);
      return;
    }
    if (this.#closing !== undefined) return; // closed before it started
    this.#pool.start();
    this.#health.start();
    this.#stopSchedules = startSchedules(this.options, this.#log, () => this.reload());
  }

  /** Opens --metrics (prom-client is loaded only now, and only with it); a busy port throws. */
  async #serveMetrics(address: MetricsAddress): Promise<void> {
    const { createMetricsService } = await import('../operations/metrics/service.js');
    const { appMetrics, endpoint } = createMetricsService(
      { status: () => this.status(), workers: () => this.workers, healthy: () => this.listeningWorkers.length > 0, shuttingDown: () => this.shuttingDown },
      address,
      (message) => this.#log.log('warn', message),
    );
    this.#appMetrics = appMetrics;
    this.#metrics = endpoint;
    await endpoint.listen();
    this.#log.log('info', `metrics on ${endpoint.url} (and /healthz, /readyz)`);
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

  // ---- operations -----------------------------------------------------------------

  /**
   * Rolling reload: every worker in turn is replaced by one that loads the
   * script afresh, and drained only once its replacement is ready.
   */
  reload(): Promise<ReloadResult> {
    if (this.#closing) return Promise.resolve({ ok: false, replaced: 0, error: 'the master is shutting down' });
    if (this.#upgrades.running) {
      const error = 'an upgrade is under way: reload the new master once it has taken over';
      this.#log.log('warn', `reload refused: ${error}`);
      return Promise.resolve({ ok: false, replaced: 0, error });
    }
    return this.#reloads.request();
  }

  /**
   * Replaces this master by a new one, started from what is on disk now, on
   * the same listening sockets (see operations/upgrade/upgrade.ts). Resolves once the
   * new master has taken over (this one then drains and closes) or the
   * upgrade has been rolled back (this one goes on as before).
   */
  upgrade(options: UpgradeOptions = {}): Promise<UpgradeResult> {
    const refuse = (error: string): Promise<UpgradeResult> => {
      this.#log.log('warn', `upgrade refused: ${error}`);
      return Promise.resolve({ ok: false, previous: process.pid, error, refused: true });
    };
    if (this.#closing) return refuse('the master is shutting down: it cannot upgrade');
    if (this.#upgrades.running) return refuse(`an upgrade is already under way (new master pid ${this.#upgrades.successorPid ?? '?'}): wait for it to finish`);
    if (this.#reloads.running) return refuse('a reload is under way: upgrade once it has finished');
    if (this.#successor?.pending) return refuse(`this master is still taking over from master ${this.#successor.from}`);
    return this.#upgrades.start(
      {
        listeners: this.#listeners,
        control: this.#control,
        listenTimeout: this.options.listenTimeout,
        killTimeout: this.options.killTimeout,
        log: this.#log,
        metrics: this.#metricsAddress === undefined ? undefined : {
          release: async () => {
            await this.#metrics?.close();
            this.#metrics = undefined;
          },
          restore: () => this.#serveMetrics(this.#metricsAddress as MetricsAddress),
        },
        retire: () => {
          this.#handedOver = true;
          void this.close();
        },
      },
      options,
    );
  }

  /** A successor's handover: control socket, pid file, then accepting. False (and closing) if it cannot. */
  async #takeOver(): Promise<boolean> {
    const successor = this.#successor as Successor;
    if (this.#closing !== undefined) return false;
    try {
      await this.#control?.listen();
      if (this.#metricsAddress !== undefined) await this.#serveMetrics(this.#metricsAddress);
      if (this.options.pidFile !== undefined) this.options.pidFile = writePidFile(this.options.pidFile, { replacing: successor.from });
    } catch (error) {
      successor.failed(error instanceof Error ? error.message : String(error));
      void this.close(1);
      return false;
    }
    this.#listeners.open();
    this.#ready = true;
    this.emit('ready', this.address);
    return true;
  }

  /** Sets the number of workers: a number, or "+1" / "-1"; never below one. Returns the new count. */
  scale(target: number | string): number {
    const current = this.#pool.size;
    const size = scaledSize(current, target);
    if (this.#closing === undefined && size !== current) {
      this.#log.log('info', `scaling from ${current} to ${size} worker${size === 1 ? '' : 's'}`);
      this.#pool.resize(size);
    }
    return this.#pool.size;
  }

  status(): MasterStatus {
    return masterStatus({
      address: this.address,
      scheduler: this.scheduler.name,
      transport: this.transport,
      startedAt: this.startedAt,
      pool: this.#pool,
      handle: this.#handle,
      listeners: this.#handle.listeners(),
      reloading: this.#reloads.running,
      upgrading: this.#upgrades.running,
      closing: this.#closing !== undefined,
      shuttingDown: this.shuttingDown,
      metricsUrl: this.#metrics?.url,
      sharedStateBytes: this.#messaging.state.bytes,
      observed: { stats: this.#dispatchStats, totals: this.#workerTotals, appMetrics: this.#appMetrics },
    });
  }

  /**
   * True from the first moment of a shutdown: /readyz answers 503 from then
   * on, so load balancers and Kubernetes stop sending traffic while the
   * master drains. close() sets it; markShuttingDown() sets it earlier, for a
   * delay before the shutdown proper (--shutdown-delay).
   */
  get shuttingDown(): boolean {
    return this.#shuttingDown || this.#closing !== undefined;
  }

  /** Not ready from now on (/readyz 503), while everything keeps serving: the start of a shutdown delay. */
  markShuttingDown(): void {
    this.#shuttingDown = true;
  }

  // ---- messages and shared state ------------------------------------------------------

  /** Sends `data` to every worker's onMessage listeners. */
  broadcast(data: unknown): void {
    this.#messaging.relay('master', data, true);
  }

  get state(): Readonly<Record<string, unknown>> {
    return this.#messaging.state.snapshot();
  }

  setState(key: string, value: unknown): StateChange {
    return this.#messaging.apply(this.#messaging.state.set(key, value));
  }

  incrementState(key: string, by = 1): StateChange {
    return this.#messaging.apply(this.#messaging.state.increment(key, by));
  }

  // ---- workers coming and going -----------------------------------------------------

  #wire(worker: Worker): void {
    // A worker that starts closing gets no more connections, whatever made it close.
    worker.on('state', (state) => {
      if (state === 'closing') this.#handle.remove(worker);
    });
    worker.on('ack', (accepted, refused) => this.#handle.acknowledge(worker, accepted, refused));
    worker.on('internal', (message) => this.#onMessage(worker, message));
    worker.on('message', (message, handle) => this.emit('message', worker, message, handle));
    worker.on('write-failed', (seq) => this.#handle.writeFailed(worker, seq));
    // Only once the channel is closed have all its acknowledgements been read:
    // whatever is still in flight then was never accepted, and can go elsewhere.
    worker.on('disconnect', () => {
      this.#handle.reclaim(worker);
      this.#appMetrics?.retire(worker);
    });
    worker.on('exit', (code, signal) => this.#onExit(worker, code, signal));
  }

  #onExit(worker: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    worker.moveTo('dead');
    this.#handle.forget(worker);
    this.#workerTotals.exited(worker, this.#pool.stopping);
    this.#trace?.worker(worker.id, worker.pid, `exited (${describeExit(code, signal)})`);
    this.emit('exit', worker, code, signal);
    if (this.#successor?.pending && this.#closing === undefined) {
      // A new master whose worker dies before the handover does not work: the old one goes on.
      this.#successor.failed(`worker ${worker.id} (pid ${worker.pid}) exited before every worker was ready: ${worker.lastError?.message ?? describeExit(code, signal)}`);
      void this.close(1);
      return;
    }
    if (!this.#pool.exitExpected(worker)) {
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
    if (this.#successor?.pending) return this.#successor.ready(); // ready is emitted once it has taken over
    this.#ready = true;
    this.emit('ready', this.address);
    notifySystemd(['--ready'], this.#log); // Type=notify
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
   * Graceful shutdown: stop accepting, let the workers take every connection
   * the master still holds, drain every worker (forced out after
   * --kill-timeout), then close. Resolves with the exit code a CLI should
   * use: 0 if every connection was answered, 1 if any had to be cut.
   */
  close(exitCode = 0): Promise<number> {
    this.#closing ??= this.#shutdown(exitCode);
    return this.#closing;
  }

  /** The successor of an upgrade serves our sockets now: no --shutdown-delay, and its own backlog is its to accept. */
  #handedOver = false;

  async #shutdown(initialCode: number): Promise<number> {
    // An upgrade under way is called off; its answer to `ctl upgrade` goes out before the control socket closes.
    const upgrade = this.#upgrades.abort('the old master is shutting down');
    const exitCode = await shutDown(
      {
        options: this.options,
        pool: this.#pool,
        listener: this.#handle,
        handle: this.#handle,
        control: upgrade === undefined ? this.#control : undefined,
        handedOver: this.#handedOver,
        log: this.#log,
        stopTimers: () => {
          this.#health.stop();
          this.#stopSchedules();
        },
      },
      initialCode,
    );
    if (upgrade !== undefined) {
      await upgrade;
      // The control connection's answer is written a few promise steps after the upgrade settles: let it go first.
      await new Promise((resolve) => setImmediate(resolve));
      await this.#control?.close();
    }
    await this.#metrics?.close(); // last, with the control socket: probes and scrapes watch the drain
    this.emit('close', exitCode);
    return exitCode;
  }
}

export function createMaster(options: MasterOptions, dependencies?: MasterDependencies): Master {
  return new Master(options, dependencies);
}
