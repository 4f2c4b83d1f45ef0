// The same guarantees, whichever built-in scheduler places the connections.
// The policy only chooses a worker; the queue, the acknowledgement, the
// re-dispatch and the queue bound live once, in dispatcher.ts, and each
// scheduler that lets the master accept must keep all of them.

import { afterEach, describe, expect, test } from 'vitest';
import { builtInSchedulers, runsOnThisNode } from '../dist/scheduler/index.js';
import { countByPid, get, getMany } from './helpers/http.js';
import { fixture, startMaster, stopAllMasters } from './helpers/process.js';

afterEach(stopAllMasters);

// reuseport needs Node 22.12+ (test/reuseport/ tests it, and its refusal on older Node).
const all = Object.values(builtInSchedulers)
  .filter(runsOnThisNode)
  .map((entry) => entry.name);
// With shared the kernel gives connections to the workers directly: the
// master never holds them, so there is nothing for it to re-dispatch or bound.
const masterAccepting = Object.values(builtInSchedulers)
  .filter((entry) => !entry.workersAccept)
  .map((entry) => entry.name);

test('the lists cover every built-in scheduler', () => {
  expect(Object.keys(builtInSchedulers)).toEqual(['rr', 'least-conn', 'ip-hash', 'shared', 'reuseport']);
  expect(masterAccepting).toEqual(['rr', 'least-conn', 'ip-hash']);
});

const app = fixture('scheduling.mjs');
const pidOf = (body: string): number => Number(body.split(' ')[0]);

describe.each(all)('%s', (scheduler) => {
  test('every request is served', async () => {
    const { master, url } = await startMaster([app, '-w', '3', '--scheduler', scheduler]);
    const replies = await getMany(url, 150, 6);
    expect(replies.map((reply) => reply.status)).toEqual(Array(150).fill(200));
    const counts = countByPid(replies);
    expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(150);
    master.signal('SIGTERM');
    expect(await master.exit()).toEqual({ code: 0, signal: null });
  });
});

describe.each(masterAccepting)('%s keeps the guarantees of the dispatcher', (scheduler) => {
  test('a worker that refuses connections gets none; what it refused is re-dispatched', async () => {
    const { master, url } = await startMaster([app, '-w', '2', '--scheduler', scheduler, '--trace']);
    // The worker that answers this closes its server: it refuses every connection from now on.
    const closed = pidOf((await get(`${url}/stop-accepting`)).body);
    const replies = await getMany(url, 10, 1);
    expect(replies.map((reply) => reply.status)).toEqual(Array(10).fill(200));
    for (const reply of replies) expect(pidOf(reply.body)).not.toBe(closed);
    // rr and least-conn come back to it in turn, ip-hash because this client hashes to it: at least once it refused.
    expect(master.steps({ who: 'master', step: /^w\d refused it: re-dispatching$/ }).length).toBeGreaterThanOrEqual(1);
  });

  test('connections in flight to a worker that dies go to its replacement; meanwhile the master stops accepting at --max-pending', async () => {
    const { master, url } = await startMaster(
      [app, '-w', '1', '--scheduler', scheduler, '--max-pending', '4', '--heartbeat-interval', '0', '--heartbeat-timeout', '0', '--trace'],
    );
    const blocked = get(`${url}/block`, { timeoutMs: 20_000 }).catch((error: Error) => error);
    const frozen = Number((await master.waitFor(/blocking pid (\d+)/))[1]);

    // The only worker is frozen: these are sent to it and stay there, unacknowledged
    // -- except with rr, which sends nothing more to a worker that is late to
    // answer: once the first has gone unanswered for a moment, the rest wait in
    // the master's queue. Either way, once the master holds 4 it stops
    // accepting, and the other 4 wait in the kernel's backlog (the spare
    // descriptor that makes the pause possible is made when the port is bound:
    // see listener.ts).
    const holdsBack = scheduler === 'rr';
    const pending = Array.from({ length: 8 }, () => get(url, { timeoutMs: 20_000 }));
    await master.waitForStep({ who: 'master', step: /^master holds 4 connections: accepting paused/ });
    const sentToFrozen = { who: 'master', step: new RegExp(`^handle sent to w1 \\(pid ${frozen}\\)`) };
    await master.waitForSteps(sentToFrozen, holdsBack ? 2 : 5); // /block and 4 more (rr: at least 1)
    expect(master.steps({ who: 'master', step: /^accepted by the master/ })).toHaveLength(5); // and not one more while paused

    process.kill(frozen, 'SIGKILL');
    const replies = await Promise.all(pending);
    expect(replies.map((reply) => reply.status)).toEqual(Array(8).fill(200));
    const replacement = pidOf(replies[0]?.body ?? '');
    expect(replacement).not.toBe(frozen);
    for (const reply of replies) expect(pidOf(reply.body)).toBe(replacement);
    // Every connection the frozen worker never acknowledged was taken back.
    const stuck = master.steps(sentToFrozen).length - 1;
    console.log(`${scheduler}: ${stuck} of 8 connections were in flight to the frozen worker (--max-pending 4)`);
    if (holdsBack) {
      expect(stuck).toBeGreaterThanOrEqual(1);
      expect(stuck).toBeLessThanOrEqual(4);
    } else expect(stuck).toBe(4);
    expect(master.steps({ who: 'master', step: /^reclaimed from w1, which is gone: re-dispatching$/ })).toHaveLength(stuck);
    // /block had been accepted by the worker before it froze: that one is lost with it.
    expect(await blocked).toBeInstanceOf(Error);
  });
});
