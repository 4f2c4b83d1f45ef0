// What the master forks: the worker runtime (Node's counterpart:
// lib/internal/cluster/child.js). It sets up the channel to the master, then
// loads the user's script, whose server it attaches to the master's socket.
//
// The steps, in the order they run (each is a method of WorkerRuntime below):
//   readConfig()            what the master put in our environment
//   new WorkerRuntime()     output, our own send(), the user's channel, the
//                           attacher, the acknowledgements and the
//                           receiver of hand-offs (connections/), the drain
//   answerTheMaster()       one handler per message the master sends
//   handleFaults()          the suicide signal on an uncaught error
//   drainOnSignals()        SIGINT/SIGTERM/--kill-signal, and the master going away
//   reportCutsAtExit()      however the process exits, what it cut, to the master
//   sendHeartbeats()        every --heartbeat-interval, never throwing into the app
//   runScript()             take over listen(), say online, load the script

import type net from 'node:net';
import tls from 'node:tls';
import { createLineWriter, installFastReceiver } from '../wire/fast-handoff.js';
import { isTcpHandle, isUdpHandle } from '../wire/node-internals.js';
import { CMD, isHandoffMessage, serializeError, WORKER_CONFIG_ENV, type AskedAddress, type DrainReason, type MasterMessage, type MasterMessageType, type ScriptForm, type WorkerConfig, type WorkerMessage } from '../wire/protocol.js';
import { createTracer, parseTraceOrigin, TRACE_ORIGIN_ENV, type Tracer } from '../trace.js';
import { sendHeartbeats } from './heartbeat.js';
import { Attacher } from './attach.js';
import { createDrain, type Drain } from './drain/drain.js';
import { followServer, type ServerFollower } from './drain/server-drain.js';
import { Requests } from './drain/requests.js';
import { drainOnSignals } from './drain/signals.js';
import { reportCutsAtExit } from './drain/exit-report.js';
import { interceptListen } from './listen-intercept.js';
import { loadScript } from './load-script.js';
import { installChannel, WorkerChannel } from './channel.js';
import { becomeClusterWorker } from './cluster-worker.js';
import { ListenRouter, shownAddress } from './listens.js';
import { AppMetricsReader } from './app-metrics.js';
import { AckBatcher } from './connections/acks.js';
import { LoadReport } from './connections/connection-count.js';
import { ConnectionReceiver } from './connections/receive.js';
import { UdpBinds } from '../udp/udp-bind.js';

function readConfig(): WorkerConfig {
  const text = process.env[WORKER_CONFIG_ENV];
  delete process.env[WORKER_CONFIG_ENV];
  if (text === undefined || typeof process.send !== 'function') {
    process.stderr.write('handoff: the worker runtime is started by the master (handoff <script>), not directly\n');
    process.exit(1);
  }
  return JSON.parse(text) as WorkerConfig;
}

// The master prefixes every line we print with our id and pid: "[w2 4711] handoff: ...".
const log = (message: string): void => void process.stderr.write(`handoff: ${message}\n`);

class WorkerRuntime {
  readonly config: WorkerConfig;
  readonly trace: Tracer | null;
  readonly #rawSend: NonNullable<typeof process.send>;
  readonly requests = new Requests();
  readonly channel: WorkerChannel;
  readonly attacher: Attacher;
  readonly load: LoadReport;
  readonly acks: AckBatcher;
  readonly fast: ReturnType<typeof installFastReceiver>;
  readonly drainer: Drain;
  readonly listens: ListenRouter;
  /** The app's dgram bind()s, shared through the master (udp/udp-bind.ts). */
  readonly udp: UdpBinds;
  readonly #writeLine: (line: string, done?: () => void) => void;
  /** What closes the attached server's connections politely at the drain; undefined until it is attached. */
  #follower: ServerFollower | undefined;
  /** Each hand-off from the master: refused, or given to its server (connections/receive.ts). */
  readonly connections: ConnectionReceiver;
  /** The app's own prom-client registry, for --metrics (child/app-metrics.ts). */
  readonly appMetrics: AppMetricsReader;
  /**
   * Readiness: the server is attached (or, with none yet, a shared UDP bind succeeded), the shared
   * state has arrived, and with --wait-ready the app said so.
   */
  #attachedAs: ScriptForm | undefined;
  /** What the attached server's listen() named, for the master's mapping line. */
  #asked: AskedAddress | undefined;
  #haveState = false;
  #appReady: boolean;
  #udpBound = false;
  /** Said ready by a UDP bind alone, before any server was attached. */
  #reportedUdpOnly = false;
  /** Said ready with the attached server, which is what brings connections. */
  #reportedServer = false;
  #dying = false;

  constructor(config: WorkerConfig) {
    this.config = config;
    this.#appReady = !config.waitReady;
    // If the master is gone, so is the read end of our stdout and stderr: writing
    // must not turn into an endless chain of EPIPE errors while we drain.
    for (const stream of [process.stdout, process.stderr]) stream.on('error', ignore);
    this.trace = createTracer(config.trace, `w${config.id}`, parseTraceOrigin(process.env[TRACE_ORIGIN_ENV]));
    // Our own reference to process.send, taken before user code could replace it.
    this.#rawSend = (process.send as NonNullable<typeof process.send>).bind(process);
    this.channel = new WorkerChannel(config.id, config.slot, (message) => this.send(message));
    installChannel(this.channel);
    this.attacher = new Attacher(config, { onAttached: (form, server) => this.#attached(form, server) });
    if (config.waitReady) this.#waitForAppReady();
    this.load = new LoadReport((message) => this.send(message), () => this.attacher.active, () => this.acks.pending);
    // Acknowledgements are written as ready-made lines on the pipe (fast-handoff.ts);
    // where this Node does not allow it, they go through process.send().
    this.#writeLine = createLineWriter() ?? ((line: string, done?: () => void) => this.send(JSON.parse(line) as WorkerMessage, () => done?.()));
    this.acks = new AckBatcher(this.#writeLine, () => this.load.take());
    this.fast = installFastReceiver((seq, listener, handle) => this.connections.receive(seq, listener, handle));
    this.appMetrics = new AppMetricsReader(config.script);
    this.listens = new ListenRouter({
      masterPort: config.address.port,
      attach: (server, asked, backlog) => {
        this.#asked = asked;
        this.attacher.attach(server, 'listen', backlog, shownAddress(config.address, asked));
      },
      attached: () => this.attacher.server !== undefined,
      send: (message) => this.send(message),
    });
    this.udp = new UdpBinds(
      (message) => this.send(message),
      () => {
        this.#udpBound = true;
        this.#reportReadyWhenReady();
      },
    );
    this.drainer = createDrain({
      attacher: this.attacher,
      killSignal: config.killSignal,
      follower: () => this.#follower,
      others: this.listens,
      tellApp: (reason, deadline) => this.channel.startDrain(reason, deadline),
      announce: (reason, active) => this.send({ cmd: CMD, type: 'draining', reason, active }),
      exit: (code) => this.exit(code),
      letGo: () => void this.#lastMetrics().then(() => this.acks.flush(() => process.channel?.unref())),
      log,
    });
    this.connections = new ConnectionReceiver({ trace: this.trace, acks: this.acks, attacher: this.attacher, listens: this.listens });
  }

  send(message: WorkerMessage, callback?: (error: Error | null) => void): void {
    if (!process.connected) return callback?.(null);
    try {
      this.#rawSend(message, undefined, {}, callback ?? ignore);
    } catch {
      callback?.(null);
    }
  }

  /** Exits once the master has everything we wrote, so no acknowledgement (and no last metrics snapshot) is lost. */
  exit(code: number): void {
    void this.#lastMetrics().then(() => this.acks.flush(() => process.exit(code)));
  }

  /** With --metrics, the app's counters as they are at the end, so the master keeps counting them (briefly: a hung collect must not hold the exit). */
  async #lastMetrics(): Promise<void> {
    if (!this.config.metrics || this.appMetrics.registry() === undefined) return;
    let timer: NodeJS.Timeout | undefined;
    const reply = await Promise.race([this.appMetrics.answer(0), new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), 250)))]);
    clearTimeout(timer);
    if (reply !== undefined) await new Promise<void>((resolve) => this.send(reply, () => resolve()));
  }

  drain(reason: DrainReason, timeoutMs: number): void {
    this.drainer.start(reason, timeoutMs); // closes the app's other servers too, and waits for them
    this.udp.stopReceiving();
  }

  // ---- readiness ------------------------------------------------------------------
  // Ready once the server is attached, or once a shared UDP bind succeeded:
  // cluster's child.js says 'listening' for either. With UDP alone the master
  // gives this worker no connection; a server attached later is said in a
  // second 'listening', which does. In shared, the server starts accepting
  // only once ready.

  #attached(form: ScriptForm, server: net.Server): void {
    this.requests.track(server);
    this.#follower = followServer(server);
    if (this.trace) this.connections.followSockets(server);
    if (this.config.reportLoad) this.load.follow(server);
    this.#attachedAs = form;
    this.#reportReadyWhenReady();
  }

  #reportReadyWhenReady(): void {
    if (this.#reportedServer || !this.#haveState || !this.#appReady) return;
    if (this.#attachedAs === undefined) {
      if (this.#reportedUdpOnly || !this.#udpBound) return;
      this.#reportedUdpOnly = true;
      return this.send({ cmd: CMD, type: 'listening' }); // UDP only, so far
    }
    if (this.config.accepts === 'self' && !this.attacher.acceptOnSharedSocket()) return; // the socket is on its way
    this.#reportedServer = true;
    this.send({ cmd: CMD, type: 'listening', form: this.#attachedAs, tls: this.attacher.server instanceof tls.Server, asked: this.#asked });
  }

  /** PM2's convention: the app says it is ready with process.send('ready'), which still reaches the master. */
  #waitForAppReady(): void {
    const userSend = process.send as (...args: unknown[]) => boolean;
    const onReady = (): void => {
      this.#appReady = true;
      process.nextTick(() => this.#reportReadyWhenReady());
    };
    process.send = function (this: unknown, ...args: unknown[]): boolean {
      if (args[0] === 'ready') onReady();
      return userSend.apply(process, args);
    } as typeof process.send;
  }

  // ---- the steps ------------------------------------------------------------------------

  /** One handler per message the master sends. */
  answerTheMaster(): void {
    type Handlers = { [T in MasterMessageType]: (message: Extract<MasterMessage, { type: T }>, handle: unknown) => void };
    const handlers: Handlers = {
      conn: (message, handle) => this.connections.receive(message.seq, message.listener ?? 0, isTcpHandle(handle) ? handle : this.fast?.take()),
      'listen-reply': (message, handle) => this.listens.answered(message, isTcpHandle(handle) ? handle : undefined),
      'udp-reply': (message, handle) => this.udp.answered(message, isUdpHandle(handle) ? handle : undefined),
      'listen-handle': (_message, handle) => {
        if (!isTcpHandle(handle)) return;
        this.attacher.receiveSharedHandle(handle);
        this.#reportReadyWhenReady();
      },
      unshare: () => {
        // Every shared socket: the master's own, and those of the app's other ports.
        this.attacher.returnSharedSocket();
        this.listens.returnSharedSockets();
        this.send({ cmd: CMD, type: 'unshared' });
      },
      drain: (message) => this.drain(message.reason, message.timeoutMs),
      'metrics-req': (message) => void this.appMetrics.answer(message.id).then((reply) => this.send(reply)),
      relay: (message) => this.channel.deliver(message.from, message.data),
      state: (message) => {
        this.channel.replaceState(message.state);
        this.#haveState = true;
        this.#reportReadyWhenReady();
      },
    };
    process.on('internalMessage', (message: unknown, handle: unknown) => {
      if (!isHandoffMessage(message)) return;
      const handler = handlers[message.type as MasterMessageType] as ((m: unknown, h: unknown) => void) | undefined;
      handler?.(message, handle);
    });
  }

  /**
   * The suicide signal: tell the master first, so it forks the replacement
   * now, then drain. Further errors while draining are only logged.
   */
  handleFaults(): void {
    const onFatal = (error: unknown, origin: string): void => {
      const serialized = serializeError(error);
      if (this.#dying) return log(`${origin} while draining: ${serialized.stack}`);
      this.#dying = true;
      log(`${origin}, draining and exiting:\n${serialized.stack}`);
      this.send({ cmd: CMD, type: 'suicide', error: serialized });
      this.trace?.worker(this.config.id, process.pid, 'suicide signal sent; draining');
      this.requests.answerThrown();
      this.drain('suicide', this.config.killTimeout);
    };
    process.on('uncaughtException', (error) => onFatal(error, 'uncaught exception'));
    process.on('unhandledRejection', (reason) => onFatal(reason, 'unhandled rejection'));
  }

  /** SIGINT/SIGTERM/--kill-signal, and the master going away, start the drain (drain/signals.ts). */
  drainOnSignals(): void {
    const { killSignal, killTimeout } = this.config;
    drainOnSignals({ killSignal, killTimeout, drainer: this.drainer, drain: (reason, timeoutMs) => this.drain(reason, timeoutMs) });
  }

  /** However the process exits, what it cut, to the master (drain/exit-report.ts). */
  reportCutsAtExit(): void {
    reportCutsAtExit({ acks: this.acks, requests: this.requests, attacher: this.attacher, writeLine: (line) => this.#writeLine(line) });
  }

  /** Every --heartbeat-interval, never throwing into the app (heartbeat.ts). */
  sendHeartbeats(): void {
    sendHeartbeats({
      intervalMs: this.config.heartbeatInterval,
      send: (message) => this.send(message),
      active: () => this.attacher.active,
      requests: () => this.requests.served,
      log,
    });
  }

  /** Takes over the first listen(), says online, and loads the user's script. */
  async runScript(): Promise<void> {
    interceptListen((server, args, realListen) => this.listens.take(server, args, realListen));
    becomeClusterWorker({
      id: this.config.id,
      disconnect: () => this.drain('disconnect', this.config.killTimeout),
      share: (server, query, callback) => this.listens.share(server as net.Server, query, callback),
      shareUdp: (query, callback) => this.udp.share(query, callback),
    });
    process.channel?.ref(); // internal messages alone do not keep a child alive
    this.send({ cmd: CMD, type: 'online' });
    process.argv[1] = this.config.script; // the script sees the argv it would have had, run directly
    try {
      await loadScript(this.config.script, this.attacher);
    } catch (error) {
      this.send({ cmd: CMD, type: 'load-error', error: serializeError(error) }, () => process.exit(1));
    }
  }
}

function ignore(): void {}

const runtime = new WorkerRuntime(readConfig());
runtime.answerTheMaster();
runtime.handleFaults();
runtime.drainOnSignals();
runtime.reportCutsAtExit();
runtime.sendHeartbeats();
await runtime.runScript();
