// --cron-restart: a rolling restart on a schedule (PM2's cron_restart), e.g.
// "0 3 * * *" for every night at three. The expression is parsed by croner,
// a small, dependency-free and well-kept cron library: cron has enough corner
// cases (ranges, steps, day-of-month vs day-of-week) not to write our own.

import { Cron } from 'croner';
import { errorMessage, InvalidOptionError } from '../errors.js';

/** Throws an InvalidOptionError now, at start, for an expression croner cannot read. */
export function checkCronExpression(expression: string): void {
  try {
    new Cron(expression, { paused: true }).stop();
  } catch (error) {
    throw new InvalidOptionError('cron-restart', expression, `a cron expression such as "0 3 * * *" (${errorMessage(error)})`);
  }
}

/** Calls `restart` on every tick of `expression`; a tick that comes while one is still running is skipped. */
export function scheduleRestarts(expression: string, restart: () => Promise<unknown>): { stop(): void } {
  const job = new Cron(expression, { protect: true, unref: true }, async () => {
    await restart();
  });
  return { stop: () => job.stop() };
}
