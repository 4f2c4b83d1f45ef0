// The master: owns the listening socket, forks the workers, routes their
// messages, and is what createMaster() returns and the CLI drives.
//
// Its counterpart in Node is lib/internal/cluster/primary.js. The parts are:
//   Listener        the bound socket, accepted on directly (../dispatch/listener.ts)
//   DispatchHandle  queue, hand-off, acks, re-dispatch (../dispatch/)
//   Pool            the worker slots: fork, replace, rotate, retire (pool.ts, retire.ts)
//   Worker          one child process and its lifecycle (worker.ts, lifecycle.ts)
//   messages.ts     what each message from a worker does
//   master/         Master's own steps, one file each (docs/architecture.md lists them): the
//                   checks and binding its constructor does first, each worker's events and
//                   exit, readiness, the upgrade both ways, --metrics, close()
//   HealthMonitor   heartbeat, memory and lifetime checks (../operations/health-monitor.ts, health-remedies.ts)
//   Messaging       broadcast relay and shared state (../operations/messaging.ts)
//   ../operations/  reload, shutdown, auto-reload; ../control/status.ts

import { EventEmitter } from 'node:events';
import { resolveControlPath } from '../control/paths.js';
import { ControlServer } from '../control/server.js';
import type { SchedulerEntry } from '../scheduler/index.js';
import type { HandleTable } from '../dispatch/handle-table.js';
import { createTracer, parseTraceOrigin, TRACE_ORIGIN_ENV, type Tracer } from '../trace.js';
import { HealthMonitor } from '../operations/health-monitor.js';
import type { BoundAddress } from '../dispatch/listener.js';
import type { ListenerSet } from '../dispatch/listener-set.js';
import type { UpgradeOptions, UpgradeResult } from '../operations/upgrade/upgrade.js';
import { createLogger, type Logger } from '../cli/log.js';
import type { MasterOptions, ResolvedOptions } from '../cli/options.js';
import { createHealthActions } from '../operations/health-remedies.js';
import { Pool } from './pool.js';
import { poolOptions, scaledSize } from './pool-config.js';
import { Reloads, rollingReload, type ReloadResult } from '../operations/reload.js';
import { Messaging } from '../operations/messaging.js';
import type { StateChange } from '../operations/shared-state.js';
import { masterStatus, type MasterStatus } from '../control/status.js';
import type { TransportName } from '../wire/transport.js';
import { startSchedules } from '../operations/auto-reload.js';
import type { Worker } from './worker.js';
import { Closing } from './master/closing.js';
import type { MasterEvents } from './master/events.js';
import { Handover } from './master/handover.js';
import { MasterMetrics } from './master/metrics.js';
import { createHandleTable, openListeners } from './master/sockets.js';
import { checkOptions } from './master/options.js';
import { Readiness } from './master/readiness.js';
import { UdpOnly } from './master/udp-only.js';
import { installClusterView, loadPrimaryModule } from './master/cluster-view.js';
import { wireWorkers } from './master/worker-events.js';
import { errorMessage } from '../errors.js';

export type { MasterEvents };

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
  /** An upgrade from here, or this master as the successor of another. */
  readonly #handover: Handover;
  /** Every listening address and its dispatch handle (Node's `handles`): the master's own sockets (one handle), and those the app's listen()s asked for. */
  readonly #handle: HandleTable;
  readonly #pool: Pool;
  readonly #health: HealthMonitor;
  readonly #messaging = new Messaging(() => this.workers);
  readonly #log: Logger;
  readonly #trace: Tracer | null;
  readonly #control: ControlServer | undefined;
  readonly #readiness: Readiness;
  /** An app that binds UDP only: what the master's own listener does then. */
  readonly #udpOnly: UdpOnly;
  readonly #reloads = new Reloads(async () => {
    const result = await rollingReload(this.#pool, this.#log);
    this.emit('reload', result);
    return result;
  });
  /** close(), run once, and whether the master is shutting down. */
  readonly #closing: Closing;
  #stopSchedules: () => void = () => undefined;
  /** Counters for status and /metrics, and the --metrics endpoint. */
  readonly #metrics: MasterMetrics;

  constructor(input: MasterOptions, dependencies: MasterDependencies = {}) {
    super();
    const { options, scheduler: entry, transport } = checkOptions(input);
    this.options = options;
    this.scheduler = entry;
    this.transport = transport;
    this.#log = dependencies.logger ?? createLogger({ format: options.logFormat, timestamps: options.timestamps });
    const traceOrigin = parseTraceOrigin(process.env[TRACE_ORIGIN_ENV]);
    this.#trace = createTracer(options.trace, 'master', traceOrigin, (line) => this.#log.trace(line));

    // Bind (or take the sockets systemd or an old master passed) before forking
    // anything: a busy port fails here, with nothing to clean up.
    const opened = openListeners(options, this.scheduler, this.#log);
    const { inherited } = opened;
    this.#listeners = opened.listeners;
    this.address = this.#listeners.address;
    // A successor writes the pid file and opens the control socket only when it takes over.
    this.#handover = new Handover(
      {
        options,
        log: this.#log,
        listeners: this.#listeners,
        appSockets: () => this.#handle.appSockets(),
        udpSockets: () => this.#handle.udp.handover(),
        metrics: () => this.#metrics,
        control: () => this.#control,
        closing: () => this.#closing?.started ?? false, // asked before the constructor ends: not closing
        reloading: () => this.#reloads.running,
        close: (exitCode) => this.close(exitCode),
        tookOver: () => this.#readiness.tookOver(),
      },
      inherited,
    );
    this.#handover.writePidFile();
    const source = { status: () => this.status(), workers: () => this.workers, healthy: () => this.listeningWorkers.length > 0, shuttingDown: () => this.shuttingDown };
    this.#metrics = new MasterMetrics(options.metrics, source, this.#log);
    const control = resolveControlPath(options.control);
    this.#control = control && new ControlServer({ ...control, target: this, logger: this.#log });

    const { handle, scheduler } = createHandleTable({
      options,
      scheduler: this.scheduler,
      opened,
      log: this.#log,
      trace: this.#trace,
      observer: this.#metrics.dispatchStats,
      inherited: this.#handover.ports,
    });
    this.#handle = handle;
    // Inherited sockets accept once the handle is in place; a successor's only once it takes over.
    if (this.#handover.successor === undefined) this.#listeners.open();

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
    this.#readiness = new Readiness(this.#pool, this.#handover, this.#log, () => this.emit('ready', this.address));
    this.#udpOnly = new UdpOnly(() => this.#pool.workers(), this.#handle, this.address, this.#log);
    wireWorkers({
      options,
      address: this.address,
      pool: this.#pool,
      handle: this.#handle,
      messaging: this.#messaging,
      metrics: this.#metrics,
      handover: this.#handover,
      readiness: this.#readiness,
      udpOnly: this.#udpOnly,
      log: this.#log,
      trace: this.#trace,
      closing: () => this.#closing?.started ?? false,
      close: (exitCode) => void this.close(exitCode),
      events: this,
    });

    this.#health = new HealthMonitor(() => this.workers, options, createHealthActions(this.#pool, options, this.#log, this.#trace));
    this.#closing = new Closing({
      options,
      pool: this.#pool,
      handle: this.#handle,
      control: this.#control,
      handover: this.#handover,
      metrics: this.#metrics,
      log: this.#log,
      stopTimers: () => {
        this.#health.stop();
        this.#stopSchedules();
      },
      closed: (exitCode) => this.emit('close', exitCode),
    });
    // Fork on the next tick, so that whoever called createMaster() can attach listeners first.
    process.nextTick(() => void this.#start());
  }

  /** Opens the control socket, then forks: a control socket that cannot be made stops the start with nothing forked. */
  async #start(): Promise<void> {
    try {
      // A successor serves these once it has taken over (the old master holds them until then).
      if (this.#handover.successor === undefined) {
        await this.#control?.listen();
        await this.#metrics.serve();
      }
      if (this.options.primary !== undefined) {
        installClusterView(this, this.address);
        await loadPrimaryModule(this.options.primary);
      }
    } catch (error) {
      this.#log.log('error', errorMessage(error));
      void this.close(1);
      return;
    }
    if (this.#closing.started) return; // closed before it started
    this.#pool.start();
    this.#health.start();
    this.#stopSchedules = startSchedules(this.options, this.#log, () => this.reload());
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
    if (this.#closing.started) return Promise.resolve({ ok: false, replaced: 0, error: 'the master is shutting down' });
    const error = this.#handover.refusesReload();
    if (error !== undefined) return Promise.resolve({ ok: false, replaced: 0, error });
    return this.#reloads.request();
  }

  /**
   * Replaces this master by a new one, started from what is on disk now, on
   * the same listening sockets (see operations/upgrade/upgrade.ts). Resolves once the
   * new master has taken over (this one then drains and closes) or the
   * upgrade has been rolled back (this one goes on as before).
   */
  upgrade(options: UpgradeOptions = {}): Promise<UpgradeResult> {
    return this.#handover.upgrade(options);
  }

  /** Sets the number of workers: a number, or "+1" / "-1"; never below one. Returns the new count. */
  scale(target: number | string): number {
    const current = this.#pool.size;
    const size = scaledSize(current, target);
    if (!this.#closing.started && size !== current) {
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
      udp: this.#handle.udp.list(),
      noTcpServer: this.#udpOnly.closing,
      reloading: this.#reloads.running,
      upgrading: this.#handover.upgrades.running,
      closing: this.#closing.started,
      shuttingDown: this.shuttingDown,
      metricsUrl: this.#metrics.url,
      sharedStateBytes: this.#messaging.state.bytes,
      observed: this.#metrics.observed(),
    });
  }

  /**
   * True from the first moment of a shutdown: /readyz answers 503 from then
   * on, so load balancers and Kubernetes stop sending traffic while the
   * master drains. close() sets it; markShuttingDown() sets it earlier, for a
   * delay before the shutdown proper (--shutdown-delay).
   */
  get shuttingDown(): boolean {
    return this.#closing.shuttingDown;
  }

  /** Not ready from now on (/readyz 503), while everything keeps serving: the start of a shutdown delay. */
  markShuttingDown(): void {
    this.#closing.markShuttingDown();
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

  // ---- shutdown -------------------------------------------------------------------

  /**
   * Graceful shutdown: stop accepting, let the workers take every connection
   * the master still holds, drain every worker (forced out after
   * --kill-timeout), then close. Resolves with the exit code a CLI should
   * use: 0 if every connection was answered, 1 if any had to be cut.
   */
  close(exitCode = 0): Promise<number> {
    return this.#closing.close(exitCode);
  }
}

export function createMaster(options: MasterOptions, dependencies?: MasterDependencies): Master {
  return new Master(options, dependencies);
}
