// The master's record of one worker process: what Node's cluster keeps in its
// Worker object (lib/internal/cluster/worker.js): the process, its lifecycle,
// and what it reports. What the dispatcher counts per worker is in its lane
// (dispatch/lane.ts); memory, CPU and requests in its Usage.

import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import { CMD, decodeWorkerMessage, WORKER_CONFIG_ENV, type DrainReason, type MasterMessage, type SerializedError, type WorkerConfig, type WorkerMessage } from '../wire/protocol.js';
import { installAckReceiver, type ConnectionWriter } from '../wire/fast-handoff.js';
import type { PendingConnection } from '../dispatch/connection.js';
import type { HandleWorker } from '../dispatch/handles.js';
import type { TcpHandle } from '../wire/node-internals.js';
import { Usage } from '../operations/process-stats.js';
import type { RetireReason } from './retire.js';
import { forEachLine } from './worker-output.js';
import { createConnectionWriter, sendSafely, type TransportName } from '../wire/transport.js';
import { canMove, type WorkerState } from './lifecycle.js';

const runtimePath = fileURLToPath(new URL('../child/runtime.js', import.meta.url));

export interface WorkerInit {
  id: number;
  slot: number;
  config: Omit<WorkerConfig, 'id' | 'slot'>;
  args: readonly string[];
  env: NodeJS.ProcessEnv;
  transport: TransportName;
  /** Each whole line the worker prints. */
  output(worker: Worker, stream: 'stdout' | 'stderr', line: string): void;
}

export interface WorkerEvents {
  /** It moved along its lifecycle. */
  state: [state: WorkerState];
  /** A well-formed handoff message from the runtime. */
  internal: [message: Exclude<WorkerMessage, { type: 'ack' }>];
  /** Answers to hand-offs: they go straight to the dispatch handle. */
  ack: [accepted: readonly number[], refused: readonly number[]];
  /** It wrote an acknowledgement the master could not read (dropped); at most one a minute is told. */
  'bad-ack': [line: string, dropped: number];
  /** A message from the user's code (process.send), passed on untouched. */
  message: [message: unknown, handle: unknown];
  /** A connection write failed after it was queued. */
  'write-failed': [seq: number];
  /** The IPC channel closed: every message the worker sent has been read. */
  disconnect: [];
  /** Both: it exited, and its channel was read to the end (its exit report, if any, is in). */
  gone: [];
  exit: [code: number | null, signal: NodeJS.Signals | null];
}

export class Worker extends EventEmitter<WorkerEvents> implements HandleWorker {
  readonly id: number;
  readonly slot: number;
  readonly process: ChildProcess;
  readonly transport: TransportName;
  readonly forkedAt = Date.now();

  state: WorkerState = 'starting';
  /**
   * True once the master asked this worker to go (shutdown, scale-down,
   * reload, rotation): its exit is then expected and it is not replaced.
   * Node calls this worker.exitedAfterDisconnect (it was once `suicide`).
   */
  exitedAfterDisconnect = false;
  /** Its slot already has a replacement (forked at the suicide signal, or before a rotation). */
  replaced = false;
  /**
   * Forked to replace a working worker (reload, rotation): if it fails before
   * it is ready, the old worker stays, and this one is not replaced.
   */
  onProbation = false;
  /** Open connections, as the worker last reported. */
  active = 0;
  /** Memory, CPU and requests: measured and reported, written only by the Usage itself. */
  readonly usage = new Usage();
  /** Its event loop, as last reported (DispatchWorker: schedulers see them on their view). */
  get elu(): number | null {
    return this.usage.elu;
  }
  get loopDelayP99(): number | null {
    return this.usage.loopDelayP99;
  }
  /** Why it was first retired (primary/retire.ts), for the restart counts; undefined if it just exited. */
  retiredFor: RetireReason | undefined;
  listeningAt: number | undefined;
  /**
   * It has a TCP server attached to the master's listener, so it gets connections. False for a worker
   * that is listening by a UDP bind alone (an app that binds UDP only; see master/udp-only.ts).
   */
  servesTcp = false;
  /** Its server speaks TLS (so the master's address is https://), as the worker said when it attached. */
  tls = false;
  lastHeartbeat = Date.now();
  drainReason: DrainReason | undefined;
  lastError: SerializedError | undefined;
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  /** What it said it cut as it exited (see cut.ts); undefined if it could not say (SIGKILL). */
  exitReport: { code: number; inFlight: number; open: number } | undefined;
  /** It exited, and its channel was read to the end. */
  gone = false;

  readonly #write: ConnectionWriter;
  #killTimer: NodeJS.Timeout | undefined;
  /** Unreadable acknowledgements since the last one told, and when that was. */
  #badAcks = { dropped: 0, toldAt: -Infinity };

  constructor(init: WorkerInit) {
    super();
    this.id = init.id;
    this.slot = init.slot;
    const config: WorkerConfig = { ...init.config, id: init.id, slot: init.slot };
    this.process = fork(runtimePath, [...init.args], {
      env: {
        ...init.env,
        [WORKER_CONFIG_ENV]: JSON.stringify(config),
        HANDOFF_WORKER_ID: String(init.id),
        HANDOFF_WORKER_SLOT: String(init.slot),
        NODE_APP_INSTANCE: String(init.slot), // PM2's name for the slot: "instance 0 runs the cron job"
      },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      serialization: 'json',
    });
    const { stdout, stderr } = this.process;
    if (stdout) forEachLine(stdout, (line) => init.output(this, 'stdout', line));
    if (stderr) forEachLine(stderr, (line) => init.output(this, 'stderr', line));
    const writer = createConnectionWriter(init.transport, this.process, (seq) => this.emit('write-failed', seq));
    this.#write = writer.write;
    this.transport = writer.name;

    const child = this.process;
    // An 'error' event without a listener would crash the master (e.g. fork failed with EAGAIN).
    child.on('error', () => undefined);
    // On the fast transport the master reads the acks itself; the rest (and an ack line split across reads) comes through Node.
    if (this.transport === 'fast') installAckReceiver(child, this.#onAck, (line) => this.#onBadAck(line));
    child.on('internalMessage', (raw: unknown) => {
      const message = decodeWorkerMessage(raw);
      if (message === undefined) return;
      if (message.type === 'ack') return this.#onAck(message.accepted, message.refused, message.active);
      if ('active' in message) this.active = message.active; // every count the worker reports
      this.emit('internal', message);
    });
    child.on('message', (message, handle) => this.emit('message', message, handle));
    // With subprocess.send(), Node postpones 'disconnect' while a handle it
    // sent still awaits its NODE_HANDLE_ACK -- forever, if the worker froze and
    // was killed. 'close' comes once the process has exited and the channel
    // has been read to its end, which is all 'disconnect' promises here.
    let channelGone = false;
    let exited = false;
    const maybeGone = (): void => {
      if (!channelGone || !exited || this.gone) return;
      this.gone = true;
      this.emit('gone');
    };
    const onChannelGone = (): void => {
      if (channelGone) return;
      channelGone = true;
      this.emit('disconnect');
      maybeGone();
    };
    child.once('disconnect', onChannelGone);
    child.once('close', onChannelGone);
    child.once('exit', (code, signal) => {
      clearTimeout(this.#killTimer);
      this.exitCode = code;
      this.exitSignal = signal;
      exited = true;
      this.emit('exit', code, signal);
      maybeGone();
      // The channel closes with the process; should anything hold it open, do not wait for it forever.
      if (!this.gone) setTimeout(() => ((channelGone = true), maybeGone()), 1000).unref();
    });
  }

  get pid(): number {
    return this.process.pid ?? 0;
  }

  readonly #onAck = (accepted: readonly number[], refused: readonly number[], active: number): void => {
    this.active = active;
    this.emit('ack', accepted, refused);
  };

  #onBadAck(line: string): void {
    this.#badAcks.dropped++;
    const now = Date.now();
    if (now - this.#badAcks.toldAt < 60_000) return;
    this.emit('bad-ack', line, this.#badAcks.dropped);
    this.#badAcks = { dropped: 0, toldAt: now };
  }

  /** Milliseconds since it started listening (0 if it never did). */
  uptime(now = Date.now()): number {
    return this.listeningAt === undefined ? 0 : now - this.listeningAt;
  }

  /** Moves along the lifecycle; false (and no change) if the move is not allowed from here. */
  moveTo(next: WorkerState): boolean {
    if (!canMove(this.state, next)) return false;
    this.state = next;
    if (next === 'listening') this.listeningAt = Date.now();
    this.emit('state', next);
    return true;
  }

  // ---- HandleWorker: what a dispatch handle sends ----------------------------------

  sendConnection(connection: PendingConnection): boolean {
    return this.#write(connection.seq, connection.handle, connection.listener);
  }

  sendListenHandle(handle: TcpHandle): boolean {
    return this.send({ cmd: CMD, type: 'listen-handle' }, handle);
  }

  sendUnshare(): boolean {
    return this.send({ cmd: CMD, type: 'unshare' });
  }

  // ---- control --------------------------------------------------------------------

  send(message: MasterMessage, handle?: unknown): boolean {
    return sendSafely(this.process, message, handle);
  }

  /** Asks the worker for its app's prom-client metrics (answered with a `metrics` message). */
  requestMetrics(id: number): boolean {
    return this.send({ cmd: CMD, type: 'metrics-req', id });
  }

  /** SIGKILL now, for a worker that cannot be reasoned with (silent, or the master must stop). */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill(signal);
  }

  /** The escalation of retire(): SIGKILL it if it is still here after `afterMs`; `onForced` is told first. */
  killAfter(afterMs: number, onForced: () => void): void {
    if (this.#killTimer !== undefined || this.state === 'dead') return;
    this.#killTimer = setTimeout(() => {
      if (this.state === 'dead') return;
      onForced();
      this.kill('SIGKILL');
    }, afterMs);
    this.#killTimer.unref();
  }
}

export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `killed by ${signal}` : `exit code ${code}`;
}
