// Bad input: one clear line, a non-zero exit, nothing forked, nothing left behind.

import net from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { fixture, root, runCli, stopAllMasters } from './helpers/process.js';

afterEach(stopAllMasters);

const usage = /Usage: handoff <worker-script>/;

describe('command line', () => {
  test('no worker script', async () => {
    const result = await runCli([]);
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n')[0]).toBe('handoff: no worker script given: name the file to run, e.g. handoff examples/hello.js');
    expect(result.stderr).toMatch(usage);
  });

  test('a worker script that does not exist', async () => {
    const result = await runCli(['nope/missing.js', '--port', '0']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`handoff: worker script not found: ${root}/nope/missing.js (check the path; it is resolved from ${root})\n`);
  });

  test('a worker script that is a directory', async () => {
    const result = await runCli(['examples', '--port', '0']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`handoff: worker script is a directory: ${root}/examples (name the file to run, e.g. examples/index.js)\n`);
  });

  test('an unknown flag', async () => {
    const result = await runCli([fixture('pid.mjs'), '--frobnicate']);
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n')[0]).toBe("handoff: unknown option '--frobnicate'");
    expect(result.stderr).toMatch(usage);
  });

  test.each([
    ['--workers', '0', 'a whole number from 1 to 1024'],
    ['--workers', '-1', 'a whole number from 1 to 1024'],
    ['--workers', 'abc', 'a whole number from 1 to 1024'],
    ['-w', '2.5', 'a whole number from 1 to 1024'],
    ['--port', '70000', 'a port number from 0 to 65535 (0 = any free port)'],
    ['--port', 'abc', 'a port number from 0 to 65535 (0 = any free port)'],
    ['--port', '-5', 'a port number from 0 to 65535 (0 = any free port)'],
  ])('%s %s', async (flag, value, expected) => {
    const result = await runCli([fixture('pid.mjs'), flag, value]);
    expect(result.code).toBe(2);
    const name = flag === '-w' ? '--workers' : flag;
    expect(result.stderr.split('\n')[0]).toBe(`handoff: ${name} '${value}': expected ${expected}`);
    expect(result.stderr).toMatch(usage);
  });

  test('an unknown scheduler', async () => {
    const result = await runCli([fixture('pid.mjs'), '--scheduler', 'fastest', '--port', '0']);
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n')[0]).toMatch(/^handoff: --scheduler 'fastest': expected one of rr, least-conn, ip-hash, shared, reuseport, or the path of a scheduler module/);
  });

  test('a flag without its value', async () => {
    const result = await runCli([fixture('pid.mjs'), '--port']);
    expect(result.code).toBe(2);
    expect(result.stderr.split('\n')[0]).toBe('handoff: --port needs a value');
  });
});

describe('start-up failures', () => {
  test('a port already in use: exit 1, naming host:port, and nothing forked', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const result = await runCli([fixture('pid.mjs'), '--port', String(port), '--trace']);
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(`handoff: cannot listen on *:${port}: EADDRINUSE (another process is using this port; stop it or pick another with --port)\n`);
      expect(result.events.filter((event) => /^forked/.test(event.step))).toEqual([]);
    } finally {
      blocker.close();
    }
  });

  test('a script that throws while loading: its stack is shown, reforks are bounded, exit 1', async () => {
    const result = await runCli([fixture('throws-on-load.mjs'), '--port', '0', '-w', '2', '--max-restarts', '3', '--trace'], { timeoutMs: 20_000 });
    expect(result.code).toBe(1);
    // the full stack once, with the file and line of the throw
    expect(result.stderr).toMatch(/failed to load test\/fixtures\/throws-on-load\.mjs:\n\S+ \[master \d+\] Error: boom while loading\n\S+ \[master \d+\]\s+at .*throws-on-load\.mjs:2/);
    expect(result.stderr).toMatch(/failed to load test\/fixtures\/throws-on-load\.mjs again: Error: boom while loading/);
    expect(result.stderr).toMatch(/giving up: 4 unexpected worker exits within 1m \(--max-restarts 3\); not forking again\. Last error: Error: boom while loading/);
    // 2 initial forks and at most 3 reforks
    const forks = result.events.filter((event) => /^forked into slot/.test(event.step)).length;
    expect(forks).toBeGreaterThanOrEqual(2);
    expect(forks).toBeLessThanOrEqual(5);
    expect(result.stdout).toBe('');
  });
});
