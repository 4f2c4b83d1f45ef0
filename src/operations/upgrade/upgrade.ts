// Replacing the master itself (`handoff ctl upgrade`, master.upgrade()):
// nginx's binary upgrade, done with child_process.
//
//  1. The old master spawns its successor from what is on disk now: the node
//     binary on PATH (or --node), the handoff entry script, the same command
//     line (so a config file is read again). Every listening socket goes with
//     it as an inherited descriptor, fd 3 on: the master's own
//     (HANDOFF_LISTEN_FDS), then those of the app's other ports, with what
//     each listen() asked for (HANDOFF_APP_LISTENS; the successor gives them
//     to its workers' same listen()s: inherited-ports.ts), then the app's UDP
//     sockets, with what each dgram bind asked for (HANDOFF_APP_UDP; given to
//     the same binds, ../../udp/udp-sockets.ts); an IPC channel comes after
//     them; stdout and stderr are the old master's own.
//  2. The successor forks its workers; it does not accept yet (its listeners
//     are gated) and has no pid file or control socket. Once every worker is
//     ready it says `ready`.
//  3. The old master gives up its control socket path and says `take-over`.
//     The successor binds the control socket, writes the pid file, starts
//     accepting, and says `took-over`. Both masters accept on the same
//     sockets for a moment: nothing queued in the kernel is lost.
//  4. The old master stops accepting and drains its workers (its ordinary
//     graceful shutdown, Master.close()), then exits. Its workers stop
//     reading the UDP sockets at their drain; the new ones, which read them
//     from the start, get every datagram from then on.
//
// If the successor cannot be started, exits, says `failed`, or is not ready
// within --listen-timeout, it is stopped (SIGTERM, then SIGKILL), the old
// master binds its control socket again if it had let it go, and goes on
// serving: nothing changed for its workers, which never stopped.
//
// systemd: the main pid changes. With NOTIFY_SOCKET set, the successor
// reports its pid (successor.ts); socket activation is the other way.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { ControlServer } from '../../control/server.js';
import type { ListenRequest } from '../../dispatch/handle-table.js';
import type { ListenerSet } from '../../dispatch/listener-set.js';
import { UPGRADE_APP_ENV, UPGRADE_FDS_ENV, UPGRADE_FROM_ENV, UPGRADE_SYSTEMD_ENV, UPGRADE_UDP_ENV } from '../../dispatch/inherited-socket.js';
import type { UdpRequest } from '../../udp/udp-sockets.js';
import type { TcpHandle, UdpHandle } from '../../wire/node-internals.js';
import type { Logger } from '../../cli/log.js';
import { formatDuration } from '../../units.js';

/** The tag of the messages between the two masters: Node delivers NODE_* messages to 'internalMessage', never to user code. */
export const UPGRADE_CMD = 'NODE_HANDOFF_UPGRADE';

export type SuccessorMessage =
  | { cmd: typeof UPGRADE_CMD; type: 'ready'; node: string }
  | { cmd: typeof UPGRADE_CMD; type: 'took-over' }
  | { cmd: typeof UPGRADE_CMD; type: 'failed'; error: string };
export type OldMasterMessage = { cmd: typeof UPGRADE_CMD; type: 'take-over' };

export interface UpgradeOptions {
  /** The node binary to run the successor on; default: `node` on PATH, else this one. */
  node?: string;
}

export interface UpgradeResult {
  ok: boolean;
  /** The old master: this process. */
  previous: number;
  /** The successor, once it has taken over. */
  pid?: number;
  /** The successor's node version. */
  node?: string;
  error?: string;
  /** Not even tried: another upgrade, a reload or a shutdown was under way. */
  refused?: boolean;
}

export interface UpgradeParts {
  listeners: ListenerSet;
  /** A new descriptor of each of the app's other listening sockets (HandleTable.appSockets()). */
  appSockets(): Promise<Array<{ asked: ListenRequest; handle: TcpHandle }>>;
  /** The app's UDP sockets (UdpSockets.handover()): the master's own handles, passed as they are, never closed here. */
  udpSockets(): Array<{ asked: UdpRequest; handle: UdpHandle }>;
  control: ControlServer | undefined;
  listenTimeout: number;
  killTimeout: number;
  log: Logger;
  /** Stop accepting, drain the workers, exit: the master's graceful shutdown. */
  retire(): void;
  /** --metrics: let go of its port for the new master at the handover, and take it back on a rollback. */
  metrics?: { release(): Promise<void>; restore(): Promise<void> };
}

class UpgradeFailed extends Error {}

/** One upgrade at a time; refusals are decided by the master, which knows about reloads and shutdowns. */
export class Upgrades {
  #running: Promise<UpgradeResult> | undefined;
  #successor: ChildProcess | undefined;
  #committed = false;
  #abort: ((why: string) => void) | undefined;
  /** Why the upgrade was called off before the successor existed to be stopped. */
  #aborted: string | undefined;

  get running(): boolean {
    return this.#running !== undefined;
  }

  /** The successor's pid while an upgrade runs. */
  get successorPid(): number | undefined {
    return this.#successor?.pid;
  }

  start(parts: UpgradeParts, options: UpgradeOptions = {}): Promise<UpgradeResult> {
    this.#running ??= this.#run(parts, options).finally(() => {
      this.#running = undefined;
      this.#successor = undefined;
    });
    return this.#running;
  }

  /**
   * The old master is shutting down before the handover: the successor is
   * stopped (the upgrade fails). Returns the upgrade's end, or undefined if
   * none was under way (or it had already handed over).
   */
  abort(why: string): Promise<unknown> | undefined {
    if (this.#committed || this.#running === undefined) return undefined;
    this.#aborted = why;
    this.#abort?.(why);
    return this.#running;
  }

  async #run(parts: UpgradeParts, options: UpgradeOptions): Promise<UpgradeResult> {
    const { log } = parts;
    const previous = process.pid;
    let released = false;
    let child: ChildProcess | undefined;
    try {
      const node = successorNode(options.node);
      const entry = process.argv[1];
      if (entry === undefined || entry === '') throw new UpgradeFailed('this process was not started from a script file, so there is no command line to run again');
      const own = await parts.listeners.duplicates();
      const app = await parts.appSockets().catch((error: unknown) => {
        for (const handle of own) handle.close();
        throw error;
      });
      const handles = [...own, ...app.map((socket) => socket.handle)];
      if (this.#aborted !== undefined) {
        for (const handle of handles) handle.close();
        throw new UpgradeFailed(this.#aborted);
      }
      // Taken now, with nothing awaited before the spawn: a socket's last worker cannot let it go (and the master close it) in between.
      const udp = parts.udpSockets();
      const others = app.length === 0 ? '' : ` and ${app.length} of the app's other ports`;
      const datagrams = udp.length === 0 ? '' : `, with ${udp.length} UDP socket${udp.length === 1 ? '' : 's'}`;
      log.log('info', `upgrade: starting a new master (${node} ${path.basename(entry)}) on ${own.length} inherited listening socket${own.length === 1 ? '' : 's'}${others}${datagrams}`);
      const env: NodeJS.ProcessEnv = { ...process.env, [UPGRADE_FDS_ENV]: String(own.length), [UPGRADE_FROM_ENV]: String(previous) };
      if (app.length > 0) env[UPGRADE_APP_ENV] = JSON.stringify(app.map((socket) => socket.asked));
      if (udp.length > 0) env[UPGRADE_UDP_ENV] = JSON.stringify(udp.map((socket) => socket.asked));
      if (parts.listeners.keptBySystemd) env[UPGRADE_SYSTEMD_ENV] = '1';
      try {
        child = spawn(node, [...process.execArgv, entry, ...process.argv.slice(2)], {
          cwd: process.cwd(),
          env,
          // fd 3.. are the listening sockets, then the UDP ones, in order; the IPC channel comes after them.
          stdio: ['ignore', 'inherit', 'inherit', ...[...handles, ...udp.map((socket) => socket.handle)].map((handle) => handle.fd), 'ipc'],
          serialization: 'json',
        });
      } finally {
        for (const handle of handles) handle.close(); // the child has its own copies now (or none, if spawn threw); the UDP handles are the master's own
      }
      this.#successor = child;
      const link = new Link(child);
      this.#abort = (why) => link.fail(why);

      const ready = await link.next('ready', parts.listenTimeout, `not ready within --listen-timeout ${formatDuration(parts.listenTimeout)}`);
      log.log('info', `upgrade: the new master (pid ${child.pid}, node ${ready.node}) has every worker ready: handing over`);
      parts.control?.release();
      await parts.metrics?.release();
      released = true;
      child.send({ cmd: UPGRADE_CMD, type: 'take-over' } satisfies OldMasterMessage);
      await link.next('took-over', parts.listenTimeout, `did not take over within --listen-timeout ${formatDuration(parts.listenTimeout)}`);

      this.#committed = true;
      link.close();
      child.disconnect();
      child.unref();
      log.log('info', `upgrade: master ${child.pid} took over; this master (${previous}) stops accepting and drains its workers`);
      parts.retire();
      return { ok: true, previous, pid: child.pid as number, node: ready.node };
    } catch (error) {
      const why = error instanceof UpgradeFailed ? error.message : `${(error as Error).message ?? error}`;
      if (child !== undefined) await stop(child, parts.killTimeout);
      if (released) {
        try {
          await parts.control?.listen();
          await parts.metrics?.restore();
        } catch (again) {
          log.log('warn', `upgrade: could not bind the control socket or the metrics port again: ${(again as Error).message}`);
        }
      }
      const error_ = `the new master ${child?.pid === undefined ? 'could not start' : `(pid ${child.pid}) failed`}: ${why}`;
      const after = this.#aborted === undefined ? 'keeps serving' : 'goes on shutting down';
      log.log('error', `upgrade failed: ${error_}; this master (${previous}) ${after}`);
      return { ok: false, previous, error: `${error_}; master ${previous} ${after}` };
    } finally {
      this.#abort = undefined;
    }
  }
}

/** The messages of one successor, awaited one step at a time; its exit or an error fails the step. */
class Link {
  readonly #child: ChildProcess;
  #waiter: { type: SuccessorMessage['type']; resolve: (message: SuccessorMessage) => void; reject: (error: Error) => void } | undefined;
  #failure: Error | undefined;
  readonly #onMessage = (raw: unknown): void => {
    const message = raw as Partial<SuccessorMessage> | null;
    if (message === null || typeof message !== 'object' || message.cmd !== UPGRADE_CMD) return;
    if (message.type === 'failed') return this.fail(String(message.error));
    const waiter = this.#waiter;
    if (waiter !== undefined && waiter.type === message.type) {
      this.#waiter = undefined;
      waiter.resolve(message as SuccessorMessage);
    }
  };

  constructor(child: ChildProcess) {
    this.#child = child;
    child.on('internalMessage', this.#onMessage);
    child.once('error', (error: NodeJS.ErrnoException) => this.fail(`${error.code ?? error.message} (${error.message})`));
    child.once('exit', (code, signal) => this.fail(`it exited (${signal ?? `exit code ${code}`}) before the handover`));
  }

  next<T extends SuccessorMessage['type']>(type: T, timeoutMs: number, late: string): Promise<Extract<SuccessorMessage, { type: T }>> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.fail(late), timeoutMs);
      this.#waiter = {
        type,
        resolve: (message) => {
          clearTimeout(timer);
          resolve(message as Extract<SuccessorMessage, { type: T }>);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
    });
  }

  fail(why: string): void {
    this.#failure ??= new UpgradeFailed(why);
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.reject(this.#failure);
  }

  close(): void {
    this.#child.off('internalMessage', this.#onMessage);
    this.#child.removeAllListeners('exit');
    this.#child.on('error', () => undefined);
  }
}

/** SIGTERM (the successor drains whatever it took), then SIGKILL; bounded. */
async function stop(child: ChildProcess, killTimeout: number): Promise<void> {
  if (child.pid === undefined) return; // never started
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
  });
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), killTimeout * 2 + 1000);
  await exited;
  clearTimeout(timer);
}

/** The node binary to start the successor on: the one given, else `node` on PATH, else this one. */
export function successorNode(given: string | undefined): string {
  const candidate = given ?? findOnPath('node') ?? process.execPath;
  try {
    fs.accessSync(candidate, fs.constants.X_OK);
    if (!fs.statSync(candidate).isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
  } catch (error) {
    throw new UpgradeFailed(`cannot run ${candidate} (${(error as NodeJS.ErrnoException).code ?? error})`);
  }
  return candidate;
}

function findOnPath(name: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return undefined;
}
