// Every TCP listen() is shared (issue 12, item 2): an app's second port is
// answered by every worker, whichever it listens on first; PORT takes the
// master's listener; a mapped address is said once; fastify reports the host
// it asked for. EADDRINUSE from a taken port: cluster-compat.test.ts.

import { afterEach, describe, expect, test } from 'vitest';
import { app, httpExchange, startCluster, untilEveryWorker } from './helpers/apps.js';
import { get } from './helpers/http.js';
import { startMaster, stopAllMasters, type RunningMaster } from './helpers/process.js';

afterEach(stopAllMasters);

/** Both ports of two-ports.cjs answered by both workers; the API (on PORT) answers at the ready line's address. */
async function bothPortsFromEveryWorker({ master, url }: RunningMaster): Promise<void> {
  await master.waitForCount(/metrics on \d+/, 2);
  const ports = new Set([...master.output.matchAll(/metrics on (\d+)/g)].map((match) => match[1]));
  expect(ports.size).toBe(1); // one port, shared by both workers
  const metricsUrl = `http://127.0.0.1:${[...ports][0]}/`;
  expect((await get(url)).body).toMatch(/^\d+ api\n$/);
  expect((await get(metricsUrl)).body).toMatch(/^\d+ metrics\n# HELP api_requests_total/);
  const api = await untilEveryWorker((index) => httpExchange(url, index));
  const metrics = await untilEveryWorker((index) => httpExchange(metricsUrl, index));
  expect(api.pids.size).toBe(2);
  expect(new Set(metrics.pids.keys())).toEqual(new Set(api.pids.keys()));
}

describe.each(['api-first', 'metrics-first'])('an API and a metrics server, %s', (order) => {
  test.each(['rr', 'least-conn', 'shared'])('every worker answers on both ports under handoff --scheduler %s; PORT is the API', async (scheduler) => {
    const running = await startMaster([app('two-ports.cjs'), '-w', '2', '--scheduler', scheduler, '--trace'], { env: { ORDER: order } });
    await bothPortsFromEveryWorker(running);
    expect(running.master.output).toMatch(/app listens on 127\.0\.0\.1:0 \(port \d+\): bound once by the master, shared by every worker \(listener 1\)/);
    expect(running.master.output).not.toMatch(/app listens on :\d+; served on/); // the API asked for PORT: nothing mapped
    running.master.signal('SIGTERM');
    expect(await running.master.exit()).toEqual({ code: 0, signal: null });
  }, 60_000);
});

test('the same app under node:cluster, for comparison', async () => {
  await bothPortsFromEveryWorker(await startCluster(app('two-ports.cjs'), 2, { ORDER: 'api-first' }));
}, 60_000);

test("an address the app hard-codes is served on --port, and the master says so once", async () => {
  const { master, url } = await startMaster([app('fixed-port.cjs'), '-w', '2']);
  const port = new URL(url).port;
  await untilEveryWorker((index) => httpExchange(url, index));
  // The server reports the host it asked for, on the port that serves it.
  expect((await get(url)).body).toMatch(new RegExp(`^\\d+ \\{"address":"127\\.0\\.0\\.1","port":${port},"family":"IPv4"\\}\\n$`));
  expect(master.count(/app listens on 127\.0\.0\.1:8080; served on :\d+ \(--port, --host\)/)).toBe(1);
  expect(master.output).toContain(`served on :${port} (--port, --host)`);
});

test('fastify logs the address it asked for (127.0.0.1), not the master\'s [::]', async () => {
  const { master, url } = await startMaster([app('fastify.mjs'), '-w', '2']);
  const port = new URL(url).port;
  await master.waitForCount(new RegExp(`Server listening at http://127\\.0\\.0\\.1:${port}`), 2);
  expect(master.output).not.toContain('[::]');
});

test('a rolling reload covers the second port: the new workers answer on both, the old ones close it', async () => {
  const running = await startMaster([app('two-ports.cjs'), '-w', '2', '--trace']);
  const { master } = running;
  await bothPortsFromEveryWorker(running);
  const before = new Set([...master.output.matchAll(/\[w[12] (\d+)\] api listening/g)].map((match) => Number(match[1])));
  master.signal('SIGHUP');
  await master.waitForCount(/\[w[34] \d+\] metrics on \d+/, 2);
  // Each old worker drains: its server on listener 1 is closed, and the master stops handing it that port.
  await master.waitForCount(/w[12] \(pid \d+\)\s+closed its server on listener 1/, 2);
  await master.waitForCount(/w[12] \(pid \d+\)\s+exited/, 2);
  const metricsUrl = `http://127.0.0.1:${/metrics on (\d+)/.exec(master.output)?.[1]}/`;
  const metrics = await untilEveryWorker((index) => httpExchange(metricsUrl, index));
  const api = await untilEveryWorker((index) => httpExchange(running.url, index));
  expect(metrics.pids.size).toBe(2);
  expect(new Set(metrics.pids.keys())).toEqual(new Set(api.pids.keys()));
  for (const pid of metrics.pids.keys()) expect(before.has(pid)).toBe(false);
}, 60_000);
