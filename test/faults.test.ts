// A worker can throw, hang, leak, age or crash at start: the service keeps
// answering, replacement capacity comes before the old worker leaves, and a
// broken app never turns into a fork bomb.

import http from 'node:http';
import { afterEach, describe, expect, test } from 'vitest';
import { get, type Reply } from './helpers/http.js';
import { fixture, runCli, startMaster, stopAllMasters } from './helpers/process.js';
import { firstStep, stepIndex, type StepMatch } from './helpers/trace.js';

afterEach(stopAllMasters);

const faults = fixture('faults.mjs');

/** Requests `url` over and over until `done()` says stop; returns every outcome. */
async function keepRequesting(url: string, done: () => boolean, lanes = 4, limitMs = 20_000): Promise<Array<Reply | Error>> {
  const outcomes: Array<Reply | Error> = [];
  const deadline = Date.now() + limitMs;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (!done() && Date.now() < deadline) outcomes.push(await get(url).catch((error: Error) => error));
    }),
  );
  if (!done()) throw new Error(`condition not reached within ${limitMs} ms`);
  return outcomes;
}

function failures(outcomes: Array<Reply | Error>): Array<Reply | Error> {
  return outcomes.filter((o) => o instanceof Error || o.status !== 200);
}

describe('suicide signal', () => {
  test('a throwing request: replacement forked before the thrower exits; keep-alive clients on it get Connection: close; others untouched', async () => {
    const { master, url } = await startMaster([faults, '-w', '2', '--kill-timeout', '3000', '--trace']);
    const agentA = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const agentB = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      // rr: A's connection goes to the first worker, B's to the second, the next new one to the first again.
      const a1 = await get(url, { agent: agentA });
      const b1 = await get(url, { agent: agentB });
      const thrower = Number(a1.body);
      expect(Number(b1.body)).not.toBe(thrower);

      const slowOnThrower = get(`${url}/slow?ms=400`, { agent: agentA });
      await master.waitFor(new RegExp(`slow request in pid ${thrower}`));
      const thrown = await get(`${url}/throw`);
      expect(thrown.status).toBe(500); // the request that threw is answered, not left hanging

      const slow = await slowOnThrower;
      expect(slow.status).toBe(200);
      expect(Number(slow.body)).toBe(thrower);
      expect(slow.headers.connection).toBe('close');

      const b2 = await get(url, { agent: agentB });
      expect(b2.reused).toBe(true);
      expect(Number(b2.body)).toBe(Number(b1.body));
      expect(b2.headers.connection).toBe('keep-alive');

      await master.waitForStep({ worker: 1, step: /^exited/ });
      const events = master.traceEvents();
      const forked = { worker: 3, step: /^forked into slot 0$/ };
      const exited = { worker: 1, step: /^exited/ };
      expect(stepIndex(events, forked)).toBeLessThan(stepIndex(events, exited));
      expect(firstStep(events, forked).at).toBeLessThan(firstStep(events, exited).at);
      // the worker logged its stack; the master logged what it did about it
      // every line of the worker's own report carries its prefix: "<time> [w1 <pid>] ..."
      const prefix = `\\S+ \\[w1 ${thrower}\\] `;
      expect(master.stderr).toMatch(new RegExp(`${prefix}handoff: uncaught exception, draining and exiting:\\n${prefix}Error: thrown on request\\n${prefix}\\s+at `));
      expect(master.stderr).toContain(`worker 1 (pid ${thrower}) threw Error: thrown on request; forking its replacement and draining it`);
      // and once the thrower is gone, every request is still answered
      for (let i = 0; i < 6; i++) expect((await get(url)).status).toBe(200);
    } finally {
      agentA.destroy();
      agentB.destroy();
    }
  });

  test('an unhandled rejection is a suicide signal too', async () => {
    const { master, url } = await startMaster([faults, '-w', '1', '--trace']);
    expect((await get(`${url}/reject`)).status).toBe(200);
    await master.waitFor(/threw Error: rejected on request; forking its replacement/);
    await master.waitForStep({ worker: 2, step: /^ready/ });
    expect((await get(url)).status).toBe(200);
  });
});

describe('forced exit', () => {
  test('a connection held open past the kill timeout: the worker exits by itself within kill-timeout + 1 s', async () => {
    const { master, url } = await startMaster([faults, '-w', '1', '--kill-timeout', '1000', '--trace']);
    const held = get(`${url}/hold`, { timeoutMs: 10_000 }).catch((error: Error) => error);
    await master.waitFor(/holding a connection in pid/);
    master.signal('SIGTERM');
    const exit = await master.exit();
    expect(exit.code).toBe(1); // a connection was cut
    const events = master.traceEvents();
    const draining = firstStep(events, { worker: 1, step: /^draining \(shutdown\): 1 connection open$/ });
    const exited = firstStep(events, { worker: 1, step: /^exited \(exit code 1\)$/ });
    expect(exited.at - draining.at).toBeLessThan(2.0);
    expect(exited.at - draining.at).toBeGreaterThanOrEqual(0.9);
    expect(master.stderr).toMatch(/: still 1 connection\(s\) open 1000 ms after draining began \(shutdown\); exiting anyway/);
    expect(await held).toBeInstanceOf(Error);
  });

  test('a worker too blocked to run its own timer is SIGKILLed by the master, and both are logged', async () => {
    const { master, url } = await startMaster([faults, '-w', '1', '--kill-timeout', '1000', '--heartbeat-timeout', '0', '--trace']);
    void get(`${url}/spin`, { timeoutMs: 10_000 }).catch(() => undefined);
    await master.waitFor(/spinning pid (\d+)/);
    master.signal('SIGTERM');
    await master.exit();
    expect(master.stderr).toMatch(/worker 1 \(pid \d+\) still alive 2s after it was told to close: SIGKILL/);
    const exited = firstStep(master.traceEvents(), { worker: 1, step: /^exited \(killed by SIGKILL\)$/ });
    expect(master.steps({ step: /draining|SIGTERM/ })).toEqual([]); // the blocked worker never even read the drain message
    expect(exited.at).toBeGreaterThan(0);
  });
});

describe('heartbeat', () => {
  test('a spinning worker is detected, taken out, replaced and killed; new connections reach the others', async () => {
    const { master, url } = await startMaster([faults, '-w', '2', '--heartbeat-interval', '100', '--heartbeat-timeout', '800', '--trace']);
    await get(url);
    await get(url);
    void get(`${url}/spin`, { timeoutMs: 10_000 }).catch(() => undefined); // third connection: back to the first worker
    const spinning = Number((await master.waitFor(/spinning pid (\d+)/))[1]);
    await master.waitFor(new RegExp(`worker 1 \\(pid ${spinning}\\) sent no heartbeat for [\\d.]+m?s \\(over --heartbeat-timeout 800ms\\); its event loop is blocked; replacing it and killing it`));
    await master.waitForStep({ worker: 1, step: /^exited \(killed by SIGKILL\)/ });
    await master.waitForStep({ worker: 3, step: /^ready/ });
    const replies = await Promise.all(Array.from({ length: 8 }, () => get(url)));
    expect(replies.map((r) => r.status)).toEqual(Array(8).fill(200));
    expect(replies.filter((r) => Number(r.body) === spinning)).toHaveLength(0);
    const events = master.traceEvents();
    expect(stepIndex(events, { worker: 3, step: /^forked/ })).toBeLessThan(stepIndex(events, { worker: 1, step: /^exited/ }));
  });
});

describe('heartbeat off', () => {
  test('with --heartbeat-interval 0 a quiet worker is never judged silent', async () => {
    const { master, url } = await startMaster([faults, '-w', '1', '--heartbeat-interval', '0', '--heartbeat-timeout', '300']);
    const first = await get(url);
    // this request takes longer than the timeout and the monitor's tick together: it is the clock
    const slow = await get(`${url}/slow?ms=900`);
    expect(slow.body).toBe(first.body);
    expect(master.output).not.toMatch(/sent no heartbeat/);
  });
});

describe('restart limits', () => {
  test('a script that exits at start-up: at most --max-restarts reforks, then giveup and a non-zero exit', async () => {
    const result = await runCli([fixture('crash-at-start.mjs'), '--port', '0', '-w', '1', '--max-restarts', '3', '--restart-delay', '20', '--trace'], { timeoutMs: 20_000 });
    expect(result.code).toBe(1);
    expect(result.events.filter((event) => /^forked into slot/.test(event.step))).toHaveLength(4); // the first fork and 3 restarts
    expect(result.stderr).toMatch(/giving up: 4 unexpected worker exits within 1m \(--max-restarts 3\); not forking again\. Last error: exit code 1/);
    expect(result.stderr).toContain('no worker left and reforking was given up: stopping');
  });

  test('backoff: consecutive crashes of a slot wait longer each time', async () => {
    const result = await runCli([fixture('crash-at-start.mjs'), '--port', '0', '-w', '1', '--max-restarts', '4', '--restart-delay', '100', '--trace'], { timeoutMs: 20_000 });
    const forks = result.events.filter((event) => /^forked into slot 0$/.test(event.step)).map((event) => event.at);
    const exits = result.events.filter((event) => /^exited/.test(event.step)).map((event) => event.at);
    expect(forks).toHaveLength(5);
    // the first crash is replaced at once; then 100, 150, 225 ms
    const waits = forks.slice(1).map((at, i) => at - (exits[i] as number));
    expect(waits[0]).toBeLessThan(0.09);
    expect(waits[1]).toBeGreaterThanOrEqual(0.095);
    expect(waits[2]).toBeGreaterThanOrEqual(0.145);
    expect(waits[3]).toBeGreaterThanOrEqual(0.22);
    expect(result.events).toContainEqual(expect.objectContaining({ step: 'slot 0 crashed 4 times in a row: refork in 225 ms' }));
  });
});

describe('rotation', () => {
  /** Requests `url` until `finished` has waited for the trace steps that end the rotation: every one answered. */
  async function rotatesWithoutFailures(url: string, finished: Promise<unknown>): Promise<Array<Reply | Error>> {
    let done = false;
    const waited = finished.finally(() => (done = true));
    waited.catch(() => undefined); // awaited below, once the requests have stopped
    const outcomes = await keepRequesting(url, () => done);
    await waited;
    expect(failures(outcomes)).toEqual([]);
    return outcomes;
  }

  test('--max-memory: a leaking worker is replaced first, then drained, without a failed request', async () => {
    const { master, url } = await startMaster([faults, '-w', '2', '--max-memory', '150M', '--trace']);
    const grown = get(`${url}/grow?mb=200`);
    const outcomes = await rotatesWithoutFailures(url, master.waitForStep({ worker: 1, step: /^exited \(exit code 0\)$/ }, 20_000));
    expect((await grown).status).toBe(200);
    expect(master.stderr).toMatch(/worker 1 \(pid \d+\) uses \d+(\.\d)?M, over --max-memory 150M: starting its replacement, then draining it/);
    const events = master.traceEvents();
    expect(stepIndex(events, { worker: 3, step: /^ready/ })).toBeLessThan(stepIndex(events, { worker: 1, step: /^draining \(max-memory\)/ }));
    expect(outcomes.length).toBeGreaterThan(0);
  });

  test('--max-lifetime: workers are rotated one at a time, without a failed request', async () => {
    const { master, url } = await startMaster([faults, '-w', '2', '--max-lifetime', '1s', '--trace']);
    await rotatesWithoutFailures(url, Promise.all([1, 2].map((worker) => master.waitForStep({ worker, step: /^exited/ }, 20_000))));
    // The older of the two goes first. Each rotation: its replacement ready, then the old one
    // drained, then gone -- and only then does the next rotation start.
    const events = master.traceEvents();
    const first = firstStep(events, { step: /^rotating \(max-lifetime\)$/ }).worker;
    expect([1, 2]).toContain(first);
    const second = first === 1 ? 2 : 1;
    const steps: StepMatch[] = [
      { worker: first, step: /^rotating \(max-lifetime\)$/ },
      { worker: 3, step: /^ready/ },
      { worker: first, step: /^draining \(max-lifetime\)/ },
      { worker: first, step: /^exited/ },
      { worker: second, step: /^rotating \(max-lifetime\)$/ },
      { worker: 4, step: /^ready/ },
      { worker: second, step: /^draining \(max-lifetime\)/ },
      { worker: second, step: /^exited/ },
    ];
    const order = steps.map((want) => stepIndex(events, want)); // each one there, or it throws
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });
});

describe('lifecycle flags reject nonsense', () => {
  test.each([
    ['--kill-timeout', '-1', 'a duration such as 5000 (ms), 500ms, 5s, 30m or 6h'],
    ['--max-memory', '12XB', 'a size such as 300M, 1G, 512K or a number of bytes; 0 or off disables it'],
    ['--max-lifetime', 'soon', 'a duration such as 5000 (ms), 500ms, 5s, 30m or 6h; 0 or off disables it'],
    ['--max-restarts', 'many', 'a whole number 0 or more'],
    ['--heartbeat-timeout', '5 minutes', 'a duration such as 5000 (ms), 500ms, 5s, 30m or 6h; 0 or off disables it'],
  ])('%s %s', async (flag, value, expected) => {
    const result = await runCli([faults, flag, value]);
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n')[0]).toBe(`handoff: ${flag} '${value}': expected ${expected}`);
  });
});

describe('giving up', () => {
  test('when one slot keeps crashing, the master gives up on it and the other workers keep serving', async () => {
    const { master, url } = await startMaster([fixture('slot1-crashes.mjs'), '-w', '2', '--max-restarts', '2', '--restart-delay', '10']);
    // giving up makes the master ready with the workers it has
    expect(master.stdout).toMatch(/\(scheduler rr, 1 worker, master pid/);
    expect(master.stderr).toMatch(/giving up: 3 unexpected worker exits within 1m \(--max-restarts 2\); not forking again\. Last error: exit code 3/);
    const replies = await Promise.all(Array.from({ length: 6 }, () => get(url)));
    expect(replies.map((reply) => reply.status)).toEqual(Array(6).fill(200));
    expect(new Set(replies.map((reply) => reply.body)).size).toBe(1);
    master.signal('SIGTERM');
    expect((await master.exit()).code).toBe(0);
  });
});
