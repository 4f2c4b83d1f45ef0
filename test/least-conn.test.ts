// least-conn places by open connections, which rr does not see.

import http from 'node:http';
import { afterEach, expect, test } from 'vitest';
import { countByPid, getMany } from './helpers/http.js';
import { fixture, startMaster, stopAllMasters, withTimeout } from './helpers/process.js';

afterEach(async () => {
  for (const held of holding.splice(0)) held.release();
  await stopAllMasters();
});

interface Held {
  pid: number;
  release(): void;
}
const holding: Held[] = [];

/** Opens a connection that the worker keeps open (GET /hold) until release(); resolves once the worker has it. */
function hold(url: string): Promise<Held> {
  return withTimeout(
    new Promise((resolve, reject) => {
      const request = http.get(`${url}/hold`, { agent: false }, (response) => {
        const held = { pid: Number(response.headers['x-pid']), release: () => request.destroy() };
        holding.push(held);
        resolve(held);
      });
      request.on('error', reject);
    }),
    10_000,
    'GET /hold got no headers',
  );
}

const app = fixture('scheduling.mjs');

test('with one worker holding many open connections, new connections go to the others', async () => {
  const { master, url } = await startMaster([app, '-w', '3', '--scheduler', 'least-conn', '--trace']);

  // One at a time, so each goes to the least loaded: 8 per worker. (Until the
  // worker's acknowledgement arrives, its new connection counts as in flight;
  // after, as active: either way the master counts it.)
  const held: Held[] = [];
  for (let i = 0; i < 24; i++) held.push(await hold(url));
  const perWorker = new Map<number, number>();
  for (const h of held) perWorker.set(h.pid, (perWorker.get(h.pid) ?? 0) + 1);
  expect([...perWorker.values()]).toEqual([8, 8, 8]);

  // Only the first worker keeps its 8; the others' close, and they say so.
  const busy = held[0]?.pid as number;
  const others = [...new Set(held.map((h) => h.pid))].filter((pid) => pid !== busy);
  for (const h of held) if (h.pid !== busy) h.release();
  await Promise.all(others.map((pid) => master.waitForStep({ workerPid: pid, step: /^load: 0 open$/ })));

  // The busy worker has 8 open; with 2 requests at a time the others have far fewer
  // (a few more than 2 at worst, counting sockets whose close the master has not heard of yet).
  const replies = await getMany(url, 40, 2);
  expect(replies.map((reply) => reply.status)).toEqual(Array(40).fill(200));
  const counts = countByPid(replies);
  expect(counts.get(busy) ?? 0).toBe(0);
  expect(counts.size).toBe(2);
  expect(master.steps({ who: 'master', step: /^scheduler least-conn picked w\d: least active: \d/ }).length).toBeGreaterThan(0);

  // Its connections close: it is in the game again.
  for (const h of held) if (h.pid === busy) h.release();
  await master.waitForStep({ workerPid: busy, step: /^load: 0 open$/ });
  const after = countByPid(await getMany(url, 30, 1));
  // About a third: a worker that just served one may still look busier than the
  // others until its close is reported, but one that has served none looks idle.
  expect(after.get(busy)).toBeGreaterThanOrEqual(5);
});

test('rr workers send no load reports: closing connections costs rr nothing', async () => {
  const { master, url } = await startMaster([app, '-w', '2', '--scheduler', 'rr', '--trace']);
  await getMany(url, 20, 2);
  // Each of these connections closed on the worker; 20 more request/response round trips later, none was reported.
  await getMany(url, 20, 1);
  expect(master.steps({ who: 'w1', step: /^closed$/ }).length).toBeGreaterThanOrEqual(10);
  expect(master.steps({ step: /^load: \d+ open/ })).toEqual([]);
});
