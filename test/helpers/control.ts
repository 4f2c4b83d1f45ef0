// Talking to a master's control socket from a test: through the real
// `handoff ctl` command, or byte by byte over a raw connection.

import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { MasterStatus } from '../../dist/control/status.js';
import { eventually, runCli, withTimeout } from './process.js';

/** A short private directory (socket paths must stay under 108 bytes); removed by removeTempDirs(). */
const dirs: string[] = [];
export function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hc-'));
  dirs.push(dir);
  return dir;
}
export function removeTempDirs(): void {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

/** Runs `handoff ctl <args>` to completion. */
export function ctl(args: string[], env: NodeJS.ProcessEnv = {}): ReturnType<typeof runCli> {
  return runCli(['ctl', ...args], { env });
}

/** The master's status, as `handoff ctl status --json` prints it. */
export async function ctlStatus(control: string): Promise<MasterStatus> {
  const result = await ctl(['status', '--json', '--control', control]);
  if (result.code !== 0) throw new Error(`ctl status failed (${result.code}): ${result.stderr}`);
  return JSON.parse(result.stdout) as MasterStatus;
}

/** Polls `ctl status --json` until `n` workers are configured and exactly `n` processes listen. */
export async function waitForWorkers(control: string, n: number, timeoutMs = 10_000): Promise<MasterStatus> {
  let last: MasterStatus | undefined;
  try {
    await eventually(
      async () => {
        last = await ctlStatus(control);
        return last.workers === n && last.processes.length === n && last.processes.every((p) => p.state === 'listening');
      },
      timeoutMs,
      `${n} listening workers`,
    );
  } catch (error) {
    const seen = last && `${last.workers} configured, processes ${JSON.stringify(last.processes.map((p) => p.state))}`;
    throw new Error(`${(error as Error).message}; last status: ${seen}`);
  }
  return last as MasterStatus;
}

/** A raw connection to a control socket: send any bytes, read reply lines one by one. */
export class RawControl {
  readonly socket: net.Socket;
  readonly closed: Promise<void>;
  #buffer = '';
  #lines: unknown[] = [];
  #waiters: Array<() => void> = [];
  #isClosed = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      this.#buffer += text;
      for (let end = this.#buffer.indexOf('\n'); end !== -1; end = this.#buffer.indexOf('\n')) {
        this.#lines.push(JSON.parse(this.#buffer.slice(0, end)));
        this.#buffer = this.#buffer.slice(end + 1);
      }
      this.#wake();
    });
    socket.on('error', () => {}); // the master may reset a connection it closes with data unread
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.#isClosed = true;
        this.#wake();
        resolve();
      }),
    );
  }

  static connect(file: string): Promise<RawControl> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(file);
      socket.once('connect', () => resolve(new RawControl(socket)));
      socket.once('error', reject);
    });
  }

  send(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** The next reply, parsed; fails if none comes within `timeoutMs` or the connection closes first. */
  async next(timeoutMs = 5000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    while (this.#lines.length === 0) {
      if (this.#isClosed) throw new Error('the connection closed without a reply');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no reply within ${timeoutMs} ms`);
      await withTimeout(new Promise<void>((resolve) => this.#waiters.push(resolve)), left, `no reply within ${timeoutMs} ms`);
    }
    return this.#lines.shift() as Record<string, unknown>;
  }

  /** Waits until the master closes the connection. */
  waitClosed(timeoutMs = 5000): Promise<void> {
    return withTimeout(this.closed, timeoutMs, `connection still open after ${timeoutMs} ms`);
  }

  destroy(): void {
    this.socket.destroy();
  }

  #wake(): void {
    for (const waiter of this.#waiters.splice(0)) waiter();
  }
}
