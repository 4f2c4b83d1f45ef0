// --metrics against real masters: /metrics read by a strict parser (and by
// promtool where it is installed), the app's prom-client metrics summed over
// the workers with no handoff code in the app, counters across a reload, a
// worker that hangs while collecting, /healthz and /readyz through a
// shutdown, and `ctl status --json` telling the same numbers.

import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { ctlStatus, removeTempDirs, tempDir } from './helpers/control.js';
import { get, getMany } from './helpers/http.js';
import { parseExposition, promtoolCheck, sumOf, valueOf, type Family } from './helpers/prometheus.js';
import { eventually, fixture, MasterProcess, runCli, startMaster, stopAllMasters, type RunningMaster } from './helpers/process.js';

afterEach(async () => {
  await stopAllMasters();
  removeTempDirs();
});

const counterApp = fixture('metrics/counter-app.mjs');

/** A master with --metrics on a free port; `metrics` is the URL of /metrics. */
async function startWithMetrics(script: string, args: string[] = []): Promise<RunningMaster & { metrics: string; base: string }> {
  const running = await startMaster([script, '-w', '2', '--metrics', '127.0.0.1:0', ...args]);
  const metrics = (await running.master.waitFor(/metrics on (http:\/\/\S+\/metrics)/))[1] as string;
  return { ...running, metrics, base: metrics.replace(/\/metrics$/, '') };
}

/** One scrape, parsed strictly, and checked by promtool when there is one. */
async function scrape(url: string): Promise<Map<string, Family>> {
  const reply = await get(url);
  expect(reply.status).toBe(200);
  expect(reply.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  const families = parseExposition(reply.body);
  const complaints = promtoolCheck(reply.body);
  if (complaints !== undefined) expect(complaints).toBe('');
  return families;
}

describe('/metrics', () => {
  test("parses strictly; the app's counter summed over the workers equals the requests sent; handoff's own counters agree", async () => {
    const { url, metrics } = await startWithMetrics(counterApp);
    const replies = await getMany(url, 20, 4);
    expect(new Set(replies.map((reply) => reply.body))).toEqual(new Set(['hello from 0\n', 'hello from 1\n']));
    const families = await scrape(metrics);

    expect(sumOf(families, 'app_requests_total')).toBe(20);
    expect(valueOf(families, 'app_request_seconds_count')).toBe(20);
    expect(families.get('app_requests_total')?.type).toBe('counter');
    // A gauge stays per worker, by slot.
    expect(families.get('app_in_flight')?.samples.map((sample) => sample.labels['slot']).sort()).toEqual(['0', '1']);

    expect(sumOf(families, 'handoff_connections_accepted_total')).toBe(20);
    expect(sumOf(families, 'handoff_connections_handed_total')).toBe(20);
    expect(valueOf(families, 'handoff_connections_handed_total', { slot: '0' })).toBe(10);
    expect(valueOf(families, 'handoff_handoff_latency_seconds_count')).toBe(20);
    expect(valueOf(families, 'handoff_workers', { state: 'listening' })).toBe(2);
    expect(valueOf(families, 'handoff_ready')).toBe(1);
    expect(valueOf(families, 'handoff_app_metrics_workers')).toBe(2);
    // RSS is sampled every second (and sent with the first heartbeat): a scrape right after start may precede it.
    await eventually(async () => (valueOf(await scrape(metrics), 'handoff_worker_resident_memory_bytes', { slot: '1' }) ?? 0) > 1e6, 5000, 'a sampled RSS');
    expect(valueOf(families, 'handoff_master_process_resident_memory_bytes')).toBeGreaterThan(1e6);
  });

  test('counters survive a reload: what the old workers counted stays counted, even with no scrape before it', async () => {
    const { master, url, metrics } = await startWithMetrics(counterApp);
    await getMany(url, 10, 2);
    master.signal('SIGHUP');
    await master.waitFor(/reload done: 2 workers replaced/, 15_000);
    // The last old worker may still be draining: wait until both have exited.
    let families = await scrape(metrics);
    await eventually(async () => valueOf((families = await scrape(metrics)), 'handoff_worker_restarts_total', { reason: 'reload' }) === 2, 10_000, 'both old workers exited');
    expect(sumOf(families, 'app_requests_total')).toBe(10);
    expect(valueOf(families, 'app_request_seconds_count')).toBe(10);
    expect(valueOf(families, 'handoff_worker_restarts_total', { reason: 'crash' })).toBe(0);

    await getMany(url, 4, 2);
    families = await scrape(metrics);
    expect(sumOf(families, 'app_requests_total')).toBe(14);
    expect(sumOf(families, 'handoff_connections_handed_total')).toBe(14);
    // The old workers' gauges went with them: one per slot, from the new workers.
    expect(families.get('app_in_flight')?.samples).toHaveLength(2);
  });

  test('a worker that hangs while collecting does not fail the scrape: it is left out and counted', async () => {
    const { url, metrics } = await startWithMetrics(counterApp);
    const replies = await getMany(url, 6, 2);
    const hung = /hello from (\d)/.exec((await get(`${url}/hang-collect`)).body)?.[1] as string;
    const other = hung === '0' ? '1' : '0';

    const started = Date.now();
    const families = await scrape(metrics);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(valueOf(families, 'handoff_app_metrics_missed_total', { slot: hung, reason: 'timeout' })).toBe(1);
    expect(valueOf(families, 'handoff_app_metrics_workers')).toBe(1);
    // The other worker's series are there; the hung one's gauges are not.
    expect(valueOf(families, 'app_in_flight', { slot: other })).toBe(0);
    expect(valueOf(families, 'app_in_flight', { slot: hung })).toBeUndefined();
    // Its counters were never scraped before it hung: only the other worker's requests are in the sum yet.
    expect(sumOf(families, 'app_requests_total')).toBe(replies.filter((reply) => reply.body === `hello from ${other}\n`).length);

    const again = await scrape(metrics);
    expect(valueOf(again, 'handoff_app_metrics_missed_total', { slot: hung, reason: 'timeout' })).toBe(2);
  });

  test('a registry far over the 64 KiB relay limit arrives whole from every worker', async () => {
    const { master, metrics } = await startWithMetrics(fixture('metrics/big-registry-app.mjs'));
    const bytes = Number((await master.waitFor(/registry is (\d+) bytes of JSON/))[1]);
    expect(bytes).toBeGreaterThan(2 * 65536);
    const families = await scrape(metrics);
    const counts = families.get('app_route_seconds')?.samples.filter((sample) => sample.name === 'app_route_seconds_count') ?? [];
    expect(counts).toHaveLength(150);
    expect(counts.every((sample) => sample.value === 2)).toBe(true); // one observation per route in each of the 2 workers
    expect(valueOf(families, 'handoff_app_metrics_workers')).toBe(2);
  });

  test("an app that does not use prom-client: the worker never loads it, and handoff's series are served", async () => {
    const { url, metrics } = await startWithMetrics(fixture('metrics/plain-app.mjs'));
    const families = await scrape(metrics);
    expect(valueOf(families, 'handoff_app_metrics_workers')).toBe(0);
    expect(valueOf(families, 'handoff_app_metrics_missed_total')).toBeUndefined();
    const replies = await getMany(url, 4, 2);
    for (const reply of replies) expect(JSON.parse(reply.body)).toEqual({ promClientLoaded: false });
  });

  test('ctl status --json tells the same numbers as /metrics', async () => {
    const control = path.join(tempDir(), 'm.sock');
    const { url, metrics } = await startWithMetrics(counterApp, ['--control', control]);
    await getMany(url, 12, 3);
    const families = await scrape(metrics);
    const status = await ctlStatus(control);
    expect(status.metricsUrl).toBe(metrics);
    expect(status.connections.accepted).toBe(valueOf(families, 'handoff_connections_accepted_total'));
    for (const slot of status.slots) {
      expect(slot.handed).toBe(valueOf(families, 'handoff_connections_handed_total', { slot: String(slot.slot) }));
    }
    expect(status.handoffLatency.count).toBe(valueOf(families, 'handoff_handoff_latency_seconds_count'));
    expect(status.restarts).toEqual(Object.fromEntries(families.get('handoff_worker_restarts_total')?.samples.map((sample) => [sample.labels['reason'], sample.value]) ?? []));
    expect(status.appMetrics).toEqual({ reporting: 2, missed: [] });
  });
});

describe('connections reset while queued', () => {
  test('are closed by the master, never sent to a worker, and counted', async () => {
    const master = new MasterProcess([fixture('metrics/late-ready.mjs'), '-w', '1', '--wait-ready', '--listen-timeout', '10s', '--port', '0', '--metrics', '127.0.0.1:0', '--control', 'off']);
    const metrics = (await master.waitFor(/metrics on (http:\/\/\S+\/metrics)/))[1] as string;
    expect((await get(metrics.replace(/metrics$/, 'healthz'))).status).toBe(503); // no worker ready yet
    const listener = (await scrape(metrics)).get('handoff_connections_accepted_total')?.samples[0]?.labels['listener'] as string;
    const port = Number(/:(\d+)$/.exec(listener)?.[1]);

    const served = [get(`http://127.0.0.1:${port}/`), get(`http://127.0.0.1:${port}/`)];
    await Promise.all(
      Array.from({ length: 3 }, () => new Promise<void>((resolve, reject) => {
        const socket = net.connect(port, '127.0.0.1', () => {
          socket.resetAndDestroy(); // an RST, as a client that gives up does
          resolve();
        });
        socket.on('error', reject);
      })),
    );
    await eventually(async () => valueOf(await scrape(metrics), 'handoff_connections_accepted_total') === 5, 5000, 'the master accepted all five');
    await master.waitFor(/listening on/, 10_000);
    expect((await Promise.all(served)).map((reply) => reply.status)).toEqual([200, 200]);
    const families = await scrape(metrics);
    expect(valueOf(families, 'handoff_connections_reset_while_queued_total')).toBe(3);
    expect(sumOf(families, 'handoff_connections_handed_total')).toBe(2);
    expect(valueOf(families, 'handoff_held_connections')).toBe(0);
  });
});

describe('/healthz and /readyz', () => {
  test('ready while serving; /readyz is 503 from the moment of SIGTERM while /healthz still answers 200', async () => {
    const { master, url, base } = await startWithMetrics(counterApp);
    expect((await get(`${base}/healthz`)).status).toBe(200);
    expect((await get(`${base}/readyz`)).status).toBe(200);
    expect((await get(`${base}/nothing`)).status).toBe(404);

    const slow = get(`${url}/slow`); // holds the drain open for 1.5 s
    await master.waitFor(/slow request received/);
    master.signal('SIGTERM');
    await master.waitFor(/SIGTERM, shutting down/);
    const ready = await get(`${base}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.body).toBe('shutting down\n');
    expect((await get(`${base}/healthz`)).status).toBe(200);
    expect((await slow).status).toBe(200);
    expect((await master.exit()).code).toBe(0);
  });
});

describe('--metrics on the command line', () => {
  test('a malformed address is a usage error (exit 2); a busy port stops the start with nothing forked (exit 1)', async () => {
    const bad = await runCli([counterApp, '--port', '0', '--metrics', 'here:9100', '--control', 'off']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--metrics 'here:9100': expected a port, or host:port/);

    const { base } = await startWithMetrics(counterApp);
    const port = new URL(base).port;
    const busy = await runCli([counterApp, '--port', '0', '--metrics', `127.0.0.1:${port}`, '--control', 'off']);
    expect(busy.code).toBe(1);
    expect(busy.stderr).toMatch(new RegExp(`--metrics: cannot listen on 127\\.0\\.0\\.1:${port}: EADDRINUSE`));
    expect(busy.stdout + busy.stderr).not.toMatch(/\[w\d/);
  });
});
