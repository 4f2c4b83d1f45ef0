// Every built-in scheduler, driven through the dispatcher without processes.
// The same expectations run for each (as tinypool runs them per runtime);
// then what only one of them promises.

import { describe, expect, test } from 'vitest';
import { builtInSchedulers } from '../../dist/scheduler/index.js';
import { createIpHash } from '../../dist/scheduler/ip-hash.js';
import { createLeastConnections } from '../../dist/scheduler/least-conn.js';
import { createRoundRobin } from '../../dist/scheduler/round-robin.js';
import type { Scheduler } from '../../dist/scheduler/types.js';
import { rig, type FakeWorker } from './fakes.js';

const masterAccepting: Array<[string, () => Scheduler]> = [
  ['rr', createRoundRobin],
  ['least-conn', createLeastConnections],
  ['ip-hash', createIpHash],
];

test('the table of built-in schedulers has the three tested here, shared and reuseport (test/reuseport/)', () => {
  expect(Object.keys(builtInSchedulers).sort()).toEqual(['ip-hash', 'least-conn', 'reuseport', 'rr', 'shared']);
});

/** Clients from `n` different addresses. */
function clients(r: ReturnType<typeof rig>, n: number): void {
  for (let i = 0; i < n; i++) r.connect(1, `10.0.${i >> 8}.${i & 255}`);
}

describe.each(masterAccepting)('%s', (_name, create) => {
  test('every connection of a burst reaches exactly one worker, and every worker gets some', () => {
    const r = rig(create());
    r.addWorkers(3);
    clients(r, 60);
    const seqs = r.order.map((entry) => entry.split('#')[1]);
    expect(seqs.length).toBe(60);
    expect(new Set(seqs).size).toBe(60);
    for (const w of ['w1', 'w2', 'w3']) expect(r.who().split(' ')).toContain(w);
  });

  test('a removed worker gets nothing more; a reclaim hands its connections to the others', () => {
    const r = rig(create());
    const w1 = r.worker();
    r.worker();
    clients(r, 10);
    const before = r.order.length;
    r.dispatcher.remove(w1);
    clients(r, 10);
    expect(r.who().split(' ').slice(before)).not.toContain('w1');
    const orphans = w1.unanswered.length;
    w1.state = 'dead';
    r.dispatcher.reclaim(w1);
    expect(r.order.length).toBe(20 + orphans);
    expect(r.who().split(' ').slice(20)).not.toContain('w1');
  });

  test('a refused connection is placed again, on a worker that did not refuse it', () => {
    const r = rig(create());
    const w1 = r.worker();
    r.worker();
    clients(r, 8);
    const refused = [...w1.unanswered];
    r.refuse(w1);
    const replaced = r.order.slice(8);
    expect(replaced.map((entry) => Number(entry.split('#')[1])).sort((a, b) => a - b)).toEqual(refused);
    expect(replaced.every((entry) => entry.startsWith('w2#'))).toBe(true);
  });

  test('a worker added during a burst starts taking connections', () => {
    const r = rig(create());
    r.worker();
    clients(r, 5);
    r.worker();
    clients(r, 40);
    expect(r.who().split(' ').slice(5)).toContain('w2');
  });
});

describe('rr', () => {
  test('strict turn, in slot order', () => {
    const r = rig(createRoundRobin());
    r.addWorkers(3);
    r.connect(6);
    expect(r.who()).toBe('w1 w2 w3 w1 w2 w3');
  });
});

describe('least-conn', () => {
  test('the worker with the fewest open plus in-flight connections gets the next one', () => {
    const r = rig(createLeastConnections());
    const [w1, w2] = r.addWorkers(2) as [FakeWorker, FakeWorker];
    const w3 = r.worker();
    w1.active = 5;
    w2.active = 1;
    w3.active = 3;
    r.connect(1);
    expect(r.who()).toBe('w2');
    r.connect(3); // w2 is at 2 now: w2, then w2 and w3 tie at 3
    expect(r.who()).toBe('w2 w2 w3 w2');
  });
});

describe('ip-hash', () => {
  test('a client goes to the same worker every time; when a worker leaves, only its clients move', () => {
    const r = rig(createIpHash());
    r.worker();
    const w2 = r.worker();
    r.worker();
    clients(r, 30);
    const first = r.who().split(' ');
    clients(r, 30);
    expect(r.who().split(' ').slice(30)).toEqual(first);
    r.dispatcher.remove(w2);
    clients(r, 30);
    const third = r.who().split(' ').slice(60);
    first.forEach((w, i) => {
      if (w !== 'w2') expect(third[i]).toBe(w);
      else expect(third[i]).not.toBe('w2');
    });
  });
});
