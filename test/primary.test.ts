// --primary <module>: libraries that must run in node:cluster's primary, with
// the real packages and no change to their documented use.

import { io, type Socket } from 'socket.io-client';
import { afterEach, describe, expect, test } from 'vitest';
import { get, getMany } from './helpers/http.js';
import { parseExposition, sumOf } from './helpers/prometheus.js';
import { fixture, runCli, startMaster, stopAllMasters, withTimeout } from './helpers/process.js';

const clients: Socket[] = [];
afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await stopAllMasters();
});

/** A socket.io client on the websocket transport (polling needs sticky sessions), once the server said hello. */
async function connect(url: string): Promise<{ client: Socket; slot: string }> {
  const client = io(url, { transports: ['websocket'], reconnection: false, forceNew: true });
  clients.push(client);
  const hello = await withTimeout(new Promise<{ slot: string }>((resolve, reject) => {
    client.once('hello', resolve);
    client.once('connect_error', reject);
  }), 10_000, 'no hello from the socket.io server');
  return { client, slot: hello.slot };
}

describe('--primary', () => {
  test("@socket.io/cluster-adapter's setupPrimary(): a broadcast from one client reaches every client on every worker", async () => {
    const { url } = await startMaster([fixture('metrics/socketio-app.mjs'), '-w', '2', '--primary', fixture('metrics/socketio-primary.cjs')]);
    const connected = await Promise.all(Array.from({ length: 8 }, () => connect(url)));
    expect(new Set(connected.map((c) => c.slot))).toEqual(new Set(['0', '1']));

    const heard = connected.map(({ client }) => withTimeout(new Promise<string>((resolve) => client.once('heard', resolve)), 5000, 'a client did not hear the broadcast'));
    connected[0]?.client.emit('shout', 'to everyone');
    expect(await Promise.all(heard)).toEqual(Array(8).fill('to everyone'));
  });

  test("prom-client's AggregatorRegistry in user code: clusterMetrics() returns every worker's series", async () => {
    const { master, url } = await startMaster([fixture('metrics/aggregator-app.mjs'), '-w', '2', '--primary', fixture('metrics/aggregator-primary.cjs')]);
    const aggregated = (await master.waitFor(/cluster metrics on (http:\/\/\S+)/))[1] as string;
    await getMany(url, 10, 2);
    const reply = await get(aggregated);
    expect(reply.status).toBe(200);
    expect(sumOf(parseExposition(reply.body), 'app_requests_total')).toBe(10);
  });

  test('a primary module that throws is a start-up error with its stack: exit 1, nothing forked', async () => {
    const result = await runCli([fixture('metrics/counter-app.mjs'), '--port', '0', '-w', '2', '--control', 'off', '--primary', fixture('metrics/throwing-primary.mjs')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/--primary \S*throwing-primary\.mjs failed to load:\n.*Error: primary set-up failed on purpose\n.*at setUp \(file:\/\/\S+throwing-primary\.mjs:3:9\)/);
    expect(result.stdout + result.stderr).not.toMatch(/\[w\d|listening on/);
  });

  test('cluster.fork() in a primary module is refused with a message, not a second cluster', async () => {
    const result = await runCli([fixture('metrics/counter-app.mjs'), '--port', '0', '--control', 'off', '--primary', fixture('metrics/forking-primary.cjs')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/cluster\.fork\(\) is not available under handoff: the master forks the workers \(--workers, handoff ctl scale\)/);
  });
});
