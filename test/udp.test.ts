// UDP, shared as node:cluster shares it: a worker's dgram bind() that is not
// exclusive asks the master, which binds the address once and sends every
// worker the same socket (udp/udp-sockets.ts, udp/udp-bind.ts), so every
// worker reads datagrams from the one port. Each check that cluster can make
// runs the same app file (test/fixtures/udp/udp-echo.mjs, udp-only.mjs)
// under handoff and under node:cluster (test/fixtures/cluster-runner.mjs).
// A worker whose bind succeeded is ready, as cluster's 'listening', also
// with no TCP server at all (primary/master/udp-only.ts).

import dgram from 'node:dgram';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { reusePortFlag } from '../dist/wire/node-internals.js';
import { addressInUse, clusterRunner, httpExchange, startCluster, untilEveryWorker } from './helpers/apps.js';
import { ctl, ctlStatus, removeTempDirs, tempDir } from './helpers/control.js';
import { eventually, fixture, MasterProcess, startMaster, stopAllMasters, withTimeout, type RunningMaster } from './helpers/process.js';

afterEach(stopAllMasters);
afterEach(removeTempDirs);

const echo = fixture('udp/udp-echo.mjs');
const udpOnly = fixture('udp/udp-only.mjs');

/** A UDP client on 127.0.0.1: each ask() sends a datagram and resolves with the pid in the next answer. */
class UdpClient {
  readonly #socket = dgram.createSocket('udp4');
  readonly #waiting: Array<(pid: number) => void> = [];

  constructor() {
    this.#socket.on('message', (message) => this.#waiting.shift()?.(Number(String(message))));
  }

  ask(port: number, timeoutMs = 5000, text = 'which worker?'): Promise<number> {
    const answer = new Promise<number>((resolve) => this.#waiting.push(resolve));
    this.#socket.send(text, port, '127.0.0.1');
    return withTimeout(answer, timeoutMs, `no answer on UDP port ${port} within ${timeoutMs} ms`);
  }

  close(): void {
    this.#socket.close();
  }
}

let clients: UdpClient[] = [];
afterEach(() => {
  for (const client of clients) client.close();
  clients = [];
});
function udpClient(): UdpClient {
  const client = new UdpClient();
  clients.push(client);
  return client;
}

/** The UDP port(s) the app's workers report once bound ("udp on <port>"). */
async function udpPorts(master: MasterProcess, workers = 2): Promise<Set<number>> {
  await master.waitForCount(/udp on \d+/, workers);
  return new Set([...master.output.matchAll(/udp on (\d+)/g)].map((match) => Number(match[1])));
}

/** Datagrams to `port` until every worker has answered one (bounded): how many each pid answered. */
async function everyWorkerAnswers(port: number, workers = 2): Promise<Map<number, number>> {
  const client = udpClient();
  const { pids } = await untilEveryWorker(() => client.ask(port), { workers, atLeast: 10, max: 2000 });
  return pids;
}

/** A UDP socket this test holds on 127.0.0.1, or the bind's error code. */
function bindHere(port = 0): Promise<dgram.Socket | string> {
  return new Promise((resolve) => {
    const socket = dgram.createSocket('udp4');
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? String(error)));
    socket.bind(port, '127.0.0.1', () => resolve(socket));
  });
}

const runners: Array<[name: string, start: (env?: NodeJS.ProcessEnv) => Promise<RunningMaster>]> = [
  ['handoff', (env) => startMaster([echo, '-w', '2'], { env })],
  ['node:cluster', (env) => startCluster(echo, 2, env)],
];

describe.each(runners)('under %s', (name, start) => {
  test('every worker answers datagrams on the one UDP port they all bind (port 0: one free port for every worker)', async () => {
    const { master } = await start();
    const ports = await udpPorts(master);
    expect(ports.size).toBe(1);
    const pids = await everyWorkerAnswers([...ports][0] as number);
    expect(pids.size).toBe(2);
    if (name === 'handoff') expect(master.count(/app binds UDP 127\.0\.0\.1:0 \(port \d+\): bound once by the master, shared by every worker\n/)).toBe(1);
    // With a TCP server too, nothing changes: the ready line is the HTTP one (startMaster waited for it).
    expect(master.output).not.toMatch(/TCP server|UDP only/);
  });

  test("a worker's second bind of port 0 is a second port, shared by every worker all the same", async () => {
    const { master } = await start({ UDP_SOCKETS: '2' });
    await master.waitForCount(/udp on \d+/, 4);
    const ports = [...(await udpPorts(master))];
    expect(ports.length).toBe(2);
    for (const port of ports) expect((await everyWorkerAnswers(port)).size).toBe(2);
  });

  test('an exclusive bind stays in the worker: each worker has a port of its own, answered by it alone', async () => {
    const { master } = await start({ UDP_EXCLUSIVE: '1' });
    const ports = [...(await udpPorts(master))];
    expect(ports.length).toBe(2);
    const owners = await Promise.all(ports.map(async (port) => {
      const client = udpClient(); // one per port: answers are matched to asks in order
      return new Set(await Promise.all(Array.from({ length: 5 }, () => client.ask(port))));
    }));
    expect(owners.map((pids) => pids.size)).toEqual([1, 1]);
    expect(new Set(owners.flatMap((pids) => [...pids])).size).toBe(2);
    expect(master.output).not.toMatch(/app binds UDP/);
  });

  test("a UDP port another process holds is the bind's EADDRINUSE: Node's own error, in the app's 'error' event", async () => {
    const taken = await bindHere();
    if (typeof taken === 'string') throw new Error(`could not bind a UDP port for the test: ${taken}`);
    try {
      const port = taken.address().port;
      const { master } = await start({ UDP_PORT: String(port) });
      await master.waitForCount(/udp error \{/, 2);
      const errors = [...master.output.matchAll(/udp error (\{.*\})/g)].map((match) => JSON.parse(match[1] as string) as unknown);
      for (const error of errors) expect(error).toEqual(addressInUse(port));
      if (name === 'handoff') expect(master.count(/app's bind on UDP 127\.0\.0\.1:\d+ failed: EADDRINUSE \(given to its bind\(\) as the error\)/)).toBe(1);
    } finally {
      taken.close();
    }
  });
});

describe('under handoff', () => {
  test.each(['least-conn', 'ip-hash', 'shared'])('--scheduler %s: the UDP socket is shared all the same', async (scheduler) => {
    const { master } = await startMaster([echo, '-w', '2', '--scheduler', scheduler]);
    const ports = await udpPorts(master);
    expect(ports.size).toBe(1);
    expect((await everyWorkerAnswers([...ports][0] as number)).size).toBe(2);
  });

  test('a rolling reload keeps the UDP port answering: the new workers get the same socket, every datagram is answered', async () => {
    const { master } = await startMaster([echo, '-w', '2', '--trace']);
    const port = [...(await udpPorts(master))][0] as number;
    const before = await everyWorkerAnswers(port);
    // One datagram after another through the whole reload: each must be answered, by an old worker or a new one.
    const client = udpClient();
    let reloaded = false;
    const answered = new Set<number>();
    const sending = (async () => {
      while (!reloaded) answered.add(await client.ask(port));
    })();
    master.signal('SIGHUP');
    await master.waitForCount(/\[w[34] \d+\] udp on \d+/, 2, 20_000);
    await Promise.all([1, 2].map((worker) => master.waitForStep({ worker, step: /^exited/ }, 20_000)));
    reloaded = true;
    await sending;
    expect(await udpPorts(master, 4)).toEqual(new Set([port]));
    const after = await everyWorkerAnswers(port);
    expect(after.size).toBe(2);
    for (const pid of after.keys()) expect(before.has(pid)).toBe(false);
    expect(answered.size).toBeGreaterThan(0);
    // Bound once: the new workers were sent the socket the master kept.
    expect(master.count(/app binds UDP/)).toBe(1);
  }, 60_000);

  test('once every worker has closed its UDP socket, the master closes its copy: the port is free again', async () => {
    const { master, url } = await startMaster([echo, '-w', '2', '--trace']);
    const port = [...(await udpPorts(master))][0] as number;
    expect(await bindHere(port)).toBe('EADDRINUSE');
    await untilEveryWorker((index) => httpExchange(`${url}/udp-close`, index), { atLeast: 2 });
    await master.waitForSteps({ step: /^closed its UDP socket 1$/ }, 2);
    let free: dgram.Socket | undefined;
    await eventually(async () => {
      const bound = await bindHere(port);
      if (typeof bound !== 'string') free = bound;
      return free !== undefined;
    }, 5000, `UDP port ${port} freed once no worker holds it`);
    free?.close();
    expect(master.output).toMatch(/udp closed/);
  });
});

// ---- an app that binds UDP only ----------------------------------------------------------

const LISTEN_TIMEOUT_MS = 1000;

/** udp-only.mjs with 2 workers, once its ready line is out: the UDP port, and under handoff the master's TCP port that line says is closed. */
async function startUdpOnly(runner: 'handoff' | 'node:cluster', args: string[] = []): Promise<{ master: MasterProcess; udpPort: number; tcpPort: number }> {
  const handoff = runner === 'handoff';
  const master = handoff
    ? new MasterProcess([udpOnly, '-w', '2', '--port', '0', '--listen-timeout', `${LISTEN_TIMEOUT_MS}ms`, ...args])
    : new MasterProcess([udpOnly, '--workers', '2', '--port', '0'], { entry: clusterRunner });
  const ready = handoff
    ? /handoff: listening on udp:\/\/127\.0\.0\.1:(\d+) \(2 workers, master pid \d+\); the app serves UDP only: connections to 127\.0\.0\.1:(\d+) are closed\n/
    : /cluster: listening on udp:\/\/127\.0\.0\.1:(\d+) /;
  const match = await Promise.race([
    master.waitFor(ready, 15_000),
    master.exited.then((exit) => {
      throw new Error(`${runner} exited (${exit.code ?? exit.signal}) before it was ready\n${master.output}`);
    }),
  ]);
  return { master, udpPort: Number(match[1]), tcpPort: Number(match[2]) };
}

/** A connection to `port` that sends a request: what came back before it closed. Bounded: left open, it fails. */
function tcpExchange(port: number): Promise<string> {
  const closed = new Promise<string>((resolve) => {
    let data = '';
    const socket = net.connect(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    socket.setEncoding('utf8').on('data', (chunk: string) => (data += chunk));
    socket.on('error', () => undefined); // a reset: closed all the same
    socket.on('close', () => resolve(data));
  });
  return withTimeout(closed, 5000, `the connection to port ${port} was left open`);
}

describe.each(['handoff', 'node:cluster'] as const)('an app that binds UDP only, under %s', (runner) => {
  test('is ready once its workers have bound: both answer datagrams, none is restarted after --listen-timeout, SIGTERM exits 0', async () => {
    const started = Date.now();
    const { master, udpPort } = await startUdpOnly(runner);
    const first = await everyWorkerAnswers(udpPort);
    expect(first.size).toBe(2);
    // No sleep: datagrams until one is answered once the listen timeout (and a margin) has passed since the start.
    const client = udpClient();
    await eventually(async () => (await client.ask(udpPort)) > 0 && Date.now() > started + LISTEN_TIMEOUT_MS + 500, 10_000, 'a datagram answered after --listen-timeout');
    expect(new Set((await everyWorkerAnswers(udpPort)).keys())).toEqual(new Set(first.keys()));
    expect(master.output).not.toMatch(/not ready within|exited/);
    master.signal('SIGTERM');
    expect((await master.exit()).code).toBe(0);
  });
});

describe('an app that binds UDP only, under handoff', () => {
  const schedulers = reusePortFlag() === undefined ? ['rr', 'shared'] : ['rr', 'shared', 'reuseport'];

  test.each(schedulers)('--scheduler %s: a connection to --port is closed at once, never handed to a worker; status claims no TCP service', async (scheduler) => {
    const control = path.join(tempDir(), 'm.sock');
    const { master, udpPort, tcpPort } = await startUdpOnly('handoff', ['--scheduler', scheduler, '--control', control, '--trace']);
    for (let i = 0; i < 3; i++) expect(await tcpExchange(tcpPort)).toBe('');
    expect(master.steps({ step: /^handle sent to w/ })).toEqual([]);
    expect(master.count(/no ready worker has a TCP server \(the app binds UDP only\): connections to 127\.0\.0\.1:\d+ are closed as soon as the master accepts them/)).toBe(1);
    const status = await ctlStatus(control);
    expect(status).toMatchObject({ ready: 2, noTcpServer: true, udp: [{ id: 1, address: { address: '127.0.0.1', port: udpPort, family: 'IPv4' }, workers: 2 }] });
    const header = (await ctl(['status', '--control', control])).stdout.split('\n')[0];
    expect(header).toMatch(new RegExp(`^master pid ${master.pid}  no TCP server \\(127\\.0\\.0\\.1:${tcpPort} closes connections\\)  scheduler ${scheduler}  workers 2/2 ready  udp 127\\.0\\.0\\.1:${udpPort} \\(2 workers\\)  uptime `));
    expect((await everyWorkerAnswers(udpPort)).size).toBe(2);
    master.signal('SIGTERM');
    expect((await master.exit()).code).toBe(0);
  });

  test('once the app has served TCP, new workers ready by their UDP bind alone do not make --port close: during a reload a request waits for their server', async () => {
    const control = path.join(tempDir(), 'm.sock');
    const { master, udpPort, tcpPort } = await startUdpOnly('handoff', ['--control', control]);
    const client = udpClient();
    await untilEveryWorker(() => client.ask(udpPort, 5000, 'listen'), { atLeast: 2 });
    await master.waitFor(/a worker has a TCP server now/);
    const before = new Set((await untilEveryWorker((index) => httpExchange(`http://127.0.0.1:${tcpPort}`, index))).pids.keys());
    expect((await ctl(['reload', '--control', control])).code).toBe(0); // the new workers are ready at their bind, and do not listen yet
    const answered = httpExchange(`http://127.0.0.1:${tcpPort}`, 0); // waits in the master: not closed
    answered.catch(() => undefined); // awaited below; a reset is reported there
    const { pids: listening } = await untilEveryWorker(() => client.ask(udpPort, 5000, 'listen'), { atLeast: 2 });
    const pid = await withTimeout(answered, 10_000, 'the request made during the reload');
    expect([...listening.keys()]).toContain(pid);
    expect(before.has(pid)).toBe(false);
    expect(master.count(/are closed as soon as the master accepts them/)).toBe(1); // only at the start, before any server
    master.signal('SIGTERM');
    expect((await master.exit()).code).toBe(0);
  });

  test.each(['rr', 'shared'])('--scheduler %s, an app that listens after it binds: a worker gets connections once its server is attached, not before', async (scheduler) => {
    const { master, udpPort, tcpPort } = await startUdpOnly('handoff', ['--scheduler', scheduler, '--trace']);
    expect(await tcpExchange(tcpPort)).toBe('');
    const client = udpClient();
    await untilEveryWorker(() => client.ask(udpPort, 5000, 'listen'), { atLeast: 2 }); // each answers once its server listens
    await master.waitFor(/a worker has a TCP server now: connections to 127\.0\.0\.1:\d+ go to the workers again/);
    const { pids } = await untilEveryWorker((index) => httpExchange(`http://127.0.0.1:${tcpPort}`, index));
    expect(pids.size).toBe(2);
    expect(master.steps({ step: /^refused: server closed/ })).toEqual([]);
    master.signal('SIGTERM');
    expect((await master.exit()).code).toBe(0);
  });
});
