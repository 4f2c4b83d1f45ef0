// --trace, the teaching view: every step of one connection and of one
// worker's life, from both processes, with their pids, and with times that put
// them in causal order.

import { afterEach, describe, expect, test } from 'vitest';
import { get } from './helpers/http.js';
import { fixture, startMaster, stopAllMasters } from './helpers/process.js';

afterEach(stopAllMasters);

const app = fixture('pid.mjs');

/** Index of the first line (from `from` on) matching `pattern`; fails the test with the trace if there is none. */
function lineOf(lines: string[], pattern: RegExp, from = 0): number {
  const index = lines.findIndex((line, i) => i >= from && pattern.test(line));
  expect(index, `no line matching ${pattern} after line ${from} in:\n${lines.join('\n')}`).toBeGreaterThanOrEqual(from);
  return index;
}

describe.each([
  ['--trace', ['--trace'], {}],
  ['NODE_DEBUG=handoff', [], { NODE_DEBUG: 'net,handoff' }],
] as const)('%s', (_name, flags, env) => {
  test('one request: each step of the connection and of the worker, in order', async () => {
    const { master, url } = await startMaster([app, '-w', '1', '--scheduler', 'least-conn', ...flags], { env });
    const reply = await get(url);
    const worker = Number(reply.body);
    await master.waitForStep({ conn: 1, step: /^closed$/ });
    master.signal('SIGTERM');
    expect((await master.exit()).code).toBe(0);

    // Workers' lines reach us through the master, so they may come out a little late:
    // put every line in the order of its time, which all processes take from one clock.
    const printed = master.stderr.split('\n').filter((line) => line.startsWith('trace '));
    const at = (line: string): number => Number(line.split(/ +/)[1]);
    const lines = [...printed].sort((a, b) => at(a) - at(b));
    const m = `master ${master.pid} +`;
    const w = `w1 +${worker} +`;
    // the connection, from the master's accept to the worker's close
    const accepted = lineOf(lines, new RegExp(`${m}conn 1 +accepted by the master on fd \\d+, from (::ffff:)?127\\.0\\.0\\.1$`));
    const picked = lineOf(lines, new RegExp(`${m}conn 1 +scheduler least-conn picked w1: least active: 0$`), accepted);
    const sent = lineOf(lines, new RegExp(`${m}conn 1 +handle sent to w1 \\(pid ${worker}\\)$`), picked);
    const received = lineOf(lines, new RegExp(`${w}conn 1 +received by the worker$`), sent);
    const taken = lineOf(lines, new RegExp(`${w}conn 1 +accepted: the server has it as a net\\.Socket$`), received);
    lineOf(lines, new RegExp(`${m}conn 1 +w1 accepted it: the master closes its copy$`), received);
    lineOf(lines, new RegExp(`${w}conn 1 +closed$`), taken);
    // the worker, from fork to exit
    const forked = lineOf(lines, new RegExp(`${m}w1 \\(pid ${worker}\\) +forked into slot 0$`));
    const online = lineOf(lines, new RegExp(`${m}w1 \\(pid ${worker}\\) +online: `), forked);
    const ready = lineOf(lines, new RegExp(`${m}w1 \\(pid ${worker}\\) +ready: `), online);
    const draining = lineOf(lines, new RegExp(`${m}w1 \\(pid ${worker}\\) +draining \\(shutdown\\)`), ready);
    lineOf(lines, new RegExp(`${m}w1 \\(pid ${worker}\\) +exited \\(exit code 0\\)$`), draining);

    // Every line: "trace", seconds since the master started to the microsecond, process, pid, subject, step.
    for (const line of lines) expect(line).toMatch(/^trace +\d+\.\d{6} {2}(master|w\d+) +\d+ +(conn \d+|w\d+ \(pid \d+\)) {2,}\S/);
    // Each process's own clock only moves forward.
    for (const who of [m, w]) {
      const times = printed.filter((line) => new RegExp(who).test(line)).map(at);
      expect(times).toEqual([...times].sort((a, b) => a - b));
    }
  });
});

test('without --trace or NODE_DEBUG, no trace line at all', async () => {
  const { master, url } = await startMaster([app, '-w', '1'], { env: { NODE_DEBUG: '' } });
  await get(url);
  master.signal('SIGTERM');
  await master.exit();
  expect(master.output).not.toMatch(/^trace /m);
});
