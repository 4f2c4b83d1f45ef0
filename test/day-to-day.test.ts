// Day-to-day use: a config file, --watch, readable logs, and the PM2
// switches people reach for (--no-restart, --kill-signal, --cron-restart).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { get, getMany } from './helpers/http.js';
import { load } from './helpers/autocannon.js';
import { childPids, eventually, example, fixture, isAlive, runCli, startMaster, stopAllMasters } from './helpers/process.js';

let dir = '';
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'handoff-daily-'));
});
afterEach(async () => {
  await stopAllMasters();
  fs.rmSync(dir, { recursive: true, force: true });
});

const write = (name: string, content: unknown): string => {
  const file = path.join(dir, name);
  fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  return file;
};
const livePids = (masterPid: number): number[] => childPids(masterPid).filter(isAlive);

describe('--config', () => {
  test('a JSON file sets the script, flags, worker args and env; flags on the command line win', async () => {
    fs.copyFileSync(fixture('env-args.mjs'), path.join(dir, 'app.mjs'));
    const config = write('handoff.config.json', { script: 'app.mjs', workers: 3, scheduler: 'shared', 'kill-timeout': '2s', args: ['--from-file'], env: { GREETING: 'hello' } });
    const { master, url } = await startMaster(['--config', config, '-w', '2']);
    expect(master.stdout).toContain('(scheduler shared, 2 workers,');
    const reply = JSON.parse((await get(url)).body);
    expect(reply).toMatchObject({ greeting: 'hello', args: ['--from-file'] });
  });

  test('a .mjs module exporting a function works too, and worker args after -- replace the file\'s', async () => {
    const config = write('handoff.config.mjs', `export default async () => ({ script: ${JSON.stringify(fixture('env-args.mjs'))}, workers: 1, env: { GREETING: 'from a module' }, args: ['--from-file'] });\n`);
    const { url } = await startMaster(['--config', config, '--', '--from-cli']);
    expect(JSON.parse((await get(url)).body)).toMatchObject({ greeting: 'from a module', args: ['--from-cli'] });
  });

  test.each([
    [{ workers: 'abc' }, `workers: expected a whole number from 1 to 1024, got "abc"`],
    [{ killTimeout: 'soon' }, `killTimeout: expected a duration such as 5000 (ms), 500ms, 5s, 30m or 6h, got "soon"`],
    [{ env: { PORT: 3000 } }, 'env.PORT: expected a string, got 3000'],
    [{ args: 'one two' }, 'args: expected an array of strings, got "one two"'],
    [{ wokers: 2 }, "unknown key 'wokers' (did you mean 'workers'?)"],
    [{ 'log-format': 'xml' }, 'log-format: expected one of text, json, got "xml"'],
  ])('%j is rejected with the key and the expected type', async (settings, message) => {
    const config = write('bad.json', { script: fixture('pid.mjs'), ...settings });
    const result = await runCli(['--config', config]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`handoff: ${path.relative(process.cwd(), config)}: ${message}\n`);
  });

  test('a file that is not JSON is rejected in one line', async () => {
    const config = write('broken.json', '{ "workers": 2, }');
    const result = await runCli(['--config', config]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^handoff: .*broken\.json: cannot read it: .*JSON.*\n$/);
  });

  test('the example config in examples/ starts', async () => {
    const { master, url } = await startMaster(['--config', example('handoff.config.json'), '--port', '0', '-w', '1']);
    expect(master.stdout).toContain('1 worker');
    expect((await get(url)).status).toBe(200);
  });
});

describe('--watch', () => {
  test('a file change reloads the workers: new pids, no failed request during the change; ignored folders do not count', async () => {
    const app = path.join(dir, 'app.mjs');
    fs.copyFileSync(fixture('pid.mjs'), app);
    fs.mkdirSync(path.join(dir, 'node_modules'));
    const { master, url } = await startMaster([app, '-w', '2', '--watch', '--watch-delay', '200']);
    const before = livePids(master.pid);
    const run = load({ url, connections: 8, duration: 30, timeout: 10 });
    await run.responses(300);
    write('node_modules/ignored.js', '// a dependency changed');
    fs.appendFileSync(app, '// a change\n');
    await master.waitFor(/app\.mjs changed: reloading/);
    await master.waitFor(/reload done: 2 workers replaced/);
    await run.responses(600);
    run.stop();
    const result = await run.done;
    expect(result.errors + result.non2xx + result.timeouts).toBe(0);
    expect(master.output).not.toMatch(/ignored\.js/);
    await eventually(() => livePids(master.pid).length === 2 && livePids(master.pid).every((pid) => !before.includes(pid)), 5000, 'every pid to change');
  });

  test('a path that does not exist is refused at start', async () => {
    const result = await runCli([fixture('pid.mjs'), '--watch=/no/such/place']);
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n')[0]).toBe("handoff: --watch '/no/such/place': expected paths that exist (comma-separated, e.g. --watch=src,lib)");
  });
});

describe('logs', () => {
  test('every worker line keeps its prefix, and lines are never split or interleaved', async () => {
    const { master } = await startMaster([fixture('chatty.mjs'), '-w', '3']);
    // stdout and stderr arrive on separate pipes: wait for each one's own lines
    await master.waitForCount(/second-half-/, 3);
    await master.waitForCount(/^\S+ \[w\d \d+\] ([abc])\1+$/m, 600);
    const lines = master.stdout.split('\n').filter((line) => line.includes(' [w'));
    expect(lines).toHaveLength(600);
    for (const line of lines) {
      expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[w\d \d+\] ([abc])\1+$/);
    }
    for (const mark of ['a', 'b', 'c']) expect(master.stderr).toMatch(new RegExp(`\\[w\\d \\d+\\] ${mark}-first-half-second-half-${mark}\\n`));
  });

  test('--log-format json: one object per line, master events included; --no-timestamps leaves out the time', async () => {
    const { master } = await startMaster([fixture('chatty.mjs'), '-w', '2', '--log-format', 'json', '--no-timestamps']);
    await master.waitForCount(/second-half-/, 2);
    await master.waitForCount(/"stream":"stdout"/, 400);
    master.signal('SIGTERM');
    await master.exit();
    const lines = master.output.split('\n').filter((line) => line.startsWith('{'));
    const objects = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(objects.filter((o) => o['source'] === 'worker' && o['stream'] === 'stdout')).toHaveLength(400);
    expect(objects.some((o) => o['source'] === 'master' && /SIGTERM, shutting down/.test(String(o['message'])))).toBe(true);
    expect(objects.every((o) => !('time' in o))).toBe(true);
    expect(objects.find((o) => o['source'] === 'worker')).toMatchObject({ worker: expect.any(Number), pid: expect.any(Number), level: 'info' });
  });
});

describe('--no-restart', () => {
  test('a crashed worker stays dead, and the master exits when none remain', async () => {
    const { master, url } = await startMaster([fixture('faults.mjs'), '-w', '2', '--no-restart']);
    await get(`${url}/exit`).catch(() => undefined);
    await master.waitFor(/is not replaced \(--no-restart\)/);
    expect(livePids(master.pid)).toHaveLength(1);
    expect((await get(url)).status).toBe(200); // the other one still serves
    await get(`${url}/exit`).catch(() => undefined);
    const exit = await master.exit();
    expect(exit.code).toBe(1);
    expect(master.output).toContain('every worker has exited (--no-restart): stopping');
    expect(master.output).not.toMatch(/forked into slot|w3/);
  });

  test('a one-shot job: the master exits 0 when every worker exits 0, and 1 when one fails', async () => {
    const done = await runCli([fixture('one-shot.mjs'), '--port', '0', '-w', '2', '--no-restart']);
    expect(done.code).toBe(0);
    expect(done.stdout).toMatch(/job in slot 0 done/);
    expect(done.stdout).toMatch(/job in slot 1 done/);
    const failed = await runCli([fixture('one-shot.mjs'), '--port', '0', '-w', '2', '--no-restart'], { env: { JOB_FAILS: '1' } });
    expect(failed.code).toBe(1);
  });
});

describe('--kill-signal', () => {
  test.each([
    [[], 'SIGINT'],
    [['--kill-signal', 'SIGUSR2'], 'SIGUSR2'],
  ])('a worker asked to stop also gets the signal (%j), so the app clean-up runs', async (flags, signal) => {
    const { master } = await startMaster([fixture('cleanup.mjs'), '-w', '2', ...flags], { env: { CLEANUP_SIGNAL: signal } });
    master.signal('SIGTERM');
    expect((await master.exit()).code).toBe(0);
    expect(master.count(new RegExp(`cleanup ran on ${signal}`))).toBe(2);
  });

  test.each(['SIGKILL', 'NOPE'])('%s is refused', async (signal) => {
    const result = await runCli([fixture('pid.mjs'), '--kill-signal', signal]);
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n')[0]).toBe(
      `handoff: --kill-signal '${signal}': expected a signal name such as SIGINT, SIGTERM or SIGUSR2 (not SIGKILL or SIGSTOP, which an app cannot handle)`,
    );
  });
});

describe('--cron-restart', () => {
  test('a rolling restart on a schedule, without a failed request', async () => {
    const { master, url } = await startMaster([fixture('pid.mjs'), '-w', '2', '--cron-restart', '*/2 * * * * *']);
    const before = livePids(master.pid);
    const run = load({ url, connections: 8, duration: 30, timeout: 10 });
    await master.waitFor(/--cron-restart "\*\/2 \* \* \* \* \*": rolling restart/, 5000);
    await master.waitFor(/reload done: 2 workers replaced/);
    run.stop();
    const result = await run.done;
    expect(result.errors + result.non2xx + result.timeouts).toBe(0);
    expect(livePids(master.pid).some((pid) => before.includes(pid))).toBe(false);
  });

  test('an expression that is not cron is refused at start', async () => {
    const result = await runCli([fixture('pid.mjs'), '--cron-restart', 'every night']);
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n')[0]).toMatch(/^handoff: --cron-restart 'every night': expected a cron expression such as "0 3 \* \* \*" \(.+\)$/);
  });
});

test('the examples that serve, serve', async () => {
  for (const name of ['handler.mjs', 'cpu.js', 'crashy.js', 'slow.js']) {
    const { url } = await startMaster([example(name), '-w', '1']);
    expect((await get(name === 'slow.js' ? `${url}/?ms=10` : url)).status).toBe(200);
  }
  const replies = await getMany(`${(await startMaster([example('hello.js'), '-w', '2'])).url}`, 4, 1);
  expect(new Set(replies.map((reply) => reply.body)).size).toBe(2);
});
