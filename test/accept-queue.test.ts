// What waits outside the workers at the edges (issue 13): the kernel's
// backlog at shutdown (on the master's own port and on the app's other ports),
// a client that resets while queued in the master, the fd limit, --shutdown-delay.

import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { reusePortFlag } from '../dist/wire/node-internals.js';
import { queued } from './helpers/backlog.js';
import { failures, get, type Reply } from './helpers/http.js';
import { fixture, startMaster, stopAllMasters, withTimeout } from './helpers/process.js';

afterEach(stopAllMasters);

/** A /hold request on the one connection max-connections.mjs takes; release() closes it. */
async function holdTheOnlyConnection(url: string): Promise<{ release: () => void }> {
  const request = http.get(`${url}/hold`, { agent: false });
  request.on('error', () => undefined);
  await new Promise<void>((resolve) => request.once('response', () => resolve()));
  return { release: () => request.destroy() };
}

describe('the accept queue at shutdown', () => {
  test('connections waiting in the kernel backlog (master paused at --max-pending) are accepted and answered, none reset', async () => {
    const { master, url } = await startMaster([fixture('max-connections.mjs'), '-w', '1', '--max-pending', '2', '--kill-timeout', '15000', '--trace']);
    const hold = await holdTheOnlyConnection(url);
    const n = 12;
    const replies: Array<Promise<Reply>> = [];
    for (let i = 0; i < n; i++) replies.push(get(url, { timeoutMs: 20_000 }));
    await master.waitFor(/accepting paused/);
    master.signal('SIGTERM');
    await master.waitFor(/SIGTERM, shutting down gracefully/);
    hold.release(); // the worker takes the queued ones, one at a time; the master accepts the backlog as room appears
    const settled = await Promise.allSettled(replies);
    const failed = settled.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
    expect(failed).toEqual([]);
    expect(settled.map((r) => (r as PromiseFulfilledResult<Reply>).value.status)).toEqual(Array(n).fill(200));
    expect(await master.exit(20_000)).toEqual({ code: 0, signal: null });
    expect(master.stderr).toMatch(/accepted \d+ connection\(s\) that were waiting in the kernel's backlog before closing the listener/);
  });
});

describe('the accept queue at shutdown, --scheduler shared', () => {
  test('connections waiting in the backlog while the only worker is blocked are answered, none reset', async () => {
    const { master, url } = await startMaster([fixture('block.mjs'), '-w', '1', '--scheduler', 'shared', '--trace']);
    const blocked = get(`${url}/block?ms=1500`);
    await master.waitFor(/blocking pid/);
    const n = 10;
    const replies = Array.from({ length: n }, () => get(url, { timeoutMs: 15_000 }));
    master.signal('SIGTERM');
    await master.waitFor(/SIGTERM, shutting down gracefully/);
    expect(await failures([blocked, ...replies])).toEqual([]);
    expect(await master.exit()).toEqual({ code: 0, signal: null });
  });
});

describe("the accept queue at shutdown, on the app's other port", () => {
  // reuseport (Node 22.12+): a socket per slot on the master's own port; the app's other ports are shared.
  const schedulers = ['rr', 'shared', ...(reusePortFlag() === undefined ? [] : ['reuseport'])];
  test.each(schedulers)('--scheduler %s: connections waiting on the second port while the only worker is blocked are answered (each in 300 ms), none reset; exit 0', async (scheduler) => {
    const { master, url } = await startMaster([fixture('block.mjs'), '-w', '1', '--scheduler', scheduler, '--max-pending', '2', '--kill-timeout', '15000'], { env: { SECOND_PORT: '0', SECOND_DELAY_MS: '300' } });
    const port = Number((await master.waitFor(/app listens on 127\.0\.0\.1:0 \(port (\d+)\)/))[1]);
    const second = `http://127.0.0.1:${port}`;
    await master.waitFor(/second port listening/);
    expect((await get(second)).body).toMatch(/^\d+ second\n$/);
    // Blocked long enough for everything below to happen while it is, on a busy machine too.
    const blocked = get(`${url}/block?ms=4000`, { timeoutMs: 15_000 });
    await master.waitFor(/blocking pid/);
    const waiting = Array.from({ length: 6 }, () => get(second, { timeoutMs: 15_000 }));
    await queued(port, 4); // rr: the master holds --max-pending 2 of them; shared: nobody accepts
    master.signal('SIGTERM');
    await master.waitFor(/SIGTERM, shutting down gracefully/);
    // Until the master has accepted its backlog, the second port's listener is open: these wait there too.
    const late = Array.from({ length: 3 }, () => get(second, { timeoutMs: 15_000 }));
    expect(await failures([blocked, ...waiting, ...late])).toEqual([]);
    expect((await blocked).body).toMatch(/^\d+\n$/);
    const replies = await Promise.all([...waiting, ...late]);
    expect(replies.map((reply) => [reply.status, /^\d+ second\n$/.test(reply.body)])).toEqual(Array(9).fill([200, true]));
    expect(await master.exit(20_000)).toEqual({ code: 0, signal: null });
  });
});

describe('a client that resets while its connection waits in the master', () => {
  test('is dropped there, never handed to a worker', async () => {
    const { master, url, port } = await startMaster([fixture('max-connections.mjs'), '-w', '1', '--trace']);
    const hold = await holdTheOnlyConnection(url);
    const client = net.connect(port, '127.0.0.1');
    client.on('error', () => undefined);
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    // conn 2: refused by the full worker, back in the master's queue
    await master.waitFor(/conn 2 +w1 refused it: re-dispatching/);
    client.resetAndDestroy();
    await new Promise((resolve) => client.once('close', resolve));
    hold.release();
    await master.waitFor(/conn 2 +the client reset while it waited in the master: dropped, not handed out/);
    expect((await get(url)).status).toBe(200);
    expect(master.output).not.toMatch(/conn 2 +accepted: the server has it/);
  });
});

describe('the fd limit', () => {
  test('ulimit -n 200, one worker, 400 connections held 3 s: all 400 answered (what neither the worker nor the master can hold waits in the backlog)', async () => {
    const { master, url } = await startMaster([fixture('faults.mjs'), '-w', '1', '--kill-timeout', '20000'], { ulimitFiles: 200 });
    const replies = await Promise.allSettled(Array.from({ length: 400 }, () => get(`${url}/slow?ms=3000`, { timeoutMs: 30_000 })));
    const failed = replies.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
    const statuses = replies.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<Reply>).value.status);
    expect({ failed: failed.length, first: failed[0] }).toEqual({ failed: 0, first: undefined });
    expect(statuses).toEqual(Array(400).fill(200));
    expect(master.output).not.toMatch(/EMFILE|uncaught exception|threw/);
    master.signal('SIGTERM');
    expect((await master.exit(30_000)).code).toBe(0);
  }, 60_000);
});

describe('--shutdown-delay', () => {
  test('after SIGTERM the workers keep serving new connections for the delay, then drain; exit 0', async () => {
    const { master, url } = await startMaster([fixture('pid.mjs'), '-w', '1', '--shutdown-delay', '600ms']);
    const stoppedAt = Date.now();
    master.signal('SIGTERM');
    await master.waitFor(/serving on for --shutdown-delay 600ms before draining/);
    expect((await get(url)).status).toBe(200); // still served
    expect(await withTimeout(master.exited, 5000, 'no exit')).toEqual({ code: 0, signal: null });
    expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(600);
  });
});
