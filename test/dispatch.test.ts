// rr and shared over real connections, and the scripts forms a worker may take.

import http from 'node:http';
import { afterEach, describe, expect, test } from 'vitest';
import { countByPid, get, getMany } from './helpers/http.js';
import { example, fixture, startMaster, stopAllMasters } from './helpers/process.js';

afterEach(stopAllMasters);

describe('rr', () => {
  test('400 requests on fresh connections over 4 workers: 100 each, give or take a few', async () => {
    const { master, url } = await startMaster([fixture('pid.mjs'), '--workers', '4', '--scheduler', 'rr']);
    const replies = await getMany(url, 400, 8);
    expect(replies.every((reply) => reply.status === 200)).toBe(true);
    const counts = countByPid(replies);
    expect(counts.size).toBe(4);
    // Exactly 100 each while every worker answers its hand-offs promptly. On a
    // loaded machine a worker can be off the CPU long enough to count as late
    // (8x the usual hand-off time): rr then gives its turns to the others, and
    // pays them back only on ties, so the counts may end a few apart.
    for (const count of counts.values()) expect(Math.abs(count - 100)).toBeLessThanOrEqual(10);
    master.signal('SIGTERM');
    expect(await master.exit()).toEqual({ code: 0, signal: null });
  });

  test('100 connections at once, more than the hand-off windows hold: the counts still come out even', async () => {
    const { url } = await startMaster([fixture('faults.mjs'), '--workers', '2', '--scheduler', 'rr']);
    const replies = await Promise.all(Array.from({ length: 100 }, () => get(`${url}/slow?ms=20`)));
    expect(replies.every((reply) => reply.status === 200)).toBe(true);
    const counts = [...countByPid(replies).values()];
    expect(counts).toHaveLength(2);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
  });

  test('HANDOFF_SCHEDULER picks the scheduler, and the flag wins over it', async () => {
    const fromEnv = await startMaster([fixture('pid.mjs'), '-w', '1'], { env: { HANDOFF_SCHEDULER: 'shared' } });
    expect(fromEnv.master.stdout).toContain('(scheduler shared, 1 worker,');
    const fromFlag = await startMaster([fixture('pid.mjs'), '-w', '1', '--scheduler', 'rr'], { env: { HANDOFF_SCHEDULER: 'shared' } });
    expect(fromFlag.master.stdout).toContain('(scheduler rr, 1 worker,');
  });
});

describe('refused connections', () => {
  test('a worker at maxConnections refuses; the connection waits and is served once it has room, heartbeats or not', async () => {
    const { master, url } = await startMaster([fixture('max-connections.mjs'), '-w', '1', '--heartbeat-interval', '0', '--trace']);
    const held = http.get(`${url}/hold`, { agent: false });
    held.on('error', () => undefined); // we cut it ourselves
    await master.waitFor(/holding the only connection in pid/);
    const waiting = get(url, { timeoutMs: 10_000 });
    await master.waitForStep({ who: 'master', step: /^w1 refused it: re-dispatching/ });
    held.destroy(); // the worker has room again
    const reply = await waiting;
    expect(reply.status).toBe(200);
  });
});

describe('shared', () => {
  test('every request is served; the kernel decides the spread', async () => {
    const { master, url } = await startMaster([fixture('pid.mjs'), '--workers', '4', '--scheduler', 'shared']);
    const replies = await getMany(url, 400, 8);
    expect(replies.every((reply) => reply.status === 200)).toBe(true);
    const counts = countByPid(replies);
    const spread = [...counts.values()].sort((a, b) => b - a);
    console.log(`shared: 400 requests over 4 workers, per-worker counts ${spread.join(', ')}`);
    expect(spread.reduce((a, b) => a + b, 0)).toBe(400);
    master.signal('SIGTERM');
    expect((await master.exit()).code).toBe(0);
  });
});

describe('script forms', () => {
  const scripts = [
    'listen.mjs',
    'server-export.mjs',
    'handler-export.mjs',
    'listen.cjs',
    'server-export.cjs',
    'handler-export.cjs',
    'listen.js',
    'server-export.js',
    'handler-export.js',
    'cjs/listen.js',
    'cjs/server-export.js',
    'cjs/handler-export.js',
    'typescript.ts',
  ];
  test.each(scripts)('%s serves', async (script) => {
    const { url } = await startMaster([fixture(`forms/${script}`), '--workers', '2']);
    const first = await get(url);
    const second = await get(url);
    expect(first.status).toBe(200);
    expect(first.body).toMatch(new RegExp(`^${script.replace('.', '\\.')} \\d+$`));
    // two workers, rr: two different pids
    expect(first.body).not.toBe(second.body);
  });
});

describe('the built CLI', () => {
  test('node dist/master.js examples/hello.js: serves, then stops cleanly on SIGTERM', async () => {
    const { master, url, port } = await startMaster([example('hello.js'), '-w', '2']);
    expect(master.stdout).toMatch(new RegExp(`^handoff: listening on http://127\\.0\\.0\\.1:${port} \\(scheduler rr, 2 workers, master pid ${master.pid}\\)\\n$`));
    const reply = await get(url);
    expect(reply.status).toBe(200);
    expect(reply.body).toMatch(/^hello from pid \d+\n$/);
    master.signal('SIGTERM');
    expect(await master.exit()).toEqual({ code: 0, signal: null });
  });
});
