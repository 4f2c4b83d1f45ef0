// Connections in flight to a worker that dies are re-dispatched, not lost.

import { afterEach, expect, test } from 'vitest';
import { get } from './helpers/http.js';
import { childPids, fixture, startMaster, stopAllMasters } from './helpers/process.js';

afterEach(stopAllMasters);

test('SIGKILL a worker with connections queued for it: every one is answered by another worker', async () => {
  // Heartbeats off: the frozen worker must stay frozen until we kill it.
  const { master, url } = await startMaster([fixture('blocker.mjs'), '--workers', '2', '--heartbeat-interval', '0', '--trace']);
  const workers = childPids(master.pid);
  expect(workers).toHaveLength(2);

  // rr sends /block to the first worker, which freezes without answering.
  const blocked = get(`${url}/block`, { timeoutMs: 20_000 }).catch((error: Error) => error);
  const frozenPid = Number((await master.waitFor(/blocking pid (\d+)/))[1]);
  const healthyPid = workers.find((pid) => pid !== frozenPid);

  // rr sends the frozen worker its turn while it still looks free; once that
  // goes unanswered it is late and gets no more (the rest go to the healthy
  // one). What it was sent sits there, unacknowledged.
  const pending = Array.from({ length: 10 }, () => get(url, { timeoutMs: 20_000 }));
  const sentToFrozen = { who: 'master', step: new RegExp(`^handle sent to w\\d \\(pid ${frozenPid}\\)`) };
  await master.waitForSteps(sentToFrozen, 2); // /block and at least one more

  process.kill(frozenPid, 'SIGKILL');
  const replies = await Promise.all(pending);
  expect(replies.map((reply) => reply.status)).toEqual(Array(10).fill(200));
  // every one was served by a live worker, none by the dead one
  for (const reply of replies) expect(Number(reply.body)).not.toBe(frozenPid);
  expect(replies.filter((reply) => Number(reply.body) === healthyPid).length).toBeGreaterThanOrEqual(5);
  // Counted only now: more may have been sent to it between the count above and its death.
  const stuck = master.steps(sentToFrozen).length - 1; // minus /block itself, which it accepted before freezing
  expect(master.steps({ who: 'master', step: /^reclaimed from w\d, which is gone: re-dispatching$/ })).toHaveLength(stuck);
  expect(stuck).toBeGreaterThanOrEqual(1);
  // /block itself was accepted by the frozen worker before it froze: that one is lost with it.
  expect(await blocked).toBeInstanceOf(Error);
});

test('a worker that stops answering is passed over within a quarter second, long before the heartbeat would catch it', async () => {
  const { master, url } = await startMaster([fixture('faults.mjs'), '--workers', '2', '--heartbeat-interval', '0', '--trace']);
  const healthy = Number((await get(url)).body); // rr: first worker
  void get(`${url}/spin`, { timeoutMs: 20_000 }).catch(() => undefined); // second worker freezes
  const frozenPid = Number((await master.waitFor(/spinning pid (\d+)/))[1]);
  expect(frozenPid).not.toBe(healthy);
  const sentToFrozen = { who: 'master', step: new RegExp(`^handle sent to w\\d \\(pid ${frozenPid}\\)`) };
  // Two at once: rr sends one of them to the frozen worker, where it sits unanswered...
  const stuck = [get(url, { timeoutMs: 20_000 }), get(url, { timeoutMs: 20_000 })];
  await master.waitForSteps(sentToFrozen, 2);
  // ...and this slow request, on the healthy worker, is the clock that lets 250 ms pass.
  expect(Number((await get(`${url}/slow?ms=400`)).body)).toBe(healthy);
  const replies = await Promise.all(Array.from({ length: 10 }, () => get(url)));
  expect(replies.map((reply) => Number(reply.body))).toEqual(Array(10).fill(healthy));
  expect(master.steps(sentToFrozen)).toHaveLength(2);
  process.kill(frozenPid, 'SIGKILL');
  expect((await Promise.all(stuck)).map((reply) => reply.status)).toEqual([200, 200]);
});
