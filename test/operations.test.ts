// Operating the cluster: graceful shutdown, rolling reload, readiness,
// scaling by signal, the master's death, pid file.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { get, getMany } from './helpers/http.js';
import { load } from './helpers/autocannon.js';
import { childPids, eventually, fixture, isAlive, runCli, startMaster, stopAllMasters } from './helpers/process.js';

afterEach(stopAllMasters);

const livePids = (masterPid: number): number[] => childPids(masterPid).filter(isAlive);

describe.each(['SIGUSR2', 'SIGHUP'] as const)('rolling reload on %s', (signal) => {
  test('under load: zero errors, zero non-2xx, and every worker pid changes', async () => {
    const { master, url } = await startMaster([fixture('pid.mjs'), '-w', '2']);
    const before = livePids(master.pid);
    expect(before).toHaveLength(2);
    const run = load({ url, connections: 16, duration: 30, timeout: 10 });
    await run.responses(500);
    master.signal(signal);
    await master.waitFor(/reload done: 2 workers replaced/, 15_000);
    await run.responses(1000);
    run.stop();
    const result = await run.done;
    console.log(`${signal} reload under load: ${result.requests} requests, ${result.errors} errors, ${result.non2xx} non-2xx, ${result.timeouts} timeouts`);
    expect(result.errors).toBe(0);
    expect(result.timeouts).toBe(0);
    expect(result.non2xx).toBe(0);
    await eventually(() => livePids(master.pid).length === 2, 5000, 'old workers gone after the reload');
    const after = livePids(master.pid);
    expect(after.filter((pid) => before.includes(pid))).toEqual([]);
  });
});

describe('reload to a broken version', () => {
  test('a replacement that crashes at start stops the roll-out; the old workers keep serving', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'handoff-reload-'));
    const app = path.join(dir, 'app.mjs');
    fs.copyFileSync(fixture('pid.mjs'), app);
    try {
      const { master, url } = await startMaster([app, '-w', '2']);
      const before = livePids(master.pid).sort();
      fs.writeFileSync(app, "throw new Error('broken release');\n");
      master.signal('SIGHUP');
      await master.waitFor(/reload stopped: the new worker for slot 0 \(worker 3\) did not become ready: Error: broken release; every old worker keeps serving/);
      const replies = await getMany(url, 10, 2);
      expect(replies.map((reply) => reply.status)).toEqual(Array(10).fill(200));
      expect([...new Set(replies.map((reply) => Number(reply.body)))].sort()).toEqual(before);
      expect(master.count(/failed to load/)).toBe(1); // the broken one is not reforked in a loop
      expect(master.output).not.toMatch(/giving up/);

      // fixed: the next reload goes through
      fs.copyFileSync(fixture('pid.mjs'), app);
      master.signal('SIGHUP');
      await master.waitFor(/reload done: 2 workers replaced/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('graceful shutdown', () => {
  test('SIGTERM during load: slow requests in flight complete, new connections are refused, exit 0 within the kill timeout', async () => {
    const { master, url } = await startMaster([fixture('faults.mjs'), '-w', '2', '--kill-timeout', '3000']);
    const slow = Array.from({ length: 10 }, () => get(`${url}/slow?ms=500`));
    await master.waitForCount(/slow request in pid/, 10);
    const stoppedAt = Date.now();
    master.signal('SIGTERM');
    await master.waitFor(/SIGTERM, shutting down gracefully/);
    const replies = await Promise.all(slow);
    expect(replies.map((reply) => reply.status)).toEqual(Array(10).fill(200));
    const exit = await master.exit();
    expect(exit).toEqual({ code: 0, signal: null });
    expect(Date.now() - stoppedAt).toBeLessThan(3000);
    await expect(get(url)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  test('if the master is SIGKILLed, no worker outlives it by more than a moment', async () => {
    const { master } = await startMaster([fixture('pid.mjs'), '-w', '3']);
    const workers = livePids(master.pid);
    expect(workers).toHaveLength(3);
    master.signal('SIGKILL');
    await master.exit();
    await eventually(() => workers.every((pid) => !isAlive(pid)), 2000, 'workers gone within 2 s of the master');
  });
});

describe('scaling by signal', () => {
  test('SIGTTIN adds a worker, SIGTTOU removes one, never below one', async () => {
    const { master, url } = await startMaster([fixture('pid.mjs'), '-w', '1', '--trace']);
    master.signal('SIGTTIN');
    await master.waitForStep({ worker: 2, step: /^ready/ });
    master.signal('SIGTTIN');
    await master.waitForStep({ worker: 3, step: /^ready/ });
    expect(livePids(master.pid)).toHaveLength(3);
    const pids = new Set((await getMany(url, 30, 3)).map((reply) => reply.body));
    expect(pids.size).toBe(3);
    // Signals of one kind do not queue: send each only once the previous one has acted.
    master.signal('SIGTTOU');
    await master.waitFor(/scaling from 3 to 2 workers/);
    master.signal('SIGTTOU');
    await master.waitFor(/scaling from 2 to 1 worker\n/);
    await eventually(() => livePids(master.pid).length === 1, 8000, 'back to one worker');
    master.signal('SIGTTOU'); // one too many: it stays at one...
    master.signal('SIGTTIN'); // ...so one more makes two
    await master.waitFor(/scaling from 1 to 2 workers[\s\S]*scaling from 1 to 2 workers/);
    expect(master.output).not.toMatch(/scaling from 1 to 0/);
    expect((await get(url)).status).toBe(200);
  });
});

/** wait-ready.mjs on two workers under load, reloaded once (SIGHUP) in the middle; the load's result. */
async function reloadUnderLoad(flags: string[]): Promise<Awaited<ReturnType<typeof load>['done']>> {
  const { master, url } = await startMaster([fixture('wait-ready.mjs'), '-w', '2', ...flags]);
  const run = load({ url, connections: 8, duration: 30, timeout: 10 });
  await run.responses(200);
  master.signal('SIGHUP');
  await master.waitFor(/reload done: 2 workers replaced/);
  await run.responses(400);
  run.stop();
  return run.done;
}

describe('readiness', () => {
  test.each(['rr', 'shared'])('--wait-ready (%s): no request reaches a worker before process.send("ready"), not even during a reload', async (scheduler) => {
    const result = await reloadUnderLoad(['--wait-ready', '--scheduler', scheduler]);
    expect(result.statusCodes['503'] ?? 0).toBe(0);
    expect(result.non2xx).toBe(0);
    expect(result.errors).toBe(0);
  });

  test('without --wait-ready the same app is reached too early (the check above can fail)', async () => {
    expect((await reloadUnderLoad([])).statusCodes['503'] ?? 0).toBeGreaterThan(0);
  });
});

describe('--pid-file', () => {
  test('holds the master pid while it runs, is removed at exit, and a second master will not take it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'handoff-pid-'));
    const pidFile = path.join(dir, 'handoff.pid');
    try {
      const { master } = await startMaster([fixture('pid.mjs'), '-w', '1', '--pid-file', pidFile]);
      expect(fs.readFileSync(pidFile, 'utf8')).toBe(`${master.pid}\n`);
      const second = await runCli([fixture('pid.mjs'), '--port', '0', '-w', '1', '--pid-file', pidFile]);
      expect(second.code).toBe(1);
      expect(second.stderr).toBe(`handoff: --pid-file ${pidFile}: it names process ${master.pid}, which is still running; stop it or use another file\n`);
      master.signal('SIGTERM');
      expect((await master.exit()).code).toBe(0);
      expect(fs.existsSync(pidFile)).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
