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
  test('in turn, in slot order, while every worker answers', () => {
    const r = rig(createRoundRobin());
    r.addWorkers(3);
    r.connect(6);
    expect(r.who()).toBe('w1 w2 w3 w1 w2 w3');
  });

  /** How many connections each worker got, in worker order. */
  const counts = (r: ReturnType<typeof rig>): number[] => r.workers.map((w) => r.order.filter((entry) => entry.startsWith(`w${w.id}#`)).length);

  test('a worker that has not answered gets nothing while another is idle', () => {
    const r = rig(createRoundRobin());
    const w1 = r.worker();
    const w2 = r.worker();
    r.connect(2); // one each; w2 answers, w1 is in a long request and does not
    r.accept(w2);
    r.now += 50;
    for (let i = 0; i < 5; i++) {
      r.connect(1);
      r.accept(w2);
      r.now += 1;
    }
    expect(r.who()).toBe('w1 w2 w2 w2 w2 w2 w2');
    expect(w1.unanswered).toEqual([1]);
  });

  test('--trace says which worker rr passed over, and why', () => {
    const rr = createRoundRobin();
    const explained: string[] = [];
    const r = rig({ ...rr, pick: (connection, workers) => {
      const chosen = rr.pick(connection, workers);
      if (chosen) explained.push(`w${chosen.id}: ${rr.explain?.(connection, chosen)}`);
      return chosen;
    } });
    r.worker();
    const w2 = r.worker();
    r.connect(2);
    r.accept(w2);
    r.now += 50; // w1 has not answered #1 for 50 ms: late
    r.connect(1); // w1's turn: passed over
    expect(explained).toEqual(['w1: next in turn', 'w2: next in turn', 'w2: next in turn after passing over w1 (late: 1 unanswered for 50.00 ms)']);
  });

  test('while one is late, the others get cluster\'s rule: one connection per answer', () => {
    const r = rig(createRoundRobin());
    r.worker();
    const w2 = r.worker();
    r.connect(2);
    r.now += 50; // w1 has not answered #1 for 50 ms
    r.accept(w2);
    r.connect(4); // w2 is free: it takes #3; the rest wait for its answer, not for w1
    expect(r.who()).toBe('w1 w2 w2');
    expect(r.dispatcher.queued).toBe(3);
    r.now += 0.2;
    r.accept(w2);
    r.accept(w2);
    expect(r.who()).toBe('w1 w2 w2 w2 w2');
    expect(r.dispatcher.queued).toBe(1);
  });

  test('a free worker before one holding hand-offs, whoever\'s turn it is; then turns, with what is owed', () => {
    const r = rig(createRoundRobin());
    r.worker();
    const w2 = r.worker();
    r.connect(2); // w1#1 w2#2
    r.accept(w2);
    r.connect(1); // w1's turn, but w1 holds #1 and w2 is free: w2
    r.connect(1); // both hold one: w1, which was passed over
    expect(r.who()).toBe('w1 w2 w2 w1');
  });

  test('when every worker is late, the connection waits, and goes to the first that answers', () => {
    const r = rig(createRoundRobin());
    const w1 = r.worker();
    const w2 = r.worker();
    r.connect(2);
    r.now += 50; // both in long requests
    r.connect(2);
    expect(r.dispatcher.queued).toBe(2);
    r.accept(w2);
    expect(r.who()).toBe('w1 w2 w2');
    r.accept(w1);
    expect(r.who()).toBe('w1 w2 w2 w1');
  });

  test('a burst of slow requests is split by how fast each worker gets through it, not all to the first to answer', () => {
    const r = rig(createRoundRobin());
    const w1 = r.worker();
    const w2 = r.worker();
    r.connect(10); // 5 each; then both are busy with them
    r.now += 50;
    r.connect(20); // all late: these wait
    for (let i = 0; i < 10; i++) {
      r.accept(w1); // each answers, then works through what it took, and answers again
      r.now += 10;
      r.accept(w2);
      r.now += 10;
    }
    expect(r.dispatcher.queued).toBe(0);
    const [a, b] = counts(r);
    expect(Math.abs(a! - b!)).toBeLessThanOrEqual(1);
  });

  test('uniform load stays even: workers answering in any order, within a turn', () => {
    const r = rig(createRoundRobin());
    const workers = [r.worker(), r.worker(), r.worker()];
    for (let i = 0; i < 3000; i++) {
      r.connect(1 + (i % 3));
      r.now += 0.05;
      r.accept(workers[(i * 7) % 3]!); // one answers now, in an order that wanders
      if (i % 5 === 0) for (const w of workers) r.accept(w);
    }
    const [a, b, c] = counts(r);
    expect(Math.max(a!, b!, c!) - Math.min(a!, b!, c!)).toBeLessThanOrEqual(1);
  });

  test('a burst stays even, also when one worker answers in the middle of it', () => {
    const r = rig(createRoundRobin());
    const w1 = r.worker();
    r.worker();
    r.connect(40);
    r.accept(w1); // w1 answers first and is free: it takes the next one, then turns resume
    r.now += 0.5;
    r.connect(60);
    expect(counts(r)).toEqual([50, 50]);
  });

  test('a worker that answers again is used again, and is not handed a backlog of turns', () => {
    const r = rig(createRoundRobin());
    const w1 = r.worker();
    const w2 = r.worker();
    r.connect(2);
    r.accept(w2);
    r.now += 50; // w1 stuck
    for (let i = 0; i < 4; i++) {
      r.connect(1);
      r.accept(w2);
    }
    expect(r.who()).toBe('w1 w2 w2 w2 w2 w2');
    r.accept(w1); // back
    for (let i = 0; i < 6; i++) {
      r.connect(1);
      r.now += 0.1;
      r.accept(w1);
      r.accept(w2);
    }
    // Both free each time: w1 is owed turns and takes the ties until level, then turns alternate.
    expect(r.who().split(' ').slice(6)).toContain('w1');
    expect(w1.unanswered).toEqual([]);
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
