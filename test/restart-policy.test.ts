// The restart policy's arithmetic, on a fake clock.

import { expect, test } from 'vitest';
import { RestartPolicy } from '../dist/primary/restart-policy.js';

test('the first crash restarts at once, then 100 x 1.5^k, capped at 15 s', () => {
  const policy = new RestartPolicy({ maxRestarts: 100, windowMs: 60_000, baseDelayMs: 100 });
  const delays = Array.from({ length: 16 }, (_, i) => {
    const decision = policy.onUnexpectedExit(0, 10, i * 10_000);
    return decision.restart ? decision.delayMs : -1;
  });
  expect(delays.slice(0, 5)).toEqual([0, 100, 150, 225, 338]);
  expect(delays.at(-1)).toBe(15_000);
});

test('a worker that stayed up 30 s resets its slot; slots count separately', () => {
  const policy = new RestartPolicy({ maxRestarts: 100, windowMs: 60_000, baseDelayMs: 100 });
  policy.onUnexpectedExit(0, 10, 0);
  expect(policy.onUnexpectedExit(0, 10, 1)).toMatchObject({ restart: true, delayMs: 100, streak: 2 });
  expect(policy.onUnexpectedExit(1, 10, 2)).toMatchObject({ restart: true, delayMs: 0, streak: 1 });
  expect(policy.onUnexpectedExit(0, 30_000, 3)).toMatchObject({ restart: true, delayMs: 0, streak: 1 });
});

test('more than maxRestarts within the window gives up, for good, until reset', () => {
  const policy = new RestartPolicy({ maxRestarts: 3, windowMs: 60_000, baseDelayMs: 100 });
  for (let i = 0; i < 3; i++) expect(policy.onUnexpectedExit(i, 10, i * 1000).restart).toBe(true);
  expect(policy.onUnexpectedExit(0, 10, 3000)).toEqual({ restart: false, exitsInWindow: 4 });
  expect(policy.gaveUp).toBe(true);
  expect(policy.onUnexpectedExit(0, 10, 200_000).restart).toBe(false);
  policy.reset();
  expect(policy.onUnexpectedExit(0, 10, 200_001).restart).toBe(true);
});

test('exits older than the window no longer count', () => {
  const policy = new RestartPolicy({ maxRestarts: 2, windowMs: 60_000, baseDelayMs: 100 });
  policy.onUnexpectedExit(0, 10, 0);
  policy.onUnexpectedExit(1, 10, 1000);
  expect(policy.onUnexpectedExit(2, 10, 61_001).restart).toBe(true);
});
