// Real frameworks, written as their docs show (test/fixtures/apps), under
// handoff with two workers on every scheduler, and under node:cluster through
// test/fixtures/cluster-runner.mjs on the same file.

import https from 'node:https';
import { afterEach, describe, expect, test } from 'vitest';
import { builtInSchedulers, runsOnThisNode } from '../dist/scheduler/index.js';
import { app, httpExchange, socketIoExchange, startCluster, untilEveryWorker, wsExchange } from './helpers/apps.js';
import { get } from './helpers/http.js';
import { MasterProcess, startMaster, stopAllMasters } from './helpers/process.js';

afterEach(stopAllMasters);

// reuseport only where this Node has SO_REUSEPORT (22.12+).
const schedulers = Object.values(builtInSchedulers)
  .filter(runsOnThisNode)
  .map((entry) => entry.name);

type Exchange = (url: string, index: number) => Promise<number>;
/** NestJS runs from its own folder (tsx reads the tsconfig.json there: decorators) and takes long to start on a busy machine. */
const nest = { cwd: app('nest'), args: ['--listen-timeout', '60s', '--heartbeat-timeout', '60s'] };
const frameworks: Array<[name: string, file: string, exchange: Exchange, options?: { cwd: string; args: string[] }]> = [
  ['express', 'express.cjs', httpExchange],
  ['fastify', 'fastify.mjs', httpExchange],
  ['koa', 'koa.cjs', httpExchange],
  ['NestJS (TypeScript, CommonJS package)', 'nest/main.ts', httpExchange, nest],
  ['ws', 'ws.mjs', wsExchange],
  ['socket.io (websocket transport)', 'socket-io.mjs', socketIoExchange],
];

describe.each(frameworks)('%s', (_name, file, exchange, options) => {
  const start = { cwd: options?.cwd, timeoutMs: 60_000 };
  test.each(schedulers)('serves under handoff --scheduler %s, from both workers, without an error', async (scheduler) => {
    const { master, url } = await startMaster([app(file), '-w', '2', '--scheduler', scheduler, ...(options?.args ?? [])], start);
    const { pids } = await untilEveryWorker((index) => exchange(url, index));
    expect(pids.size).toBe(2);
    master.signal('SIGTERM');
    expect(await master.exit()).toEqual({ code: 0, signal: null });
  }, 90_000);

  test('serves under node:cluster the same way', async () => {
    const { url } = await startCluster(app(file), 2, undefined, start);
    const { pids } = await untilEveryWorker((index) => exchange(url, index));
    expect(pids.size).toBe(2);
  }, 90_000);
});

describe('the rough edges', () => {
  test('TypeScript in a CommonJS package (no ERR_REQUIRE_CYCLE_MODULE), importing a second .ts file', async () => {
    const { url } = await startMaster([app('ts-cjs/server.ts'), '-w', '2']);
    expect((await get(url)).body).toMatch(/^\d+ hello from typescript\n$/);
  });

  test('an exported Koa app is served through its callback()', async () => {
    const { url } = await startMaster([app('koa-export.cjs'), '-w', '2']);
    const { pids } = await untilEveryWorker((index) => httpExchange(url, index));
    expect(pids.size).toBe(2);
  });

  test('an export that is none of the accepted forms says which forms are accepted', async () => {
    const master = new MasterProcess([app('not-servable.mjs'), '-w', '1', '--port', '0', '--listen-timeout', '60s']);
    await master.waitFor(
      /\[w1 \d+\] handoff: the default export of not-servable\.mjs is an object \(Object\), which handoff cannot serve\. Accepted: a net\/http\/https Server, a request handler \(req, res\) => \.\.\., or an app with a callback\(\) method returning one \(Koa\); or call listen\(\) yourself\./,
    );
  });

  test('a --listen-timeout that fires names the flag and how to raise it; a longer one lets a slow app start', async () => {
    const slow = app('slow-start.cjs');
    const env = { START_DELAY_MS: '1500' };
    const tooShort = new MasterProcess([slow, '-w', '1', '--port', '0', '--listen-timeout', '300ms'], { env });
    await tooShort.waitFor(/worker 1 \(pid \d+\) was not ready within --listen-timeout 300 ?ms: .*e\.g\. --listen-timeout 30s; killing it/);
    const { url } = await startMaster([slow, '-w', '1', '--listen-timeout', '10s'], { env });
    expect((await get(url)).body).toMatch(/started late/);
  });

  test("JSON lines from the app stay one JSON object per line, with handoff's fields inside, in both log formats", async () => {
    for (const format of ['text', 'json']) {
      const { master, url } = await startMaster([app('pino.mjs'), '-w', '2', '--log-format', format]);
      const { pids } = await untilEveryWorker((index) => httpExchange(url, index), { atLeast: 4 });
      await master.waitForCount(/"msg":"request"/, 4);
      const lines = master.stdout.split('\n').filter((line) => line.includes('"msg":"request"'));
      for (const line of lines) {
        const entry = JSON.parse(line) as Record<string, unknown>;
        // pino's own fields as pino wrote them; handoff's added where pino has none.
        expect(entry).toMatchObject({ level: 30, msg: 'request', url: '/', stream: 'stdout' });
        expect(typeof entry['time']).toBe('number');
        expect(pids.has(entry['pid'] as number)).toBe(true);
        expect([1, 2]).toContain(entry['worker']);
        if (format === 'json') expect(entry['source']).toBe('worker');
      }
      master.signal('SIGTERM');
      await master.exit();
    }
  });

  test('the ready line says https:// for a TLS server', async () => {
    const master = new MasterProcess([app('https.mjs'), '-w', '2', '--port', '0']);
    const port = Number((await master.waitFor(/handoff: listening on https:\/\/127\.0\.0\.1:(\d+) \(/))[1]);
    const body = await new Promise<string>((resolve, reject) => {
      https.get({ host: '127.0.0.1', port, rejectUnauthorized: false, agent: false }, (response) => {
        let text = '';
        response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk)).on('end', () => resolve(text));
      }).on('error', reject);
    });
    expect(body).toMatch(/^\d+ hello world\n$/);
  });
});
