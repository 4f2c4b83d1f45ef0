// A user's scheduler: loaded from a module with --scheduler ./path.js, or
// given to createMaster(); checked at start-up; its bugs never crash the master.

import { afterEach, describe, expect, test } from 'vitest';
import { createMaster, loadScheduler, type Master, type Scheduler } from '../dist/index.js';
import { countByPid, getMany } from './helpers/http.js';
import { fixture, runCli, startMaster, stopAllMasters, withTimeout } from './helpers/process.js';

const app = fixture('pid.mjs');
const schedulers = 'test/fixtures/schedulers';

describe('from the command line', () => {
  afterEach(stopAllMasters);

  test('a scheduler module is loaded and used', async () => {
    const { master, url } = await startMaster([app, '-w', '2', '--scheduler', `./${schedulers}/two-choices.mjs`, '--trace']);
    expect(master.stdout).toContain('(scheduler two-choices, 2 workers,');
    const replies = await getMany(url, 40, 4);
    expect(replies.map((reply) => reply.status)).toEqual(Array(40).fill(200));
    expect(master.steps({ who: 'master', step: /^scheduler two-choices picked w\d: the less loaded of two at random \(load \d+\)$/ })).toHaveLength(40);
    // it asked for load reports, so the workers send them
    await master.waitForStep({ who: 'master', step: /^load: 0 open/ });
  });

  test('also from HANDOFF_SCHEDULER, and as a CommonJS class', async () => {
    const { master, url } = await startMaster([app, '-w', '2'], { env: { HANDOFF_SCHEDULER: `${schedulers}/first-free.cjs` } });
    expect(master.stdout).toContain('(scheduler first-free, 2 workers,');
    // the first worker is never busy with one request at a time: it gets them all
    expect(countByPid(await getMany(url, 10, 1)).size).toBe(1);
  });

  test('from a config file, the module path resolved from the file\'s folder', async () => {
    const { master, url } = await startMaster([app, '--config', `${schedulers}/handoff.config.json`]);
    expect(master.stdout).toContain('(scheduler two-choices, 2 workers,');
    expect((await getMany(url, 10, 2)).map((reply) => reply.status)).toEqual(Array(10).fill(200));
  });

  test.each([
    ['no-pick.mjs', 'the scheduler is missing pick(connection, workers) (a function)'],
    [
      'no-export.mjs',
      'the module has no default export and no export named createScheduler: export a scheduler { name, pick(connection, workers) } or a function that returns one',
    ],
    ['missing.mjs', `no such file: ${process.cwd()}/${schedulers}/missing.mjs (it is resolved from ${process.cwd()})`],
  ])('%s is rejected at start-up with one line naming what is wrong, exit 2, nothing forked', async (file, problem) => {
    const result = await runCli([app, '--port', '0', '--scheduler', `${schedulers}/${file}`, '--trace']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(`handoff: --scheduler ${schedulers}/${file}: ${problem}\n`);
    expect(result.stdout).toBe('');
  });

  test('a pick() that throws: every connection is still served (rr instead), and the error is logged once', async () => {
    const { master, url } = await startMaster([app, '-w', '2', '--scheduler', `${schedulers}/pick-throws.mjs`, '--trace']);
    const replies = await getMany(url, 20, 2);
    expect(replies.map((reply) => reply.status)).toEqual(Array(20).fill(200));
    expect(countByPid(replies).size).toBe(2);
    expect(master.count(/scheduler pick-throws: pick\(\) threw Error: bug in my scheduler; connections it throws on go to the next worker in turn \(logged once\)/)).toBe(1);
    expect(master.steps({ who: 'master', step: /^scheduler pick-throws picked w\d: pick\(\) threw: rr fallback, next in turn$/ })).toHaveLength(20);
  });
});

describe('programmatically', () => {
  let master: Master | undefined;
  afterEach(async () => {
    await master?.close();
    master = undefined;
  });

  test('createMaster() takes a scheduler object, and loadScheduler() loads a module for it', async () => {
    const loaded = await loadScheduler(`./${schedulers}/two-choices.mjs`);
    expect(typeof loaded === 'object' && loaded.name).toBe('two-choices');
    expect(await loadScheduler('least-conn')).toBe('least-conn');
    await expect(loadScheduler('fastest')).rejects.toMatchObject({ code: 'ERR_HANDOFF_UNKNOWN_SCHEDULER' });
    await expect(loadScheduler(`${schedulers}/no-pick.mjs`)).rejects.toMatchObject({ code: 'ERR_HANDOFF_INVALID_SCHEDULER' });

    const last: Scheduler = { name: 'last', pick: (_connection, workers) => workers[workers.length - 1] };
    master = createMaster({ script: app, port: 0, workers: 2, scheduler: last });
    expect(master.scheduler.name).toBe('last');
    const address = await withTimeout(new Promise<{ port: number }>((resolve) => master?.once('ready', resolve)), 10_000, 'not ready');
    const counts = countByPid(await getMany(`http://127.0.0.1:${address.port}`, 10, 1));
    expect([...counts.values()]).toEqual([10]);
    expect([...counts.keys()]).toEqual([master.workers.find((worker) => worker.slot === 1)?.pid]);
  });

  test('createMaster() rejects a broken scheduler, or an unloaded module path, synchronously', () => {
    expect(() => createMaster({ script: app, port: 0, scheduler: { name: 'x' } as unknown as Scheduler })).toThrow(
      expect.objectContaining({ code: 'ERR_HANDOFF_INVALID_SCHEDULER', message: 'createMaster({ scheduler }): the scheduler is missing pick(connection, workers) (a function)' }),
    );
    expect(() => createMaster({ script: app, port: 0, scheduler: () => ({ name: '', pick: 'first' }) as unknown as Scheduler })).toThrow(
      'createMaster({ scheduler }): name must be a non-empty string, not the string \'\'; pick(connection, workers) must be a function, not the string \'first\'',
    );
    expect(() => createMaster({ script: app, port: 0, scheduler: './my-scheduler.js' })).toThrow(
      "--scheduler ./my-scheduler.js: a module must be loaded before the master starts: createMaster({ scheduler: await loadScheduler('./my-scheduler.js') })",
    );
  });
});
