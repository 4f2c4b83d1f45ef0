// Scripts written for node:cluster run under handoff unchanged: each worker is
// a cluster worker to the app (child/cluster-worker.ts), and every TCP listen()
// is served through the master as cluster serves it. Each check runs the
// same file under handoff and under node:cluster (test/fixtures/cluster-runner.mjs).

import net from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { addressInUse, app, clientAddress, httpExchange, startCluster, untilEveryWorker } from './helpers/apps.js';
import { get } from './helpers/http.js';
import { eventually, startMaster, stopAllMasters, type RunningMaster } from './helpers/process.js';

afterEach(stopAllMasters);

const runners: Array<[name: string, start: (file: string, env?: NodeJS.ProcessEnv) => Promise<RunningMaster>]> = [
  ['handoff', (file, env) => startMaster([file, '-w', '2'], { env })],
  ['node:cluster', (file, env) => startCluster(file, 2, env)],
];

describe.each(runners)('under %s', (_name, start) => {
  test("Node's docs cluster example runs its worker branch: every worker answers, with distinct cluster.worker.id and NODE_APP_INSTANCE", async () => {
    const { url } = await start(app('cluster-docs.mjs'));
    const bodies = new Set<string>();
    await untilEveryWorker(async (index) => {
      const reply = await get(url, { localAddress: clientAddress(index) });
      bodies.add(reply.body.trim());
      return Number(reply.body.split(' ')[0]);
    });
    const workers = [...bodies].map((body) => /^(\d+) worker (\d+) instance (\d+)$/.exec(body)?.slice(1).map(Number));
    expect(workers.every((worker) => worker !== undefined)).toBe(true);
    expect(new Set(workers.map((worker) => worker?.[1])).size).toBe(2);
    expect(new Set(workers.map((worker) => worker?.[2]))).toEqual(new Set([0, 1]));
  });

  test('cluster and cluster.worker look as they do in a worker; later listens are served, UDP binds; a taken port is Node\'s own EADDRINUSE', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    try {
      const { url } = await start(app('cluster-api.cjs'), { TAKEN_PORT: String((taken.address() as net.AddressInfo).port) });
      const report = async (): Promise<Record<string, unknown>> => JSON.parse((await get(url)).body) as Record<string, unknown>;
      // The second listen, the UDP bind and the esm import settle just after the first listen: wait for them.
      const settled = (seen: Record<string, unknown>): boolean => ['second', 'udp', 'taken', 'esm'].every((key) => seen[key] !== null);
      await eventually(async () => settled(await report()), 5000, 'the worker reported every listen');
      const seen = await report();
      expect(seen).toMatchObject({
        isPrimary: false,
        isMaster: false,
        isWorker: true,
        processIsProcess: true,
        send: 'function',
        isConnected: true,
        isDead: false,
        exitedAfterDisconnect: null, // undefined until it disconnects, as in a cluster worker
        esm: { sameObject: true, isPrimary: false, isWorker: true },
        taken: 'EADDRINUSE',
      });
      // Node's own error, as net.js builds it from the primary's (here: the master's) bind errno.
      const port = (taken.address() as net.AddressInfo).port;
      expect(seen['takenError']).toEqual(addressInUse(port));
      expect(seen['id']).toBeGreaterThan(0);
      expect(['0', '1']).toContain(seen['instance']);
      expect(seen['second']).toBeGreaterThan(0);
      expect(seen['udp']).toBeGreaterThan(0);
    } finally {
      taken.close();
    }
  });
});

describe('under handoff', () => {
  test('cluster.worker.disconnect() drains the worker; the master refills its slot and does not call the exit unexpected', async () => {
    const { master, url } = await startMaster([app('cluster-api.cjs'), '-w', '2', '--trace']);
    const gone = Number((await get(`${url}/disconnect`)).body.split(' ')[0]);
    await master.waitFor(/worker (\d) \(pid \d+\) called cluster\.worker\.disconnect\(\); forking its replacement and draining it/);
    await master.waitFor(/exits with 0, exitedAfterDisconnect true/);
    await master.waitForStep({ worker: 3, step: /^ready: server attached/ });
    const pidOf = async (): Promise<number> => {
      const reply = await get(url);
      return reply.status === 200 ? (JSON.parse(reply.body) as { pid: number }).pid : -1;
    };
    const { pids } = await untilEveryWorker(() => pidOf().catch(() => -1), { atLeast: 10 });
    expect(pids.size).toBe(2);
    expect(pids.has(gone)).toBe(false);
    expect(pids.has(-1)).toBe(false);
    expect(master.output).not.toMatch(/exited unexpectedly/);
  });
});

// ---- every TCP listen() is shared, as cluster's queryServer does it -----------------
// An app's second port is answered by every worker, whichever it listens on
// first; PORT takes the master's listener; a mapped address is said once;
// fastify reports the host it asked for. (EADDRINUSE: the test above.)

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
  await Promise.all([1, 2].map((worker) => master.waitForStep({ worker, step: /^closed its server on listener 1$/ })));
  await Promise.all([1, 2].map((worker) => master.waitForStep({ worker, step: /^exited/ })));
  const metricsUrl = `http://127.0.0.1:${/metrics on (\d+)/.exec(master.output)?.[1]}/`;
  const metrics = await untilEveryWorker((index) => httpExchange(metricsUrl, index));
  const api = await untilEveryWorker((index) => httpExchange(running.url, index));
  expect(metrics.pids.size).toBe(2);
  expect(new Set(metrics.pids.keys())).toEqual(new Set(api.pids.keys()));
  for (const pid of metrics.pids.keys()) expect(before.has(pid)).toBe(false);
}, 60_000);
