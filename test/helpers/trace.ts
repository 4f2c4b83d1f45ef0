// Reading --trace steps as the objects every traced process also writes (src/trace.ts's TraceEvent),
// not as the printed text, which may change its wording or layout for the reader.

import type { TraceEvent } from '../../dist/trace.js';

/** Which trace step to look for: who wrote it, what it is about, and its text. */
export interface StepMatch {
  who?: string;
  conn?: number | string;
  worker?: number;
  workerPid?: number;
  step: RegExp;
}

export function stepMatches(event: TraceEvent, want: StepMatch): boolean {
  if (want.who !== undefined && event.who !== want.who) return false;
  if (want.conn !== undefined && event.conn !== want.conn) return false;
  if (want.worker !== undefined && event.worker !== want.worker) return false;
  if (want.workerPid !== undefined && event.workerPid !== want.workerPid) return false;
  return want.step.test(event.step);
}

/** `want` as a test's failure message can show it (a RegExp would print as {}). */
export function describeStep(want: StepMatch): string {
  return JSON.stringify({ ...want, step: String(want.step) });
}

/** Where the first step matching `want` stands in `events` (in the order they were written); throws, showing them all, if none does. */
export function stepIndex(events: TraceEvent[], want: StepMatch): number {
  const index = events.findIndex((event) => stepMatches(event, want));
  if (index < 0) throw new Error(`no trace step ${describeStep(want)} in:\n${events.map((event) => JSON.stringify(event)).join('\n')}`);
  return index;
}

/** The first step matching `want`; throws if there is none. */
export function firstStep(events: TraceEvent[], want: StepMatch): TraceEvent {
  return events[stepIndex(events, want)] as TraceEvent;
}
