// The user's own IPC passes through untouched, in both directions, through the
// programmatic API (createMaster) running in this test process.

import { afterEach, expect, test } from 'vitest';
import { createMaster, type Master } from '../dist/index.js';
import { get } from './helpers/http.js';
import { fixture, withTimeout } from './helpers/process.js';

let master: Master | undefined;
afterEach(async () => {
  await master?.close();
  master = undefined;
});

function nextMessage(m: Master, predicate: (message: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  return withTimeout(
    new Promise((resolve) => {
      const listener = (_worker: unknown, message: unknown): void => {
        if (typeof message === 'object' && message !== null && predicate(message as Record<string, unknown>)) {
          m.off('message', listener);
          resolve(message as Record<string, unknown>);
        }
      };
      m.on('message', listener);
    }),
    5000,
    'no such message from a worker',
  );
}

test('worker process.send reaches the master; master messages reach the worker; ours reach neither', async () => {
  master = createMaster({ script: fixture('user-ipc.mjs'), port: 0, workers: 2, logger: undefined } as never);
  const forks: number[] = [];
  master.on('fork', (worker) => forks.push(worker.id));
  const address = await withTimeout(new Promise<{ port: number }>((resolve) => master?.once('ready', resolve)), 10_000, 'not ready');
  const url = `http://127.0.0.1:${address.port}`;

  // Each request costs the master a hand-off and the worker an acknowledgement: none of it may show in user code.
  const hit = nextMessage(master, (m) => m['hit'] === '/first');
  const reply = await get(`${url}/first`);
  expect(reply.status).toBe(200);
  const message = await hit;
  expect(message).toEqual({ hit: '/first', pid: JSON.parse(reply.body).pid, seen: 0 });

  for (let i = 0; i < 20; i++) await get(url);

  // Master -> worker, with a field called cmd that is not ours.
  const worker = master.workers[0];
  expect(worker).toBeDefined();
  const echoed = nextMessage(master, (m) => m['echoed'] !== undefined);
  worker?.process.send({ echo: 'ping', cmd: 'user-command' });
  expect(await echoed).toEqual({ echoed: 'ping', pid: worker?.pid, seen: 1 });
  expect(forks).toEqual([1, 2]);
});

test('the programmatic API tells a worker\'s life in events: fork, online, listening, ready, exit, close', async () => {
  const events: string[] = [];
  master = createMaster({ script: fixture('pid.mjs'), port: 0, workers: 2 });
  for (const name of ['fork', 'online', 'listening', 'exit'] as const) {
    master.on(name, (worker: { id: number }) => events.push(`${name} w${worker.id}`));
  }
  master.on('ready', () => events.push('ready'));
  const closed = new Promise<number>((resolve) => master?.once('close', resolve));
  await withTimeout(new Promise((resolve) => master?.once('ready', resolve)), 10_000, 'not ready');
  const exitCode = await master.close();
  expect(exitCode).toBe(0);
  expect(await closed).toBe(0);
  for (const id of [1, 2]) {
    const order = ['fork', 'online', 'listening', 'exit'].map((name) => events.indexOf(`${name} w${id}`));
    expect(order.every((index) => index >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  }
  expect(events.indexOf('ready')).toBeGreaterThan(Math.max(events.indexOf('listening w1'), events.indexOf('listening w2')));
  master = undefined;
});
