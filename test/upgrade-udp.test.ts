// `handoff ctl upgrade` with the app's UDP sockets: the old master hands
// each one over (HANDOFF_APP_UDP), the new master's workers bind the same
// socket, and datagrams are answered all through. Beside upgrade.test.ts,
// which is about the TCP side; the app is the same (fixtures/upgradable.mjs).

import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import path from 'node:path';
import fs from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, test } from 'vitest';
import { ctl, removeTempDirs, tempDir } from './helpers/control.js';
import { get } from './helpers/http.js';
import { childPids, eventually, fixture, isAlive, MasterProcess, runCli, stopAllMasters, withTimeout } from './helpers/process.js';
import { marked, stopSuccessors, trackSuccessor } from './helpers/successors.js';

const app = fixture('upgradable.mjs');
const entry = path.resolve('dist/master.js');

/** Datagrams to `port`, one at a time, each "<seq>" until answered "<pid> <seq>"; one unanswered within 1 s is sent again (counted), 5 times at most. */
class DatagramStream {
  readonly #socket = dgram.createSocket('udp4');
  readonly pids: number[] = [];
  readonly lost: number[] = [];
  resent = 0;
  #running = true;
  #answer: ((pid: number) => void) | undefined;
  #seq = 0;
  readonly #done: Promise<void>;

  constructor(port: number) {
    this.#socket.on('message', (message) => {
      const [pid, seq] = String(message).split(' ').map(Number);
      if (seq === this.#seq) this.#answer?.(pid as number);
    });
    this.#done = this.#run(port);
  }

  async #run(port: number): Promise<void> {
    while (this.#running) {
      const seq = ++this.#seq;
      let pid: number | undefined;
      for (let attempt = 0; attempt < 5 && pid === undefined; attempt++) {
        if (attempt > 0) this.resent++;
        // Its answer, or none within a second (a datagram may be lost: it is sent again, and counted).
        const answer = new Promise<number>((resolve) => (this.#answer = resolve));
        this.#socket.send(String(seq), port, '127.0.0.1');
        pid = await withTimeout(answer, 1000, 'no answer').catch(() => undefined);
      }
      if (pid === undefined) this.lost.push(seq);
      else this.pids.push(pid);
      await delay(5);
    }
  }

  answered(count: number): Promise<void> {
    return eventually(() => this.pids.length >= count || this.lost.length > 0, 20_000, `${count} datagrams answered`);
  }

  async stop(): Promise<void> {
    this.#running = false;
    await withTimeout(this.#done, 10_000, 'the datagram stream to stop');
    this.#socket.close();
  }
}

const streams: DatagramStream[] = [];
afterEach(async () => {
  for (const stream of streams.splice(0)) await stream.stop().catch(() => undefined);
  await stopSuccessors();
  await stopAllMasters();
  removeTempDirs();
});

/** upgradable.mjs with a UDP socket on port 0 and 2 workers; `udpOnly`: no HTTP server. Its UDP port, once both workers have bound it. */
async function startWithUdp(udpOnly: boolean) {
  const dir = tempDir();
  const control = path.join(dir, 'c.sock');
  const env = marked({ UPGRADE_FIXTURE_DIR: dir, UDP_PORT: '0', ...(udpOnly ? { UDP_ONLY: '1' } : {}) });
  const master = new MasterProcess([app, '-w', '2', '--port', '0', '--control', control, '--listen-timeout', '10s'], { env });
  await Promise.race([
    master.waitFor(/listening on (udp|http):\/\/127\.0\.0\.1:\d+ /, 15_000),
    master.exited.then((exit) => {
      throw new Error(`master exited (${exit.code ?? exit.signal}) before it was ready\n${master.output}`);
    }),
  ]);
  await master.waitForCount(/udp on \d+ in \d+/, 2);
  const port = Number(/udp on (\d+)/.exec(master.output)?.[1]);
  return { master, control, dir, port };
}

function successorOf(stdout: string): number {
  const match = /handed over to master (\d+)/.exec(stdout);
  if (!match) throw new Error(`no successor in: ${stdout}`);
  return trackSuccessor(Number(match[1]));
}

/** Whether this test can bind UDP 127.0.0.1:port now (the socket is closed again). */
function udpPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket('udp4');
    socket.once('error', () => resolve(false));
    socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)));
  });
}

describe('upgrade with the app\'s UDP socket', () => {
  test.each([
    ['beside an HTTP server', false],
    ['an app that serves UDP only', true],
  ])('%s: every datagram answered before, during and after; the same port; then only the new workers answer', async (_name, udpOnly) => {
    const { master, control, port } = await startWithUdp(udpOnly);
    const oldWorkers = childPids(master.pid);
    const stream = new DatagramStream(port);
    streams.push(stream);
    await stream.answered(30);
    expect(new Set(stream.pids)).toEqual(new Set(stream.pids.filter((pid) => oldWorkers.includes(pid))));

    const upgrade = await ctl(['upgrade', '--control', control]);
    expect([upgrade.code, upgrade.stderr]).toEqual([0, '']);
    const next = successorOf(upgrade.stdout);
    expect((await master.exit()).code).toBe(0);
    const newWorkers = childPids(next);
    expect(newWorkers).toHaveLength(2);
    const handedOver = stream.pids.length;
    await stream.answered(handedOver + 30);
    await stream.stop();
    console.log(`UDP through an upgrade (${_name}): ${stream.pids.length} datagrams answered, ${stream.resent} sent again, ${stream.lost.length} never answered`);
    expect(stream.lost).toEqual([]);
    expect(stream.resent).toBe(0);
    // The old master has exited and its workers with it: every answer since comes from the new ones.
    const after = stream.pids.slice(handedOver);
    expect(after.every((pid) => newWorkers.includes(pid))).toBe(true);

    // The same port, bound by none: both new workers were given the socket the old master handed over.
    expect(master.output).toMatch(new RegExp(`app binds UDP 127\\.0\\.0\\.1:0 \\(port ${port}\\): the socket master ${master.pid} handed over, shared by every worker`));
    for (const pid of newWorkers) expect(master.output).toContain(`udp on ${port} in ${pid}\n`);
    expect(master.output).toMatch(/with 1 UDP socket\n/);
    if (!udpOnly) expect((await get(`http://127.0.0.1:${/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(master.output)?.[1]}`)).status).toBe(200);
  });

  test('a UDP socket the next version no longer binds is closed once it has taken over: the port is free', async () => {
    const { master, control, dir, port } = await startWithUdp(false);
    fs.writeFileSync(path.join(dir, 'no-udp'), '');
    const upgrade = await ctl(['upgrade', '--control', control]);
    expect([upgrade.code, upgrade.stderr]).toEqual([0, '']);
    const next = successorOf(upgrade.stdout);
    expect((await master.exit()).code).toBe(0);
    expect(master.output).toMatch(new RegExp(`upgrade: no worker of master ${next} bound UDP 127\\.0\\.0\\.1:0 \\(port ${port}\\), which master ${master.pid} handed over: closed`));
    await eventually(() => udpPortFree(port), 5000, `UDP port ${port} to be free`);
    expect(isAlive(next)).toBe(true);
  });
});

describe('bad UDP input from an "old master": one line, exit 1', () => {
  test('HANDOFF_APP_UDP that is not the list the old master passes', async () => {
    const result = await runCli([app, '-w', '1', '--control', 'off'], { env: { HANDOFF_LISTEN_FDS: '1', HANDOFF_UPGRADE_FROM: '1', HANDOFF_APP_UDP: '[{"port":"x"}]' } });
    expect([result.code, result.stderr]).toEqual([1, 'handoff: HANDOFF_APP_UDP=[{"port":"x"}]: expected the UDP binds the old master passed\n']);
  });

  test('a descriptor that is not a UDP socket where HANDOFF_APP_UDP says one is', async () => {
    const server = net.createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const fd = (server as unknown as { _handle: { fd: number } })._handle.fd;
    const asked = { address: '127.0.0.1', port: 0, addressType: 'udp4', flags: 0, index: 0 };
    const env = { ...process.env, HANDOFF_LISTEN_FDS: '1', HANDOFF_UPGRADE_FROM: String(process.pid), HANDOFF_APP_UDP: JSON.stringify([asked]) };
    // What an old master does, with a TCP socket for fd 4, where a UDP one should be.
    const child = spawn(process.execPath, [entry, app, '-w', '1', '--control', 'off'], { env, stdio: ['ignore', 'pipe', 'pipe', fd, fd, 'ipc'] });
    let stderr = '';
    child.stderr?.on('data', (chunk) => (stderr += chunk));
    child.on('message', () => undefined);
    const code = await withTimeout(new Promise((resolve) => child.once('exit', resolve)), 10_000, 'the would-be successor to exit');
    server.close();
    expect([code, stderr]).toEqual([1, 'handoff: HANDOFF_APP_UDP: descriptor 4 is a listening TCP socket; expected the UDP socket the old master passed for 127.0.0.1:0\n']);
  });
});
