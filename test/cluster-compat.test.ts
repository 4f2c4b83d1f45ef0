// Scripts written for node:cluster run under handoff unchanged: each worker is
// a cluster worker to the app (worker/cluster-worker.ts). Each check runs the
// same file under handoff and under node:cluster (test/fixtures/cluster-runner.mjs).

import net from 'node:net';
import os from 'node:os';
import { afterEach, describe, expect, test } from 'vitest';
import { app, clientAddress, startCluster, untilEveryWorker } from './helpers/apps.js';
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
      expect(seen['takenError']).toEqual({
        code: 'EADDRINUSE',
        errno: -os.constants.errno.EADDRINUSE,
        syscall: 'bind',
        address: '127.0.0.1',
        port,
        message: `bind EADDRINUSE 127.0.0.1:${port}`,
      });
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
    await master.waitFor(/w3 \(pid \d+\) +ready: server attached/);
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
