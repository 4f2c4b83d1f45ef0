// `handoff ctl upgrade`: the master itself replaced by a new one on the same
// socket, against real masters, under load, with a broken next version, with
// slow requests, and every refusal.

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { ctl, ctlStatus, removeTempDirs, tempDir } from './helpers/control.js';
import { countByPid, get, getMany, steadyLoad } from './helpers/http.js';
import { load } from './helpers/autocannon.js';
import { childPids, eventually, fixture, isAlive, startMaster, stopAllMasters } from './helpers/process.js';
import { marked, readPidFile, stopSuccessors, trackSuccessor } from './helpers/successors.js';

afterEach(async () => {
  await stopSuccessors(); // first: until an old master has exited, its successor is one of its children
  await stopAllMasters();
  removeTempDirs();
});

const app = fixture('upgradable.mjs');

/** A master of upgradable.mjs with 2 workers, its control socket and pid file in a folder of the test's own. */
async function startUpgradable(args: string[] = [], env: NodeJS.ProcessEnv = {}) {
  const dir = tempDir();
  const control = path.join(dir, 'c.sock');
  const pidFile = path.join(dir, 'pid');
  const running = await startMaster([app, '-w', '2', '--control', control, '--pid-file', pidFile, ...args], { env: marked({ UPGRADE_FIXTURE_DIR: dir, ...env }) });
  return { ...running, dir, control, pidFile };
}

/** The new master's pid, from ctl upgrade's first line. */
function successorOf(stdout: string): number {
  const match = /handed over to master (\d+)/.exec(stdout);
  if (!match) throw new Error(`no successor in: ${stdout}`);
  return trackSuccessor(Number(match[1]));
}

describe('upgrade', () => {
  test.each(['rr', 'shared'])('--scheduler %s under load: no failed request, the pid file names the new master, only its workers answer, the old master exits 0', async (scheduler) => {
    const { master, url, control, pidFile } = await startUpgradable(['--listen-timeout', '10s', '--scheduler', scheduler]);
    const oldWorkers = childPids(master.pid);
    expect(oldWorkers).toHaveLength(2);

    const traffic = load({ url, connections: 8, duration: 60, timeout: 10 });
    await traffic.responses(300);
    const upgrade = await ctl(['upgrade', '--control', control]);
    expect([upgrade.code, upgrade.stderr]).toEqual([0, '']);
    const next = successorOf(upgrade.stdout);
    expect(upgrade.stdout).toBe(
      `handoff: master ${master.pid} handed over to master ${next} (node ${process.version}); the old workers are draining\n` +
        `handoff: master ${master.pid} has drained and exited; master ${next} serves\n`,
    );
    expect((await master.exit()).code).toBe(0); // ctl upgrade returned only after the old master's exit
    await traffic.responses(traffic.seen + 300);
    traffic.stop();
    const result = await traffic.done;
    console.log(`upgrade under load (${scheduler}): ${result.requests} requests, ${result.errors} errors, ${result.non2xx} non-2xx, ${result.timeouts} timeouts`);
    expect([...result.errorCodes]).toEqual([]);
    expect([result.errors, result.non2xx, result.timeouts]).toEqual([0, 0, 0]);

    expect(readPidFile(pidFile)).toBe(next);
    const newWorkers = childPids(next);
    expect(newWorkers).toHaveLength(2);
    const answered = [...countByPid(await getMany(url, 20, 4)).keys()];
    expect(answered.sort()).toEqual([...newWorkers].sort());
    await eventually(() => oldWorkers.every((pid) => !isAlive(pid)), 5000, 'the old workers exit');
    expect((await ctlStatus(control)).pid).toBe(next); // the control socket path is the new master's
    expect(master.output).toMatch(new RegExp(`listening on http://127\\.0\\.0\\.1:\\d+ \\(scheduler ${scheduler}, 2 workers, master pid ${next}\\)`)); // its output is the old one's
  });

  test('with the default control socket: ctl finds the one master before and after, and the old socket is gone', async () => {
    const runtime = tempDir();
    const env = { XDG_RUNTIME_DIR: runtime };
    const { master } = await startMaster([app, '-w', '1'], { env: marked(env) });
    const upgrade = await ctl(['upgrade'], env);
    expect(upgrade.code).toBe(0);
    const next = successorOf(upgrade.stdout);
    expect((await ctl(['status'], env)).stdout).toContain(`master pid ${next}`);
    const dir = path.join(runtime, `handoff-${process.getuid?.() ?? 0}`);
    expect(fs.readdirSync(dir)).toEqual([`${next}.sock`]);
    expect((await master.exit()).code).toBe(0);
  });

  test('a next version that fails to load is rolled back: the old workers keep serving, the pid file and control socket stay', async () => {
    const { master, url, control, pidFile, dir } = await startUpgradable();
    const before = childPids(master.pid).sort();
    fs.writeFileSync(path.join(dir, 'broken'), '');

    const upgrade = await ctl(['upgrade', '--control', control]);
    expect(upgrade.code).toBe(1);
    expect(upgrade.stderr).toMatch(
      new RegExp(`^handoff: upgrade failed: the new master \\(pid \\d+\\) failed: worker \\d+ \\(pid \\d+\\) exited before every worker was ready: Error: broken build; master ${master.pid} keeps serving\\n$`),
    );
    const failed = Number(/new master \(pid (\d+)\)/.exec(upgrade.stderr)?.[1]);
    expect(isAlive(failed)).toBe(false); // stopped before ctl upgrade answered

    expect(readPidFile(pidFile)).toBe(master.pid);
    expect(childPids(master.pid).sort()).toEqual(before);
    expect([...countByPid(await getMany(url, 20, 4)).keys()].sort()).toEqual(before);
    expect((await ctlStatus(control)).pid).toBe(master.pid);
  });

  test('a new master that is not ready within --listen-timeout is stopped, and the old one goes on', async () => {
    const { master, url, control, dir } = await startUpgradable(['--listen-timeout', '1s']);
    fs.writeFileSync(path.join(dir, 'slow-start'), '3000');
    const upgrade = await ctl(['upgrade', '--control', control]);
    expect(upgrade.code).toBe(1);
    expect(upgrade.stderr).toMatch(/^handoff: upgrade failed: the new master \(pid \d+\) failed: not ready within --listen-timeout 1s; master \d+ keeps serving\n$/);
    expect(isAlive(Number(/pid (\d+)/.exec(upgrade.stderr)?.[1]))).toBe(false);
    expect((await get(url)).status).toBe(200);
    expect(master.child.exitCode).toBe(null);
  });

  test('slow requests held by the old workers finish; ctl upgrade returns once they have', async () => {
    const { master, url, control } = await startUpgradable(['--listen-timeout', '10s']);
    const oldWorkers = childPids(master.pid);
    const slow = [get(`${url}/slow?ms=2500`), get(`${url}/slow?ms=2500`)];
    await master.waitForCount(/slow request in \d+/, 2);
    const started = Date.now();
    const upgrade = await ctl(['upgrade', '--control', control]);
    expect(upgrade.code).toBe(0);
    successorOf(upgrade.stdout);
    const replies = await Promise.all(slow);
    expect(replies.map((reply) => reply.status)).toEqual([200, 200]);
    for (const reply of replies) expect(oldWorkers).toContain(Number(reply.body));
    expect(Date.now() - started).toBeGreaterThan(1500); // it waited for the drain
    expect((await master.exit()).code).toBe(0);
  });
});

/** Two different ports nothing listens on now (both held while the second is picked, so the kernel cannot give the same one twice). */
async function twoFreePorts(): Promise<[number, number]> {
  const servers = [net.createServer().listen(0, '127.0.0.1'), net.createServer().listen(0, '127.0.0.1')];
  await Promise.all(servers.map((server) => new Promise((resolve) => server.once('listening', resolve))));
  const ports = servers.map((server) => (server.address() as net.AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports as [number, number];
}

/** Requests to `target`: each answered 200 with `body`, by one of `workers` (shared: the kernel picks, maybe always the same one). */
async function expectAnsweredBy(target: string, body: RegExp, workers: number[]): Promise<void> {
  const replies = await getMany(target, 12, 3);
  expect(replies.map((reply) => [reply.status, body.test(reply.body)])).toEqual(Array(12).fill([200, true]));
  expect(workers).toEqual(expect.arrayContaining([...countByPid(replies).keys()]));
}

describe("upgrade with the app's second port (a listen() besides $PORT)", () => {
  test.each(['rr', 'shared'])('--scheduler %s: the new master adopts the old one\'s socket; both ports answered before, during and after, none refused', async (scheduler) => {
    // Both ports fixed: with --port 0, the kernel could give the master the port just found free for the second.
    const [own, port] = await twoFreePorts();
    const second = `http://127.0.0.1:${port}`;
    const { master, url, control } = await startUpgradable(['--listen-timeout', '10s', '--scheduler', scheduler, '--port', String(own)], { SECOND_PORT: String(port) });
    await master.waitForCount(/second port listening/, 2);
    const oldWorkers = childPids(master.pid).sort();
    await expectAnsweredBy(url, /^\d+\n$/, oldWorkers);
    await expectAnsweredBy(second, /^\d+ second\n$/, oldWorkers);

    // A fresh connection per request on both ports, all through the upgrade: a refusal or a reset is kept.
    const streams = [steadyLoad(url, 2, /^\d+\n$/), steadyLoad(second, 2, /^\d+ second\n$/)];
    await Promise.all(streams.map((stream) => stream.answered(30)));
    const upgrade = await ctl(['upgrade', '--control', control]);
    expect([upgrade.code, upgrade.stderr]).toEqual([0, '']);
    const next = successorOf(upgrade.stdout);
    expect(next).not.toBe(master.pid);
    expect((await master.exit()).code).toBe(0);
    await Promise.all(streams.map((stream) => stream.answered(30)));
    const results = await Promise.all(streams.map((stream) => stream.stop()));
    expect(results.map((result) => result.errors)).toEqual([[], []]);

    const newWorkers = childPids(next).sort();
    expect(newWorkers).toHaveLength(2);
    await expectAnsweredBy(url, /^\d+\n$/, newWorkers);
    await expectAnsweredBy(second, /^\d+ second\n$/, newWorkers);
    expect(master.output).toMatch(new RegExp(`app listens on 127\\.0\\.0\\.1:${port}: the socket master ${master.pid} handed over, shared by every worker \\(listener 1\\)`));
  });

  test('a port 0 stays the same port; a port the next version no longer asks for is closed once it has taken over', async () => {
    const { master, control, dir } = await startUpgradable(['--listen-timeout', '10s'], { SECOND_PORT: '0' });
    const port = Number((await master.waitFor(/app listens on 127\.0\.0\.1:0 \(port (\d+)\)/))[1]);
    const second = `http://127.0.0.1:${port}`;
    await master.waitForCount(/second port listening/, 2);
    const first = await ctl(['upgrade', '--control', control]);
    expect(first.code).toBe(0);
    const next = successorOf(first.stdout);
    expect((await master.exit()).code).toBe(0);
    await expectAnsweredBy(second, /^\d+ second\n$/, childPids(next)); // the same port, now the new workers'

    fs.writeFileSync(path.join(dir, 'no-second-port'), '');
    const again = await ctl(['upgrade', '--control', control]);
    expect(again.code).toBe(0);
    const third = successorOf(again.stdout);
    await eventually(() => !isAlive(next), 10_000, 'the second master to exit');
    expect(master.output).toMatch(new RegExp(`upgrade: no worker of master ${third} asked for 127\\.0\\.0\\.1:0 \\(port ${port}\\), which master ${next} handed over: closed`));
    await expect(get(second)).rejects.toThrow(/ECONNREFUSED/);
  });
});

test('the old master killed during the upgrade: the new one takes over by itself once ready, with the pid file and control socket', async () => {
  const { master, url, control, pidFile, dir } = await startUpgradable(['--listen-timeout', '10s']);
  fs.writeFileSync(path.join(dir, 'slow-start'), '1500');
  const oldWorkers = childPids(master.pid);
  const upgrade = ctl(['upgrade', '--control', control]);
  await master.waitFor(/upgrade: starting a new master/);
  // Once the new master has forked its workers (they load for 1.5 s), the old one is killed.
  let successor = 0;
  await eventually(() => {
    successor = childPids(master.pid).find((pid) => !oldWorkers.includes(pid)) ?? 0;
    return successor > 0 && childPids(successor).length === 2;
  }, 10_000, 'the new master to fork its workers');
  master.signal('SIGKILL');
  expect((await upgrade).code).toBe(1); // its master went away without an answer
  await master.waitFor(/went away before the handover: this master takes over once its workers are ready/);
  await master.waitFor(new RegExp(`listening on http://127\\.0\\.0\\.1:\\d+ \\(scheduler rr, 2 workers, master pid ${successor}\\)`));
  const next = trackSuccessor(successor);
  expect(readPidFile(pidFile)).toBe(next);
  expect((await ctlStatus(control)).pid).toBe(next);
  const workers = childPids(next).sort();
  expect([...countByPid(await getMany(url, 20, 4)).keys()].sort()).toEqual(workers);
});

test('SIGTERM to the old master during the upgrade: the new one is stopped, the old one shuts down as asked', async () => {
  const { master, control, dir } = await startUpgradable(['--listen-timeout', '10s']);
  fs.writeFileSync(path.join(dir, 'slow-start'), '3000');
  const oldWorkers = childPids(master.pid);
  const upgrade = ctl(['upgrade', '--control', control]);
  let successor = 0;
  await eventually(() => {
    successor = childPids(master.pid).find((pid) => !oldWorkers.includes(pid)) ?? 0;
    return successor > 0;
  }, 10_000, 'the new master to start');
  master.signal('SIGTERM');
  const result = await upgrade;
  expect([result.code, result.stderr]).toEqual([1, `handoff: upgrade failed: the new master (pid ${successor}) failed: the old master is shutting down; master ${master.pid} goes on shutting down\n`]);
  expect((await master.exit()).code).toBe(0);
  await eventually(() => !isAlive(successor), 5000, 'the new master to stop');
});

describe('upgrade refused or impossible: one line, exit 1', () => {
  test('during an upgrade (and a reload during an upgrade)', async () => {
    const { master, control, dir } = await startUpgradable(['--listen-timeout', '10s']);
    fs.writeFileSync(path.join(dir, 'slow-start'), '2500');
    const first = ctl(['upgrade', '--control', control]);
    await master.waitFor(/upgrade: starting a new master/);
    const second = await ctl(['upgrade', '--control', control]);
    expect([second.code, second.stdout]).toEqual([1, '']);
    expect(second.stderr).toMatch(/^handoff: upgrade refused: an upgrade is already under way \(new master pid \d+\): wait for it to finish\n$/);
    const reload = await ctl(['reload', '--control', control]);
    expect([reload.code, reload.stderr]).toEqual([1, 'handoff: an upgrade is under way: reload the new master once it has taken over\n']);
    const done = await first;
    expect(done.code).toBe(0);
    successorOf(done.stdout);
  });

  test('during a reload', async () => {
    const { control, dir } = await startUpgradable(['--listen-timeout', '10s']);
    fs.writeFileSync(path.join(dir, 'slow-start'), '2000');
    const reload = ctl(['reload', '--control', control]);
    await eventually(async () => (await ctlStatus(control)).reloading, 5000, 'the reload to start');
    const upgrade = await ctl(['upgrade', '--control', control]);
    expect([upgrade.code, upgrade.stdout, upgrade.stderr]).toEqual([1, '', 'handoff: upgrade refused: a reload is under way: upgrade once it has finished\n']);
    expect((await reload).code).toBe(0);
  });

  test('during a shutdown', async () => {
    const { master, url, control } = await startUpgradable();
    const slow = get(`${url}/slow?ms=2000`);
    await master.waitFor(/slow request in \d+/);
    master.signal('SIGTERM');
    await master.waitFor(/SIGTERM, shutting down/);
    const upgrade = await ctl(['upgrade', '--control', control]);
    expect([upgrade.code, upgrade.stderr]).toEqual([1, 'handoff: upgrade refused: the master is shutting down: it cannot upgrade\n']);
    expect((await slow).status).toBe(200);
    expect((await master.exit()).code).toBe(0);
  });

  test('with no master running', async () => {
    const dir = tempDir();
    const missing = await ctl(['upgrade', '--control', path.join(dir, 'none.sock')]);
    expect([missing.code, missing.stdout, missing.stderr]).toEqual([1, '', `handoff: no control socket at ${path.join(dir, 'none.sock')}: is the master running, and with this --control?\n`]);
    const none = await ctl(['upgrade'], { XDG_RUNTIME_DIR: dir });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^handoff: no running master found in .*: start one, or pass --control <path>\n$/);
  });

  test('with a new master that cannot start: no such node binary, or one that exits at once', async () => {
    const { master, url, control, pidFile } = await startUpgradable();
    const missing = await ctl(['upgrade', '--control', control, '--node', '/nonexistent/node']);
    expect([missing.code, missing.stderr]).toEqual([1, `handoff: upgrade failed: the new master could not start: cannot run /nonexistent/node (ENOENT); master ${master.pid} keeps serving\n`]);
    const exits = await ctl(['upgrade', '--control', control, '--node', '/bin/false']);
    expect(exits.code).toBe(1);
    expect(exits.stderr).toMatch(new RegExp(`^handoff: upgrade failed: the new master \\(pid \\d+\\) failed: it exited \\(exit code 1\\) before the handover; master ${master.pid} keeps serving\\n$`));
    expect(readPidFile(pidFile)).toBe(master.pid);
    expect((await get(url)).status).toBe(200);
    expect((await ctlStatus(control)).pid).toBe(master.pid);
  });

  test('--node with another command is a wrong command line (exit 2)', async () => {
    const result = await ctl(['status', '--node', '/usr/bin/node']);
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n')[0]).toBe('handoff: --node goes with upgrade only');
  });
});

test('under systemd (NOTIFY_SOCKET set): READY=1 at start, and the new master reports itself as the main pid', async () => {
  const bin = tempDir();
  const calls = path.join(bin, 'calls');
  fs.writeFileSync(path.join(bin, 'systemd-notify'), `#!/bin/sh\necho "$*" >> ${calls}\n`, { mode: 0o755 });
  const env = { NOTIFY_SOCKET: '/run/systemd/notify', PATH: `${bin}:${process.env['PATH']}` };
  const { control } = await startUpgradable(['--listen-timeout', '10s'], env);
  await eventually(() => fs.existsSync(calls), 5000, 'systemd-notify --ready');
  const upgrade = await ctl(['upgrade', '--control', control]);
  expect(upgrade.code).toBe(0);
  const next = successorOf(upgrade.stdout);
  await eventually(() => fs.readFileSync(calls, 'utf8').split('\n').length > 2, 5000, 'systemd-notify --pid');
  expect(fs.readFileSync(calls, 'utf8')).toBe(`--ready\n--pid=${next} --ready\n`);
});
