// The dispatcher (dispatch/round-robin-handle.ts) driven without processes:
// fake workers record the order in which they are handed connections.

import { afterEach, describe, expect, test, vi } from 'vitest';
import { Dispatcher } from '../../dist/dispatch/round-robin-handle.js';
import { LATE_FACTOR, LATE_MIN_MS, NOISE_FACTOR, REFUSAL_PAUSE_MS, STALL_MS, WINDOW } from '../../dist/dispatch/lane.js';
import type { Scheduler, WorkerView } from '../../dist/scheduler/types.js';
import { createRoundRobin } from '../../dist/scheduler/round-robin.js';
import { FakeSocket, rig, type FakeWorker } from './fakes.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('hand-off (RoundRobinHandle.distribute, handoff)', () => {
  test('a burst is dealt in strict turn, in slot order', () => {
    const r = rig(createRoundRobin());
    r.addWorkers(3);
    r.connect(9);
    expect(r.who()).toBe('w1 w2 w3 w1 w2 w3 w1 w2 w3');
    expect(r.order.slice(0, 3)).toEqual(['w1#1', 'w2#2', 'w3#3']);
  });

  test('connections wait in the queue until a worker is added, then all go', () => {
    const r = rig(createRoundRobin());
    r.connect(3);
    expect(r.dispatcher.queued).toBe(3);
    expect(r.order).toEqual([]);
    r.worker();
    expect(r.order).toEqual(['w1#1', 'w1#2', 'w1#3']);
    expect(r.dispatcher.queued).toBe(0);
  });

  test('noServer (an app that binds UDP only): what waits is closed, so is what comes, and accepting resumes; a worker ends it', () => {
    const r = rig(createRoundRobin(), 4);
    r.connect(4);
    expect(r.socket.pauses).toBe(1);
    r.dispatcher.noServer(true);
    expect(r.handles.every((handle) => handle.closed)).toBe(true);
    expect([r.dispatcher.held, r.dispatcher.queued, r.socket.resumes]).toEqual([0, 0, 1]);
    r.connect(2);
    expect(r.handles.every((handle) => handle.closed)).toBe(true);
    expect(r.dispatcher.held).toBe(0);
    r.dispatcher.noServer(false);
    r.worker();
    r.connect(1);
    expect(r.order).toEqual(['w1#7']);
    expect(r.handles[6]?.closed).toBe(false);
  });

  test('accepted: the master closes its copy and counts the hand-off; whenEmpty resolves', async () => {
    const r = rig(createRoundRobin());
    const w1 = r.worker();
    r.connect(2);
    expect(r.dispatcher.held).toBe(2);
    const empty = r.dispatcher.whenEmpty();
    r.accept(w1);
    await empty;
    expect(r.handles.every((handle) => handle.closed)).toBe(true);
    expect(r.dispatcher.held).toBe(0);
    expect(r.dispatcher.handedTo(w1)).toBe(2);
    expect(r.dispatcher.inFlightTo(w1)).toBe(0);
  });
});

describe('when a worker may take another (the lane)', () => {
  test(`the window: at most ${WINDOW} unanswered hand-offs per worker, the rest wait`, () => {
    const r = rig(createRoundRobin());
    const w1 = r.worker();
    r.connect(WINDOW + 5);
    expect(r.order.length).toBe(WINDOW);
    expect(r.dispatcher.queued).toBe(5);
    r.accept(w1, [1, 2, 3]);
    expect(r.order.length).toBe(WINDOW + 3);
    expect(r.dispatcher.queued).toBe(2);
  });

  test(`a worker that answers nothing for ${STALL_MS} ms is passed over; it is tried again once it answers`, () => {
    const r = rig(createRoundRobin());
    const [w1, w2] = r.addWorkers(2) as [FakeWorker, FakeWorker];
    r.connect(2); // w1#1 w2#2
    r.accept(w2);
    r.now += STALL_MS + 1;
    for (let i = 0; i < 3; i++) {
      r.connect(1); // (rr sends w2 one per answer while w1 is late: see the rr tests)
      r.accept(w2);
    }
    expect(r.who()).toBe('w1 w2 w2 w2 w2');
    r.accept(w1);
    r.accept(w2);
    r.connect(2);
    expect(r.who().split(' ').slice(5)).toContain('w1');
  });

  test(`a refusal: the connection goes to another worker, and the refuser is passed over for ${REFUSAL_PAUSE_MS} ms`, () => {
    vi.useFakeTimers();
    const r = rig(createRoundRobin());
    const [w1, w2] = r.addWorkers(2) as [FakeWorker, FakeWorker];
    r.connect(2); // w1#1 w2#2
    r.refuse(w1);
    expect(r.order.at(-1)).toBe('w2#1');
    r.accept(w2);
    r.connect(2);
    expect(r.who()).toBe('w1 w2 w2 w2 w2');
    vi.advanceTimersByTime(REFUSAL_PAUSE_MS);
    r.accept(w2);
    r.connect(2);
    expect(r.who().split(' ').slice(5)).toContain('w1');
  });

  test('a worker reporting room again (fewer open connections) is tried at once', () => {
    vi.useFakeTimers();
    const r = rig(createRoundRobin());
    const w1 = r.worker();
    r.connect(1);
    r.refuse(w1); // back in the queue; w1 is paused and alone
    expect(r.dispatcher.queued).toBe(1);
    r.dispatcher.roomAgain(w1, false);
    expect(r.order).toEqual(['w1#1', 'w1#1']);
  });
});

describe('how long hand-offs take (the recorder, and what `late` means)', () => {
  /** A scheduler that always picks the first worker, and keeps the views it was shown. */
  const spy = (): Scheduler & { views: readonly WorkerView[] } => {
    const scheduler = {
      name: 'spy',
      views: [] as readonly WorkerView[],
      pick: (_connection: unknown, workers: readonly WorkerView[]) => {
        scheduler.views = workers;
        return workers[0];
      },
    };
    return scheduler;
  };

  test('each accepted hand-off is timed from the accept to the answer, on the dispatcher\'s clock', () => {
    const r = rig(createRoundRobin());
    const w1 = r.worker();
    r.connect(3);
    r.now += 0.3;
    r.accept(w1);
    const status = r.stats.latency.status();
    expect(status.count).toBe(3);
    expect(status.p50Us).toBeGreaterThanOrEqual(300);
    expect(status.p50Us).toBeLessThan(315);
  });

  test(`a worker is late once it holds an answer ${LATE_MIN_MS} ms or more; unansweredMs says for how long`, () => {
    const scheduler = spy();
    const r = rig(scheduler);
    const w1 = r.worker();
    r.connect(1);
    const view = scheduler.views[0] as WorkerView;
    r.now += LATE_MIN_MS - 0.1;
    expect(view.unansweredMs).toBeCloseTo(LATE_MIN_MS - 0.1);
    expect(view.late).toBe(false);
    r.now += 0.2;
    expect(view.late).toBe(true);
    r.accept(w1);
    expect(view.unansweredMs).toBe(0);
    expect(view.late).toBe(false);
  });

  test(`on a machine where the master itself runs late, late means at least ${NOISE_FACTOR} times that`, () => {
    const socket = new FakeSocket();
    const dispatcher = new Dispatcher('k', socket, createRoundRobin(), { maxPending: 10, trace: null, now: () => 0, noiseMs: () => 30 });
    expect(dispatcher.lateAfterMs).toBe(NOISE_FACTOR * 30);
  });

  test(`on a machine where every answer is slow, late means ${LATE_FACTOR} times the usual`, () => {
    const r = rig(createRoundRobin());
    const w1 = r.worker();
    for (let i = 0; i < 400; i++) {
      r.connect(1);
      r.now += 5; // every hand-off takes 5 ms here
      r.accept(w1);
    }
    expect(r.dispatcher.lateAfterMs).toBeGreaterThan(LATE_FACTOR * 4);
    expect(r.dispatcher.lateAfterMs).toBeLessThan(LATE_FACTOR * 6);
  });
});

describe('workers leaving (RoundRobinHandle.remove, and what Node never does: reclaim)', () => {
  test('a reclaim after death: what was in flight goes to the others, oldest first', () => {
    const r = rig(createRoundRobin());
    const [w1, w2] = r.addWorkers(2) as [FakeWorker, FakeWorker];
    r.connect(4); // w1#1 w2#2 w1#3 w2#4
    r.accept(w2);
    w1.state = 'dead';
    r.dispatcher.forget(w1);
    r.dispatcher.reclaim(w1);
    expect(r.order.slice(4)).toEqual(['w2#1', 'w2#3']);
    expect(r.dispatcher.inFlightTo(w1)).toBe(0);
    r.accept(w2);
    expect(r.dispatcher.held).toBe(0);
  });

  test('remove() stops new hand-offs but answers still count until the channel closes', () => {
    const r = rig(createRoundRobin());
    const [w1, w2] = r.addWorkers(2) as [FakeWorker, FakeWorker];
    r.connect(2);
    expect(r.dispatcher.remove(w1)).toBe(true);
    expect(r.dispatcher.remove(w1)).toBe(false);
    r.connect(2);
    expect(r.who()).toBe('w1 w2 w2 w2');
    r.accept(w1);
    expect(r.dispatcher.handedTo(w1)).toBe(1);
    expect(r.dispatcher.inFlightTo(w2)).toBe(3);
  });

  test('workers added and removed during a burst: each connection goes to exactly one worker, newcomers start level', () => {
    const r = rig(createRoundRobin());
    const [w1, w2] = r.addWorkers(2) as [FakeWorker, FakeWorker];
    r.connect(4);
    r.dispatcher.remove(w2);
    r.connect(2);
    const w3 = r.worker(1);
    r.connect(4);
    expect(r.who().split(' ').slice(0, 6).join(' ')).toBe('w1 w2 w1 w2 w1 w1');
    const last = r.who().split(' ').slice(6);
    expect(last.filter((w) => w === 'w1').length).toBe(2);
    expect(last.filter((w) => w === 'w3').length).toBe(2);
    const seqs = r.order.map((entry) => Number(entry.split('#')[1]));
    expect(new Set(seqs).size).toBe(10);
    expect(r.dispatcher.inFlightTo(w1) + r.dispatcher.inFlightTo(w2) + r.dispatcher.inFlightTo(w3)).toBe(10);
  });

  test('a write that fails takes the worker out and the connection goes elsewhere', () => {
    const r = rig(createRoundRobin());
    const w1 = r.worker();
    r.worker();
    w1.writable = false;
    r.connect(3);
    expect(r.who()).toBe('w2 w2 w2');
    r.dispatcher.writeFailed(r.workers[1]!, 2);
    expect(r.dispatcher.queued).toBe(1);
  });
});

test('the queue bound: accepting pauses at maxPending and resumes at half', () => {
  const r = rig(createRoundRobin(), 4);
  const w1 = r.worker();
  r.connect(4);
  expect(r.socket.pauses).toBe(1);
  expect(r.dispatcher.accepting).toBe(false);
  r.accept(w1, [1]);
  expect(r.socket.resumes).toBe(0);
  r.accept(w1, [2]);
  expect(r.socket.resumes).toBe(1);
  expect(r.dispatcher.accepting).toBe(true);
});

test('closeQueued() closes what no worker took', () => {
  const r = rig(createRoundRobin());
  r.connect(3);
  expect(r.dispatcher.closeQueued()).toBe(3);
  expect(r.handles.every((handle) => handle.closed)).toBe(true);
  expect(r.dispatcher.held).toBe(0);
});

test('a queued connection whose client reset is dropped, not handed out', async () => {
  const r = rig(createRoundRobin());
  r.connect(3);
  const [first, second] = r.handles;
  (second as { reset: boolean }).reset = true;
  const empty = r.dispatcher.whenEmpty();
  const w1 = r.worker();
  expect(r.order).toEqual(['w1#1', 'w1#3']);
  expect(second?.closed).toBe(true);
  expect(first?.closed).toBe(false);
  expect(r.dispatcher.goneWhileQueued).toBe(1);
  expect(r.dispatcher.held).toBe(2);
  r.accept(w1);
  await empty;
});
