// Starting the real handoff CLI and watching what it prints, with every wait bounded.

import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { TRACE_EVENTS_ENV, type TraceEvent } from '../../dist/trace.js';
import { describeStep, stepMatches, type StepMatch } from './trace.js';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const cli = path.join(root, 'dist/master.js');
export const fixture = (name: string): string => path.join(root, 'test/fixtures', name);
export const example = (name: string): string => path.join(root, 'examples', name);

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A running `node dist/master.js ...` with its output collected. */
export class MasterProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<Exit>;
  stdout = '';
  stderr = '';
  #watchers: Array<() => void> = [];
  /** Where every process of this master appends its --trace steps as JSON (see src/trace.ts). */
  // The pid and a counter are not enough: test files run one after another in the same process, each with its
  // own counter, and a finished test's delayed clean-up would delete the next file's events.
  readonly traceEventsFile = path.join(os.tmpdir(), `handoff-trace-${process.pid}-${++spawned}-${randomUUID()}.jsonl`);

  /**
   * `entry`: the script node runs (default: handoff's CLI; test/fixtures/cluster-runner.mjs runs the same app under node:cluster).
   * `via`: a command that runs node in turn (e.g. systemd-socket-activate -l ...), execing it in its place.
   * `ulimitFiles`: through a shell that lowers `ulimit -n` and then becomes the master (exec): same pid, same signals.
   * `listenFds`: descriptors passed as systemd does (fds 3 on, LISTEN_FDS, and LISTEN_PID set by a shell that then execs the master).
   */
  constructor(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; entry?: string; via?: string[]; ulimitFiles?: number; listenFds?: number[] } = {}) {
    const entry = options.entry ?? cli;
    const node = [...(options.via ?? []), process.execPath];
    const shell = (script: string): string[] => ['/bin/sh', '-c', `${script} && exec "$@"`, 'sh', ...node, entry, ...args];
    const [command, ...argv] =
      options.ulimitFiles !== undefined ? shell(`ulimit -n ${options.ulimitFiles}`) : options.listenFds !== undefined ? shell('export LISTEN_PID=$$') : [...node, entry, ...args];
    const listenFds = options.listenFds ?? [];
    this.child = spawn(command as string, argv, {
      cwd: options.cwd ?? root,
      env: { ...process.env, [TRACE_EVENTS_ENV]: this.traceEventsFile, ...(listenFds.length > 0 ? { LISTEN_FDS: String(listenFds.length) } : {}), ...options.env },
      stdio: ['ignore', 'pipe', 'pipe', ...listenFds],
    });
    live.add(this);
    this.child.stdout?.setEncoding('utf8').on('data', (text: string) => {
      this.stdout += text;
      this.#notify();
    });
    this.child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      this.stderr += text;
      this.#notify();
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        live.delete(this);
        setTimeout(() => rmSync(this.traceEventsFile, { force: true }), 2000).unref(); // workers may still write a last step
        // Let the last output arrive before anyone reads it.
        setImmediate(() => {
          resolve({ code, signal });
          this.#notify();
        });
      });
    });
  }

  get pid(): number {
    return this.child.pid as number;
  }

  get output(): string {
    return this.stdout + this.stderr;
  }

  #notify(): void {
    for (const watcher of [...this.#watchers]) watcher();
  }

  /** Resolves with the first match of `pattern` in stdout+stderr; rejects after `timeoutMs`. */
  waitFor(pattern: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const match = this.output.match(pattern);
        if (match) {
          cleanup();
          resolve(match);
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${pattern}\n--- output so far ---\n${this.output}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.#watchers = this.#watchers.filter((w) => w !== watcher);
      };
      const watcher = (): void => void check();
      if (!check()) this.#watchers.push(watcher);
    });
  }

  /** Every --trace step written so far, as objects, in the order they were written. */
  traceEvents(): TraceEvent[] {
    let text: string;
    try {
      text = readFileSync(this.traceEventsFile, 'utf8');
    } catch {
      return [];
    }
    const lines = text.split('\n');
    lines.pop(); // '' after the last newline, or a line another process is still writing: read it next time
    return lines.filter((line) => line !== '').map((line) => JSON.parse(line) as TraceEvent);
  }

  /** Every --trace step written so far that matches `want`: what a test counts, or checks is absent. */
  steps(want: StepMatch): TraceEvent[] {
    return this.traceEvents().filter((event) => stepMatches(event, want));
  }

  /** Its line of --trace text has reached our output too (the JSON is written first), so what tests read next is there. */
  printed(event: TraceEvent): boolean {
    return this.output.includes(` ${event.at.toFixed(6)}  ${event.who.padEnd(6)} ${event.pid}`);
  }

  /** Resolves with the first --trace step that matches `want` (its step text by pattern); rejects after `timeoutMs`. */
  async waitForStep(want: StepMatch, timeoutMs = 10_000): Promise<TraceEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.traceEvents().find((event) => stepMatches(event, want));
      if (found && this.printed(found)) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for a trace step ${describeStep(want)}\n--- output so far ---\n${this.output}`);
      await Promise.race([new Promise<void>((resolve) => this.#watchers.push(resolve)), delay(Math.min(left, 25))]);
    }
  }

  /** Waits until `times` --trace steps have matched `want`. */
  async waitForSteps(want: StepMatch, times: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const seen = (): number => this.traceEvents().filter((event) => stepMatches(event, want) && this.printed(event)).length;
    while (seen() < times) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${times} trace steps ${describeStep(want)} (saw ${seen()})\n--- output ---\n${this.output}`);
      await Promise.race([new Promise<void>((resolve) => this.#watchers.push(resolve)), delay(Math.min(left, 25))]);
    }
  }

  /** Counts matches of `pattern` (global) in the output so far. */
  count(pattern: RegExp): number {
    return [...this.output.matchAll(new RegExp(pattern.source, pattern.flags.includes('g') ? pattern.flags : `${pattern.flags}g`))].length;
  }

  /** Waits until `pattern` has matched `times` times. */
  async waitForCount(pattern: RegExp, times: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.count(pattern) < times) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${times} x ${pattern} (saw ${this.count(pattern)})\n--- output ---\n${this.output}`);
      await Promise.race([new Promise<void>((resolve) => this.#watchers.push(resolve)), delay(Math.min(left, 200))]);
    }
  }

  signal(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  /** Waits for the exit, failing the test if it takes longer than `timeoutMs`. */
  async exit(timeoutMs = 10_000): Promise<Exit> {
    return withTimeout(this.exited, timeoutMs, `master ${this.pid} did not exit within ${timeoutMs} ms\n${this.output}`);
  }
}

let spawned = 0;
const live = new Set<MasterProcess>();

/** A master that printed its ready line; `port` is the real one. */
export interface RunningMaster {
  master: MasterProcess;
  port: number;
  url: string;
}

export async function startMaster(args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number; entry?: string; ulimitFiles?: number } = {}): Promise<RunningMaster> {
  // --port 0 goes before any "--", after which everything belongs to the worker.
  const end = args.includes('--') ? args.indexOf('--') : args.length;
  const master = new MasterProcess(args.slice(0, end).includes('--port') ? args : [...args.slice(0, end), '--port', '0', ...args.slice(end)], options);
  const match = await Promise.race([
    master.waitFor(/listening on (https?):\/\/127\.0\.0\.1:(\d+) /, options.timeoutMs ?? 15_000), // https:// for a TLS server
    master.exited.then((exit) => {
      throw new Error(`master exited (${exit.code ?? exit.signal}) before it was ready\n${master.output}`);
    }),
  ]);
  const port = Number(match[2]);
  return { master, port, url: `${match[1]}://127.0.0.1:${port}` };
}

/** Runs the CLI to completion (for bad input): bounded, and never leaves it running. `events`: its --trace steps, if it traced. */
export async function runCli(args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Exit & { stdout: string; stderr: string; events: TraceEvent[] }> {
  const master = new MasterProcess(args, options);
  try {
    const exit = await master.exit(options.timeoutMs ?? 15_000);
    return { ...exit, stdout: master.stdout, stderr: master.stderr, events: master.traceEvents() };
  } finally {
    master.signal('SIGKILL');
  }
}

/** Children of `pid` (its workers), from ps. */
export function childPids(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' })
      .split('\n')
      .map((line) => Number(line.trim()))
      .filter((n) => n > 0);
  } catch {
    return []; // ps exits 1 when there are none
  }
}

/** True if `pid` runs. A zombie (exited, not yet reaped by its new parent) does not count. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc: trust kill(0)
  }
}

/** Polls `condition` until true; fails after `timeoutMs`. For state only visible from outside (process tables). */
export async function eventually(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await delay(25);
  }
}

export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(message)), timeoutMs);
    }),
  ]);
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * After each test: every master this test started is stopped, and none of
 * its workers may outlive it (a test that leaks processes fails).
 */
export async function stopAllMasters(): Promise<void> {
  const masters = [...live];
  const workers = masters.flatMap((m) => childPids(m.pid));
  for (const master of masters) master.signal('SIGKILL');
  await Promise.all(masters.map((m) => withTimeout(m.exited, 5000, `master ${m.pid} survived SIGKILL`)));
  await eventually(() => workers.every((pid) => !isAlive(pid)), 5000, `workers ${workers.join(', ')} outlived their master`);
}
