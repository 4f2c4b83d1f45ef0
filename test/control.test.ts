// The control socket and `handoff ctl`, against real masters: permissions,
// garbage, every command, discovery, stale sockets, and start-up failures.

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { get } from './helpers/http.js';
import { ctl, ctlStatus, RawControl, removeTempDirs, tempDir, waitForWorkers } from './helpers/control.js';
import { childPids, fixture, isAlive, MasterProcess, runCli, startMaster, stopAllMasters } from './helpers/process.js';

afterEach(async () => {
  await stopAllMasters();
  removeTempDirs();
});

const pidApp = fixture('pid.mjs');
const uid = process.getuid?.() ?? 0;

/** A master with 2 workers (unless told) and its control socket at a path of the test's own. */
async function startControlled(args: string[] = [], workers = 2): Promise<Awaited<ReturnType<typeof startMaster>> & { control: string }> {
  const control = path.join(tempDir(), 'm.sock');
  const running = await startMaster([pidApp, '-w', String(workers), '--control', control, ...args]);
  return { ...running, control };
}

const mode = (file: string): number => fs.statSync(file).mode & 0o777;

describe('the socket', () => {
  test('default path: <runtime dir>/handoff-<uid>/<pid>.sock, the socket 0600 in a 0700 directory, removed at shutdown', async () => {
    const runtime = tempDir();
    const env = { XDG_RUNTIME_DIR: runtime };
    const { master } = await startMaster([pidApp, '-w', '1'], { env });
    const dir = path.join(runtime, `handoff-${uid}`);
    const socket = path.join(dir, `${master.pid}.sock`);
    expect(fs.statSync(socket).isSocket()).toBe(true);
    expect(mode(socket)).toBe(0o600);
    expect(mode(dir)).toBe(0o700);

    const result = await ctl(['status'], env); // found without --control
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`master pid ${master.pid}`);

    master.signal('SIGTERM');
    expect((await master.exit()).code).toBe(0);
    expect(fs.existsSync(socket)).toBe(false);
  });

  test('a default directory of ours that others can enter is made private again', async () => {
    const runtime = tempDir();
    const dir = path.join(runtime, `handoff-${uid}`);
    fs.mkdirSync(dir, { mode: 0o755 });
    fs.chmodSync(dir, 0o755);
    const { master } = await startMaster([pidApp, '-w', '1'], { env: { XDG_RUNTIME_DIR: runtime } });
    expect(mode(dir)).toBe(0o700);
    expect(mode(path.join(dir, `${master.pid}.sock`))).toBe(0o600);
  });

  test('an explicit --control path is 0600 too; --control off makes none', async () => {
    const { control } = await startControlled([], 1);
    expect(mode(control)).toBe(0o600);

    const runtime = tempDir();
    await startMaster([pidApp, '-w', '1', '--control', 'off'], { env: { XDG_RUNTIME_DIR: runtime } });
    expect(fs.readdirSync(runtime)).toEqual([]);
  });
});

describe('garbage on the socket', () => {
  test('non-JSON, non-objects, unknown commands and bad arguments get error replies; the connection and the master carry on', async () => {
    const { master, url, control } = await startControlled();
    const before = (await ctlStatus(control)).processes.map((p) => p.pid);
    const raw = await RawControl.connect(control);

    raw.send('hello\n');
    expect(await raw.next()).toMatchObject({ ok: false, code: 'ERR_HANDOFF_CONTROL', error: expect.stringMatching(/^request is not JSON/) });
    raw.send('[1,2]\n"status"\nnull\n');
    for (let i = 0; i < 3; i++) expect(await raw.next()).toMatchObject({ ok: false, error: expect.stringMatching(/must be a JSON object/) });
    raw.send('{"id":7,"command":"frobnicate"}\n');
    expect(await raw.next()).toEqual({ id: 7, ok: false, code: 'ERR_HANDOFF_CONTROL', error: 'unknown command "frobnicate": expected one of status, reload, scale, stop, upgrade' });
    raw.send('{"id":8}\n{"id":{"x":1},"command":"status","extra":true}\n');
    expect(await raw.next()).toMatchObject({ id: 8, ok: false, error: expect.stringMatching(/^unknown command nothing/) });
    expect(await raw.next()).toMatchObject({ ok: true, command: 'status' }); // a bad id is dropped, not fatal
    raw.send('{"id":9,"command":"scale"}\n{"id":10,"command":"scale","workers":"lots"}\n{"id":11,"command":"scale","workers":2.5}\n');
    for (const id of [9, 10, 11]) expect(await raw.next()).toMatchObject({ id, ok: false, error: expect.stringMatching(/^scale needs "workers"/) });
    raw.send('\n\n{"id":12,"command":"__proto__"}\n{"id":13,"command":"toString"}\n');
    expect(await raw.next()).toMatchObject({ id: 12, ok: false, error: expect.stringMatching(/^unknown command/) });
    expect(await raw.next()).toMatchObject({ id: 13, ok: false, error: expect.stringMatching(/^unknown command/) });
    // The same connection still works, request split across writes included.
    raw.send('{"id":14,"comm');
    raw.send('and":"status"}\r\n');
    const reply = await raw.next();
    expect(reply).toMatchObject({ id: 14, ok: true, command: 'status' });
    raw.destroy();

    expect(isAlive(master.pid)).toBe(true);
    expect((await ctlStatus(control)).processes.map((p) => p.pid)).toEqual(before);
    expect((await get(url)).status).toBe(200);
  });

  test('an oversized line, half a line, a silent client and a client that vanishes mid-request: the master keeps answering', async () => {
    const { master, url, control } = await startControlled();

    const big = await RawControl.connect(control);
    big.send(Buffer.alloc(70 * 1024, 'a'));
    expect(await big.next()).toMatchObject({ ok: false, code: 'ERR_HANDOFF_CONTROL', error: expect.stringMatching(/^request longer than 65536 bytes/) });
    await big.waitClosed();

    const half = await RawControl.connect(control);
    half.socket.end('{"command":"sta');
    expect(await half.next()).toMatchObject({ ok: false, error: 'request cut off: the connection ended before its newline' });
    await half.waitClosed();

    const ended = await RawControl.connect(control); // a whole request, then half-close: answered, then closed
    ended.socket.end('{"command":"status"}\n');
    expect(await ended.next()).toMatchObject({ ok: true, command: 'status' });
    await ended.waitClosed();

    const silent = await RawControl.connect(control); // stays connected, says nothing, for the whole test
    const vanishing = await RawControl.connect(control);
    vanishing.send('{"command":"sta');
    vanishing.destroy();
    const gone = await RawControl.connect(control); // asks, and is gone before it can read the answer
    gone.send('{"command":"status"}\n');
    gone.destroy();

    expect((await ctlStatus(control)).ready).toBe(2);
    expect((await get(url)).status).toBe(200);
    expect(isAlive(master.pid)).toBe(true);
    silent.destroy();
  });

  test('past 32 connections a new one is told so and closed; the others still work', async () => {
    const { control } = await startControlled([], 1);
    const open = await Promise.all(Array.from({ length: 32 }, () => RawControl.connect(control)));
    const extra = await RawControl.connect(control);
    expect(await extra.next()).toMatchObject({ ok: false, error: 'too many control connections open (32): close some and try again' });
    await extra.waitClosed();
    open[0]?.send('{"command":"status"}\n');
    expect(await open[0]?.next()).toMatchObject({ ok: true });
    for (const raw of open) raw.destroy();
    await Promise.all(open.map((raw) => raw.waitClosed()));
    expect((await ctlStatus(control)).ready).toBe(1);
  });
});

describe('handoff ctl', () => {
  test('status: the master line and one aligned row per worker', async () => {
    const { master, port, control } = await startControlled();
    const result = await ctl(['status', '--control', control]);
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^master pid ${master.pid}  http://127\\.0\\.0\\.1:${port}  scheduler rr  workers 2/2 ready  accepting  uptime \\d+s$`));
    expect(lines[1]).toMatch(/^connections accepted \d+  handed \d+  refused 0  reclaimed 0  reset 0  queued 0  restarts: none$/);
    expect(lines[2]).toBe('');
    expect(lines[3]).toMatch(/^ID +PID +STATE +UPTIME +RESTARTS +HANDED +ACTIVE +REQ\/S +RSS +CPU$/);
    const pids = childPids(master.pid);
    const rows = lines.slice(4);
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      expect(row).toMatch(/^ +\d+ +\d+ +listening +\d+s +0 +\d+ +\d+ +\d+ +(\d+\.\d[KMG]|-) +\d+\.\d%$/);
      expect(pids).toContain(Number(row.trim().split(/ +/)[1]));
    }
    expect(new Set(lines.slice(3).map((line) => line.length)).size).toBe(1); // every row as wide as the header
  });

  test('scale 3, +1, -1: the worker count changes and the table shows it', async () => {
    const { control } = await startControlled();
    let result = await ctl(['scale', '3', '--control', control]);
    expect([result.code, result.stdout]).toEqual([0, 'handoff: scaling from 2 to 3 workers\n']);
    await waitForWorkers(control, 3);
    result = await ctl(['scale', '+1', '--control', control]);
    expect(result.stdout).toBe('handoff: scaling from 3 to 4 workers\n');
    await waitForWorkers(control, 4);
    result = await ctl(['scale', '-1', '--control', control]);
    expect(result.stdout).toBe('handoff: scaling from 4 to 3 workers\n');
    await waitForWorkers(control, 3);
    const table = await ctl(['status', '--control', control]);
    expect(table.stdout).toMatch(/workers 3\/3 ready/);
    expect(table.stdout.match(/ listening /g)).toHaveLength(3);
  });

  test('SIGTTIN and SIGTTOU change the worker count and the table shows it', async () => {
    const { master, control } = await startControlled();
    master.signal('SIGTTIN');
    await waitForWorkers(control, 3);
    // One at a time: two identical signals sent at once may arrive as one.
    master.signal('SIGTTOU');
    await waitForWorkers(control, 2);
    master.signal('SIGTTOU');
    await waitForWorkers(control, 1);
    const table = await ctl(['status', '--control', control]);
    expect(table.stdout).toMatch(/workers 1\/1 ready/);
    expect(table.stdout.match(/ listening /g)).toHaveLength(1);
  });

  test('scale below 1 or above 1024 is refused, nonsense is a usage error; nothing changes', async () => {
    const { control } = await startControlled();
    for (const [value, message] of [
      ['0', 'handoff: cannot scale from 2 to 0 workers: a master keeps at least 1 (handoff ctl stop stops it)\n'],
      ['-2', 'handoff: cannot scale -2 from 2 to 0 workers: a master keeps at least 1 (handoff ctl stop stops it)\n'],
      ['2000', 'handoff: cannot scale from 2 to 2000 workers: at most 1024\n'],
    ] as const) {
      const result = await ctl(['scale', value, '--control', control]);
      expect([result.code, result.stderr]).toEqual([1, message]);
    }
    const json = await ctl(['scale', '-5', '--json', '--control', control]);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, code: 'ERR_HANDOFF_CONTROL' });
    const nonsense = await ctl(['scale', 'lots', '--control', control]);
    expect(nonsense.code).toBe(2);
    expect(nonsense.stderr).toMatch(/^handoff: scale 'lots': expected a number of workers, \+N or -N\n\nUsage: handoff ctl/);
    const status = await ctlStatus(control);
    expect([status.workers, status.processes.length]).toEqual([2, 2]);
  });

  test('reload: answered once every worker is replaced by a new pid', async () => {
    const { control, url } = await startControlled();
    const before = (await ctlStatus(control)).processes.map((p) => p.pid);
    const result = await ctl(['reload', '--control', control]);
    expect([result.code, result.stdout]).toEqual([0, 'handoff: reload done: 2 workers replaced\n']);
    const after = await waitForWorkers(control, 2);
    for (const worker of after.processes) expect(before).not.toContain(worker.pid);
    expect((await get(url)).status).toBe(200);
  });

  test('stop: shuts the master down gracefully, exit 0, and returns once it has stopped', async () => {
    const { master, control } = await startControlled();
    const result = await ctl(['stop', '--control', control]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`handoff: master ${master.pid} is shutting down gracefully\nhandoff: master ${master.pid} has stopped\n`);
    expect(await master.exit()).toEqual({ code: 0, signal: null });
    expect(fs.existsSync(control)).toBe(false);
  });

  test('during a graceful stop, status shows the drain, and scale and reload are refused', async () => {
    const control = path.join(tempDir(), 'm.sock');
    const { master, url } = await startMaster([fixture('faults.mjs'), '-w', '1', '--kill-timeout', '20s', '--control', control]);
    // Never answered: the worker drains until the client gives up, which the test decides.
    const held = http.get(`${url}/hold`);
    held.on('error', () => {});
    await master.waitFor(/holding a connection in pid/);
    const stop = new MasterProcess(['ctl', 'stop', '--control', control]);
    await stop.waitFor(/is shutting down gracefully/);

    const status = await ctlStatus(control);
    expect(status.closing).toBe(true);
    expect(status.processes.map((p) => p.state)).toEqual(['closing']);
    expect((await ctl(['status', '--control', control])).stdout).toMatch(/  shutting down  /);
    const scale = await ctl(['scale', '+1', '--control', control]);
    expect([scale.code, scale.stderr]).toEqual([1, 'handoff: the master is shutting down: it cannot scale\n']);
    const reload = await ctl(['reload', '--control', control]);
    expect([reload.code, reload.stderr]).toEqual([1, 'handoff: the master is shutting down: it cannot reload\n']);
    expect(stop.child.exitCode).toBe(null); // still waiting for the master

    held.destroy(); // the last connection closes: the drain is over
    expect(await stop.exit()).toEqual({ code: 0, signal: null });
    expect(stop.stdout).toMatch(/has stopped\n$/);
    expect(await master.exit()).toEqual({ code: 0, signal: null });
  });

  test('without --control: one master is found, two are an error naming both, none is an error', async () => {
    const runtime = tempDir();
    const env = { XDG_RUNTIME_DIR: runtime };
    const dir = path.join(runtime, `handoff-${uid}`);
    const none = await ctl(['status'], env);
    expect([none.code, none.stderr]).toEqual([1, `handoff: no running master found in ${dir}: start one, or pass --control <path>\n`]);

    const first = await startMaster([pidApp, '-w', '1'], { env });
    expect((await ctl(['status', '--json'], env)).code).toBe(0);
    const second = await startMaster([pidApp, '-w', '1'], { env });
    const two = await ctl(['status'], env);
    expect(two.code).toBe(1);
    const [a, b] = [first.master.pid, second.master.pid].sort((x, y) => x - y);
    expect(two.stderr).toBe(`handoff: 2 masters are running (pid ${a}: ${dir}/${a}.sock, pid ${b}: ${dir}/${b}.sock): pass --control <path> to pick one\n`);

    // A master that died leaves its socket; it does not count as running.
    first.master.signal('SIGKILL');
    await first.master.exit();
    expect(fs.existsSync(path.join(dir, `${first.master.pid}.sock`))).toBe(true);
    const one = await ctl(['status', '--json'], env);
    expect(one.code).toBe(0);
    expect(JSON.parse(one.stdout).pid).toBe(second.master.pid);
  });

  test('a SIGKILLed master leaves a stale socket: ctl says nobody answers, and the next master on that path takes it over', async () => {
    const { master, control } = await startControlled([], 1);
    master.signal('SIGKILL');
    await master.exit();
    expect(fs.statSync(control).isSocket()).toBe(true);
    const refused = await ctl(['status', '--control', control]);
    expect([refused.code, refused.stderr]).toEqual([1, `handoff: no master answers at ${control} (ECONNREFUSED): the master that made it is gone\n`]);

    const next = await startMaster([pidApp, '-w', '1', '--control', control]);
    expect((await ctlStatus(control)).pid).toBe(next.master.pid);
    expect(mode(control)).toBe(0o600);
  });

  test('no socket at the path: one line, exit 1', async () => {
    const missing = path.join(tempDir(), 'nobody.sock');
    const result = await ctl(['status', '--control', missing]);
    expect([result.code, result.stdout, result.stderr]).toEqual([1, '', `handoff: no control socket at ${missing}: is the master running, and with this --control?\n`]);
  });

  test('wrong command lines: exit 2 with the ctl usage; --help: exit 0', async () => {
    for (const args of [[], ['frobnicate'], ['status', 'extra'], ['status', '--frobnicate'], ['scale']]) {
      const result = await ctl(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toMatch(/^handoff: .+\n\nUsage: handoff ctl <command> \[options\]/);
    }
    const help = await ctl(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: handoff ctl <command> \[options\]\n/);
  });
});

/** The master's log lines start "<time> [master <pid>] ": compare what comes after. */
function withoutPrefix(stderr: string): string {
  return stderr.replace(/^\S+ \[master \d+\] /gm, '');
}

describe('start-up failures', () => {
  test('a control socket that cannot be made: one line, exit 1, nothing forked', async () => {
    const control = path.join(tempDir(), 'no-such-dir', 'm.sock');
    const result = await runCli([pidApp, '--port', '0', '--control', control, '--trace']);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(withoutPrefix(result.stderr)).toBe(
      `error: cannot create the control socket ${control}: ENOENT (the directory ${path.dirname(control)} does not exist; pass another --control, or --control off)\n`,
    );
  });

  test('a control socket in use by a running master is refused; that master is untouched', async () => {
    const { master, control } = await startControlled([], 1);
    const result = await runCli([pidApp, '--port', '0', '--control', control, '--trace']);
    expect(result.code).toBe(1);
    expect(withoutPrefix(result.stderr)).toBe(`error: control socket ${control} is in use by a running master: stop it, or pass another --control\n`);
    expect((await ctlStatus(control)).pid).toBe(master.pid);
  });

  test('a path too long for a Unix socket: one line naming the limit', async () => {
    const control = path.join(tempDir(), 'x'.repeat(120), 'm.sock');
    const result = await runCli([pidApp, '--port', '0', '--control', control]);
    expect(result.code).toBe(1);
    expect(withoutPrefix(result.stderr)).toMatch(/^error: control socket path .+ is too long \(\d+ bytes; Unix sockets allow 107\): pass a shorter --control\n$/);
  });

  test('a path that is not a socket is never removed', async () => {
    const control = path.join(tempDir(), 'precious.txt');
    fs.writeFileSync(control, 'keep me');
    const result = await runCli([pidApp, '--port', '0', '--control', control]);
    expect([result.code, withoutPrefix(result.stderr)]).toEqual([1, `error: --control ${control} exists and is not a socket: pass a path that is free\n`]);
    expect(fs.readFileSync(control, 'utf8')).toBe('keep me');
  });
});
