// What the master forks: the worker runtime. It sets up the channel to the
// master, then loads the user's script, whose server it attaches to the
// master's socket (Node's counterpart: lib/internal/cluster/child.js).

import type net from 'node:net';
import { createLineWriter, installFastReceiver } from '../wire/fast-handoff.js';
import { isTcpHandle, type TcpHandle } from '../wire/node-internals.js';
import { CMD, isHandoffMessage, serializeError, WORKER_CONFIG_ENV, type DrainReason, type MasterMessage, type MasterMessageType, type ScriptForm, type WorkerConfig, type WorkerMessage } from '../wire/protocol.js';
import { createTracer, parseTraceOrigin, TRACE_ORIGIN_ENV } from '../trace.js';
import { AckBatcher } from './acks.js';
import { EventLoopMonitor } from './event-loop.js';
import { Attacher } from './attach.js';
import { answerThrownRequest, createDrain, requestsServed, trackRequests } from './drain.js';
import { interceptListen } from './listen-intercept.js';
import { loadScript } from './load-script.js';
import { LoadReport } from './connection-count.js';
import { installChannel, WorkerChannel } from './channel.js';

const config = readConfig();

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
// If the master is gone, so is the read end of our stdout and stderr: writing
// must not turn into an endless chain of EPIPE errors while we drain.
for (const stream of [process.stdout, process.stderr]) stream.on('error', ignore);
const trace = createTracer(config.trace, `w${config.id}`, parseTraceOrigin(process.env[TRACE_ORIGIN_ENV]));

// Our own reference to process.send, taken before user code could replace it.
const rawSend = (process.send as NonNullable<typeof process.send>).bind(process);
function send(message: WorkerMessage, callback?: (error: Error | null) => void): void {
  if (!process.connected) return callback?.(null);
  try {
    rawSend(message, undefined, {}, callback ?? ignore);
  } catch {
    callback?.(null);
  }
}

const channel = new WorkerChannel(config.id, config.slot, (message) => send(message));
installChannel(channel);

const attacher = new Attacher(config, {
  onAttached: (form, server) => {
    trackRequests(server);
    if (trace) followSockets(server);
    if (config.reportLoad) load.follow(server);
    attachedAs = form;
    reportReadyWhenReady();
  },
});

// ---- readiness --------------------------------------------------------------------
// Ready means: the server is attached, the shared state has arrived (so the
// app never serves a request without it), and with --wait-ready the app has
// called process.send('ready'). In shared, the server starts accepting only then.

let attachedAs: ScriptForm | undefined;
let haveState = false;
let appReady = !config.waitReady;
let reportedReady = false;
function reportReadyWhenReady(): void {
  if (reportedReady || attachedAs === undefined || !haveState || !appReady) return;
  if (config.accepts === 'self' && !attacher.acceptOnSharedSocket()) return; // the socket is on its way
  reportedReady = true;
  send({ cmd: CMD, type: 'listening', form: attachedAs });
}

if (config.waitReady) {
  // PM2's convention: the app says it is ready with process.send('ready'), which still reaches the master.
  const userSend = process.send as (...args: unknown[]) => boolean;
  process.send = function (this: unknown, ...args: unknown[]): boolean {
    if (args[0] === 'ready') {
      appReady = true;
      process.nextTick(reportReadyWhenReady);
    }
    return userSend.apply(process, args);
  } as typeof process.send;
}
const load: LoadReport = new LoadReport(send, () => attacher.active, () => acks.pending);
// Acknowledgements are written as ready-made lines on the pipe (fast-handoff.ts);
// where this Node does not allow it, they go through process.send().
const writeLine = createLineWriter() ?? ((line: string, done?: () => void) => send(JSON.parse(line) as WorkerMessage, () => done?.()));
const acks = new AckBatcher(writeLine, () => load.take());
const fast = installFastReceiver((seq, handle) => onConnection(seq, handle));

/** Exits once the master has everything we wrote, so no acknowledgement is lost. */
function exit(code: number): void {
  acks.flush(() => process.exit(code));
}

const drainer = createDrain({
  attacher,
  killSignal: config.killSignal,
  announce: (reason, active) => send({ cmd: CMD, type: 'draining', reason, active }),
  exit,
  letGo: () => acks.flush(() => process.channel?.unref()),
  log,
});
const drain = (reason: DrainReason, timeoutMs: number): void => drainer.start(reason, timeoutMs);

// ---- connections ------------------------------------------------------------------

function onConnection(seq: number, handle: TcpHandle | undefined): void {
  trace?.conn(seq, 'received by the worker');
  if (handle === undefined) {
    trace?.conn(seq, 'arrived without its descriptor: refused');
    return acks.refuse(seq);
  }
  if (!attacher.canAccept()) {
    handle.close();
    trace?.conn(seq, 'refused: server closed or at maxConnections');
    return acks.refuse(seq);
  }
  acks.accept(seq); // before the socket exists: see acks.ts
  deliveringSeq = seq;
  try {
    attacher.deliver(handle); // the user's 'connection' listeners run in here, and may throw
  } finally {
    deliveringSeq = undefined;
  }
}

/** With --trace: the master's seq of the connection being delivered right now, to name its socket. */
let deliveringSeq: number | undefined;
let selfAccepted = 0;
function followSockets(server: net.Server): void {
  server.on('connection', (socket) => {
    let name: number | string | undefined = deliveringSeq;
    if (name === undefined) {
      name = `s${++selfAccepted}`;
      trace?.conn(name, 'accepted by the worker itself, from the shared socket');
    } else {
      trace?.conn(name, 'accepted: the server has it as a net.Socket');
    }
    const seq = name;
    socket.once('close', () => trace?.conn(seq, 'closed'));
  });
}

// ---- messages from the master ------------------------------------------------------

type Handlers = { [T in MasterMessageType]: (message: Extract<MasterMessage, { type: T }>, handle: unknown) => void };
const handlers: Handlers = {
  conn: (message, handle) => onConnection(message.seq, isTcpHandle(handle) ? handle : fast?.take()),
  'listen-handle': (_message, handle) => {
    if (!isTcpHandle(handle)) return;
    attacher.receiveSharedHandle(handle);
    reportReadyWhenReady();
  },
  drain: (message) => drain(message.reason, message.timeoutMs),
  relay: (message) => channel.deliver(message.from, message.data),
  state: (message) => {
    channel.replaceState(message.state);
    haveState = true;
    reportReadyWhenReady();
  },
};

process.on('internalMessage', (message: unknown, handle: unknown) => {
  if (!isHandoffMessage(message)) return;
  const handler = handlers[message.type as MasterMessageType] as ((m: unknown, h: unknown) => void) | undefined;
  handler?.(message, handle);
});

// ---- faults --------------------------------------------------------------------------

// The suicide signal: tell the master first, so it forks the replacement now,
// then drain. Further errors while draining are only logged.
let dying = false;
function onFatal(error: unknown, origin: string): void {
  const serialized = serializeError(error);
  if (dying) return log(`${origin} while draining: ${serialized.stack}`);
  dying = true;
  log(`${origin}, draining and exiting:\n${serialized.stack}`);
  send({ cmd: CMD, type: 'suicide', error: serialized });
  trace?.worker(config.id, process.pid, 'suicide signal sent; draining');
  answerThrownRequest();
  drain('suicide', config.killTimeout);
}
process.on('uncaughtException', (error) => onFatal(error, 'uncaught exception'));
process.on('unhandledRejection', (reason) => onFatal(reason, 'unhandled rejection'));

// SIGINT/SIGTERM sent to the worker itself (a terminal's Ctrl-C reaches the
// whole process group), and the --kill-signal the master sends with every
// drain request: drain gracefully instead of dying mid-request. The app's own
// listeners for these signals run too; that is the point of --kill-signal.
for (const signal of new Set<NodeJS.Signals>(['SIGINT', 'SIGTERM', config.killSignal])) {
  process.on(signal, () => {
    if (signal === config.killSignal) drainer.killSignalArrived();
    drain('shutdown', config.killTimeout);
  });
}

// The master is gone (even SIGKILLed): its end of the channel closed. Nobody
// will replace us or send us work; finish what is open, briefly, and go.
process.on('disconnect', () => drain('master-gone', Math.min(config.killTimeout, 1000)));

if (config.heartbeatInterval > 0) {
  const loop = new EventLoopMonitor();
  setInterval(() => send({ cmd: CMD, type: 'heartbeat', active: attacher.active, rss: process.memoryUsage.rss(), requests: requestsServed, ...loop.sample() }), config.heartbeatInterval).unref();
}

// ---- start ------------------------------------------------------------------------------

interceptListen((server, backlog) => attacher.attach(server, 'listen', backlog));
process.channel?.ref(); // internal messages alone do not keep a child alive
send({ cmd: CMD, type: 'online' });
process.argv[1] = config.script; // the script sees the argv it would have had, run directly

try {
  await loadScript(config.script, attacher);
} catch (error) {
  send({ cmd: CMD, type: 'load-error', error: serializeError(error) }, () => process.exit(1));
}

function ignore(): void {}
