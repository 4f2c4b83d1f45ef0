// systemd socket activation (LISTEN_FDS, LISTEN_PID), with systemd's own
// systemd-socket-activate: it binds, waits for the first connection, then
// execs the master with the sockets as descriptors 3 on. That first
// connection waits in the kernel's backlog until the master is ready.

import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, onTestFinished, test } from 'vitest';
import { Listener } from '../dist/dispatch/listener.js';
import { acceptQueue } from './helpers/backlog.js';
import { ctl, removeTempDirs, tempDir } from './helpers/control.js';
import { countByPid, get, getMany } from './helpers/http.js';
import { childPids, eventually, fixture, isAlive, MasterProcess, runCli, startMaster, stopAllMasters, withTimeout } from './helpers/process.js';
import { marked, stopSuccessors, trackSuccessor } from './helpers/successors.js';

const hasActivate = spawnSync('sh', ['-c', 'command -v systemd-socket-activate']).status === 0;

afterEach(async () => {
  await stopSuccessors();
  await stopAllMasters();
  removeTempDirs();
});

const app = fixture('pid.mjs');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** systemd-socket-activate listening on `listen` (each an address), running the master with `args`. */
function activated(listen: string[], args: string[], extra: string[] = []): MasterProcess {
  return new MasterProcess(args, { via: ['systemd-socket-activate', ...extra, ...listen.flatMap((address) => ['-l', address])] });
}

describe.skipIf(!hasActivate)('socket activation', () => {
  for (const scheduler of ['rr', 'shared']) {
    test(`--scheduler ${scheduler}: the first connection waits for the master, then every worker serves on the inherited socket`, async () => {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const control = path.join(tempDir(), 'c.sock');
      const master = activated([`127.0.0.1:${port}`], [app, '-w', '2', '--scheduler', scheduler, '--control', control]);
      await master.waitFor(/Listening on 127\.0\.0\.1:\d+ as 3/);
      const first = await get(url); // this connection makes systemd-socket-activate exec the master
      expect(first.status).toBe(200);
      await master.waitFor(new RegExp(`listening on http://127\\.0\\.0\\.1:${port} \\(scheduler ${scheduler}, 2 workers, master pid ${master.pid}\\)`));
      expect(master.output).toContain(`serving on the listening socket systemd passed (LISTEN_FDS=1): 127.0.0.1:${port}; --host and --port are not used`);
      const workers = childPids(master.pid).sort();
      expect(workers).toHaveLength(2);
      const counts = countByPid(await getMany(url, 200, 8));
      expect([...counts.keys()].sort()).toEqual(workers);
    });
  }

  test('two sockets: both served by the same workers, and an upgrade passes both on', async () => {
    const [a, b] = [await freePort(), await freePort()];
    const control = path.join(tempDir(), 'c.sock');
    const master = activated([`127.0.0.1:${a}`, `127.0.0.1:${b}`], [app, '-w', '2', '--control', control, '--listen-timeout', '10s']);
    await master.waitFor(/as 4\./);
    expect((await get(`http://127.0.0.1:${b}`)).status).toBe(200);
    await master.waitFor(/listening on http:\/\/127\.0\.0\.1:\d+ /);
    expect(master.output).toContain(`(LISTEN_FDS=2): 127.0.0.1:${a}, 127.0.0.1:${b};`);
    const workers = childPids(master.pid).sort();
    for (const port of [a, b]) expect([...countByPid(await getMany(`http://127.0.0.1:${port}`, 40, 4)).keys()].sort()).toEqual(workers);

    const upgrade = await ctl(['upgrade', '--control', control]);
    expect(upgrade.code).toBe(0);
    const next = trackSuccessor(Number(/handed over to master (\d+)/.exec(upgrade.stdout)?.[1]));
    const fresh = childPids(next).sort();
    expect(fresh).toHaveLength(2);
    for (const port of [a, b]) expect([...countByPid(await getMany(`http://127.0.0.1:${port}`, 40, 4)).keys()].sort()).toEqual(fresh);
    expect(master.output).toContain('upgrade: starting a new master (');
    expect(master.output).toContain('on 2 inherited listening sockets');
  });

  test('a UDP socket is refused in one line, exit 1', async () => {
    const port = await freePort();
    const master = activated([`127.0.0.1:${port}`], [app, '-w', '1', '--control', 'off'], ['--datagram']);
    await master.waitFor(/as 3\./);
    const socket = dgram.createSocket('udp4');
    socket.send('x', port, '127.0.0.1', () => socket.close());
    const exit = await master.exit();
    expect(exit.code).toBe(1);
    expect(master.stdout).toBe('');
    expect(master.stderr).toMatch(/handoff: LISTEN_FDS: descriptor 3 is a UDP socket; handoff serves listening TCP sockets only \(ListenStream= with an address or port\)\n$/);
  });

  test('a Unix socket is refused in one line, exit 1', async () => {
    const file = path.join(tempDir(), 'app.sock');
    const master = activated([file], [app, '-w', '1', '--control', 'off']);
    await master.waitFor(/as 3\./);
    net.connect(file).on('error', () => undefined);
    const exit = await master.exit();
    expect(exit.code).toBe(1);
    expect(master.stderr).toMatch(/handoff: LISTEN_FDS: descriptor 3 is a Unix socket; handoff serves listening TCP sockets only \(ListenStream= with an address or port\)\n$/);
  });
});

describe('a socket systemd keeps: the master is not its only holder', () => {
  test('after an upgrade and the new master\'s shutdown it is left as systemd would find it: nothing of the masters\' queued, and a client\'s handshake still completes there', async () => {
    // This test stands for systemd: it holds the listening socket and never accepts on it.
    const systemd = Listener.bind('127.0.0.1', 0);
    systemd.stopAccepting();
    const held = await systemd.sharedHandle();
    await new Promise((resolve) => setImmediate(resolve)); // its own polling stops (after the spare it waited for)
    onTestFinished(() => systemd.close());
    const { port } = systemd.address;
    const control = path.join(tempDir(), 'c.sock');
    const master = new MasterProcess([app, '-w', '1', '--control', control], { listenFds: [held.fd], env: marked() });
    await master.waitFor(/listening on http:\/\/127\.0\.0\.1:\d+ /);
    expect(master.output).toContain(`serving on the listening socket systemd passed (LISTEN_FDS=1): 127.0.0.1:${port}`);
    expect((await get(`http://127.0.0.1:${port}`)).status).toBe(200);

    const upgrade = await ctl(['upgrade', '--control', control]);
    expect(upgrade.code).toBe(0);
    const next = trackSuccessor(Number(/handed over to master (\d+)/.exec(upgrade.stdout)?.[1]));
    expect((await get(`http://127.0.0.1:${port}`)).status).toBe(200);
    expect((await master.exit()).code).toBe(0);
    process.kill(next, 'SIGTERM');
    await eventually(() => !isAlive(next), 10_000, `the new master ${next} exits after SIGTERM`);

    // Had it held the queue shut as for a socket of its own, its connection would wait there and the backlog would be 0.
    expect(acceptQueue(port)).toBe(0);
    const client = net.connect(port, '127.0.0.1');
    onTestFinished(() => void client.destroy());
    await withTimeout(new Promise((resolve) => client.once('connect', resolve)), 3000, 'the handshake did not complete: the backlog was left at 0');
    await eventually(() => acceptQueue(port) === 1, 3000, 'the client waiting in the queue for the next master');
  });
});

test('LISTEN_FDS meant for another process (LISTEN_PID is not ours) is ignored: the master binds --port itself', async () => {
  const { url } = await startMaster([app, '-w', '1', '--control', 'off'], { env: { LISTEN_FDS: '1', LISTEN_PID: '1' } });
  expect((await get(url)).status).toBe(200);
});

describe('inherited descriptors that are not there', () => {
  test('LISTEN_FDS naming us, with nothing at descriptor 3: one line, exit 1', async () => {
    const master = new MasterProcess([app, '-w', '1', '--control', 'off'], { via: ['sh', '-c', 'LISTEN_FDS=1 LISTEN_PID=$$ exec "$0" "$@"'] });
    expect((await master.exit()).code).toBe(1);
    // Node's own event loop took descriptor 3 (epoll), since nothing was passed there.
    expect(master.stderr).toMatch(/^handoff: LISTEN_FDS: descriptor 3 is not a socket but anon_inode:\[eventpoll\] \(was anything passed there\?\); handoff serves listening TCP sockets only \(ListenStream= with an address or port\)\n$/);
  });

  test("HANDOFF_LISTEN_FDS without an old master behind it: one line, exit 1", async () => {
    const result = await runCli([app, '-w', '1', '--control', 'off'], { env: { HANDOFF_LISTEN_FDS: '1', HANDOFF_UPGRADE_FROM: '1' } });
    expect([result.code, result.stdout]).toEqual([1, '']);
    expect(result.stderr).toBe("handoff: HANDOFF_LISTEN_FDS is set, but no old master started this process: it is handoff's own variable for `handoff ctl upgrade`; unset it\n");
  });
});
