// What waits outside the workers at the edges (issue 13): the kernel's
// backlog at shutdown (on the master's own port and on the app's other ports),
// a client that resets while queued in the master, the fd limit, --shutdown-delay.

import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, onTestFinished, test } from 'vitest';
import { Listener } from '../dist/dispatch/listener.js';
import { reusePortFlag, type TcpHandle } from '../dist/wire/node-internals.js';
import { acceptQueue, queued } from './helpers/backlog.js';
import { load } from './helpers/autocannon.js';
import { failures, get, type Reply } from './helpers/http.js';
import { eventually, fixture, startMaster, stopAllMasters, withTimeout } from './helpers/process.js';

afterEach(stopAllMasters);

/** A /hold request on the one connection max-connections.mjs takes; release() closes it. */
async function holdTheOnlyConnection(url: string): Promise<{ release: () => void }> {
  const request = http.get(`${url}/hold`, { agent: false });
  request.on('error', () => undefined);
  await new Promise<void>((resolve) => request.once('response', () => resolve()));
  return { release: () => request.destroy() };
}

describe('the accept queue at shutdown', () => {
  test('connections waiting in the kernel backlog (master paused at --max-pending) are accepted and answered, none reset', async () => {
    const { master, url } = await startMaster([fixture('max-connections.mjs'), '-w', '1', '--max-pending', '2', '--kill-timeout', '15000', '--trace']);
    const hold = await holdTheOnlyConnection(url);
    const n = 12;
    const replies: Array<Promise<Reply>> = [];
    for (let i = 0; i < n; i++) replies.push(get(url, { timeoutMs: 20_000 }));
    await master.waitForStep({ who: 'master', step: /^master holds \d+ connections: accepting paused$/ });
    master.signal('SIGTERM');
    await master.waitFor(/SIGTERM, shutting down gracefully/);
    hold.release(); // the worker takes the queued ones, one at a time; the master accepts the backlog as room appears
    const settled = await Promise.allSettled(replies);
    const failed = settled.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
    expect(failed).toEqual([]);
    expect(settled.map((r) => (r as PromiseFulfilledResult<Reply>).value.status)).toEqual(Array(n).fill(200));
    expect(await master.exit(20_000)).toEqual({ code: 0, signal: null });
    expect(master.stderr).toMatch(/accepted \d+ connection\(s\) that were waiting in the kernel's backlog before closing the listener/);
  });
});

/** SYNs the kernel dropped because a listening socket's accept queue was full (TcpExt ListenDrops, all sockets). */
function listenDrops(): number {
  const lines = fs.readFileSync('/proc/net/netstat', 'utf8').split('\n');
  const names = (lines.find((l) => l.startsWith('TcpExt:')) ?? '').split(/\s+/);
  const values = (lines.filter((l) => l.startsWith('TcpExt:'))[1] ?? '').split(/\s+/);
  return Number(values[names.indexOf('ListenDrops')]);
}

describe('closing the listener resets no handshake (Listener.acceptBacklog)', () => {
  test('once the backlog is taken, a connection of our own holds the queue: a client knocking then is not let in, and is refused when the listener closes', async () => {
    const listener = Listener.bind('127.0.0.1', 0);
    const { port } = listener.address;
    const accepted: TcpHandle[] = [];
    listener.onconnection = (client) => void accepted.push(client);
    onTestFinished(() => listener.close());
    const early = net.connect(port, '127.0.0.1');
    onTestFinished(() => void early.destroy());
    await new Promise((resolve) => early.once('connect', resolve));
    await listener.acceptBacklog(Date.now() + 5000);
    expect(accepted).toHaveLength(1); // the early one, accepted; the placeholder is not
    // The placeholder, never accepted (without SYN cookies a backlog of 0 lets no handshake complete, ours neither).
    if (fs.readFileSync('/proc/sys/net/ipv4/tcp_syncookies', 'utf8').trim() !== '0') expect(acceptQueue(port)).toBe(1);

    const dropsBefore = listenDrops();
    const late = net.connect(port, '127.0.0.1');
    onTestFinished(() => void late.destroy());
    let connected = false;
    late.once('connect', () => {
      connected = true;
      late.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    });
    const failed = new Promise<NodeJS.ErrnoException>((resolve) => late.once('error', resolve));
    await eventually(() => listenDrops() > dropsBefore, 3000, 'the late SYN dropped by the full accept queue');
    listener.close();
    const error = await withTimeout(failed, 5000, 'the late client was neither refused nor reset');
    expect({ code: error.code, connected }).toEqual({ code: 'ECONNREFUSED', connected: false }); // its SYN, sent again, meets no listener
    expect(accepted).toHaveLength(1);
    for (const handle of accepted) handle.close();
  });

  test('SIGTERM under a flood of new connections, four times: every connection the kernel completed is answered, the rest refused; none reset', async () => {
    for (let round = 0; round < 4; round++) {
      const { master, url } = await startMaster([fixture('pid.mjs'), '-w', '2', '--control', 'off']);
      // As the soak's clients: keep-alive ones, and ones that open a connection per request.
      const loads = [load({ url, connections: 8, duration: 30 }), load({ url, connections: 4, duration: 30, headers: { connection: 'close' } })];
      onTestFinished(() => loads.forEach((l) => l.stop()));
      await withTimeout(Promise.all(loads.map((l) => l.responses(2000))), 15_000, 'fewer than 2000 responses per client in 15 s');
      master.signal('SIGTERM');
      expect(await master.exit(20_000)).toEqual({ code: 0, signal: null });
      for (const l of loads) l.stop();
      const results = await Promise.all(loads.map((l) => l.done));
      const notRefused = results.flatMap((r) => [...r.errorCodes].filter(([code]) => code !== 'ECONNREFUSED'));
      expect({ round, notRefused, non2xx: results.map((r) => r.non2xx) }).toEqual({ round, notRefused: [], non2xx: [0, 0] });
    }
  }, 60_000);
});

describe('the accept queue at shutdown, --scheduler shared', () => {
  test('connections waiting in the backlog while the only worker is blocked are answered, none reset', async () => {
    const { master, url } = await startMaster([fixture('block.mjs'), '-w', '1', '--scheduler', 'shared', '--trace']);
    const blocked = get(`${url}/block?ms=1500`);
    await master.waitFor(/blocking pid/);
    const n = 10;
    const replies = Array.from({ length: n }, () => get(url, { timeoutMs: 15_000 }));
    master.signal('SIGTERM');
    await master.waitFor(/SIGTERM, shutting down gracefully/);
    expect(await failures([blocked, ...replies])).toEqual([]);
    expect(await master.exit()).toEqual({ code: 0, signal: null });
  });
});

describe("the accept queue at shutdown, on the app's other port", () => {
  // reuseport (Node 22.12+): a socket per slot on the master's own port; the app's other ports are shared.
  const schedulers = ['rr', 'shared', ...(reusePortFlag() === undefined ? [] : ['reuseport'])];
  test.each(schedulers)('--scheduler %s: connections waiting on the second port while the only worker is blocked are answered (each in 300 ms), none reset; exit 0', async (scheduler) => {
    const { master, url } = await startMaster([fixture('block.mjs'), '-w', '1', '--scheduler', scheduler, '--max-pending', '2', '--kill-timeout', '15000'], { env: { SECOND_PORT: '0', SECOND_DELAY_MS: '300' } });
    const port = Number((await master.waitFor(/app listens on 127\.0\.0\.1:0 \(port (\d+)\)/))[1]);
    const second = `http://127.0.0.1:${port}`;
    await master.waitFor(/second port listening/);
    expect((await get(second)).body).toMatch(/^\d+ second\n$/);
    // Blocked long enough for everything below to happen while it is, on a busy machine too.
    const blocked = get(`${url}/block?ms=4000`, { timeoutMs: 15_000 });
    await master.waitFor(/blocking pid/);
    const waiting = Array.from({ length: 6 }, () => get(second, { timeoutMs: 15_000 }));
    await queued(port, 4); // rr: the master holds --max-pending 2 of them; shared: nobody accepts
    master.signal('SIGTERM');
    await master.waitFor(/SIGTERM, shutting down gracefully/);
    // Until the master has accepted its backlog, the second port's listener is open: these wait there too.
    const late = Array.from({ length: 3 }, () => get(second, { timeoutMs: 15_000 }));
    expect(await failures([blocked, ...waiting, ...late])).toEqual([]);
    expect((await blocked).body).toMatch(/^\d+\n$/);
    const replies = await Promise.all([...waiting, ...late]);
    expect(replies.map((reply) => [reply.status, /^\d+ second\n$/.test(reply.body)])).toEqual(Array(9).fill([200, true]));
    expect(await master.exit(20_000)).toEqual({ code: 0, signal: null });
  });
});

describe('a client that resets while its connection waits in the master', () => {
  test('is dropped there, never handed to a worker', async () => {
    const { master, url, port } = await startMaster([fixture('max-connections.mjs'), '-w', '1', '--trace']);
    const hold = await holdTheOnlyConnection(url);
    const client = net.connect(port, '127.0.0.1');
    client.on('error', () => undefined);
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    // conn 2: refused by the full worker, back in the master's queue
    await master.waitForStep({ conn: 2, step: /^w1 refused it: re-dispatching/ });
    client.resetAndDestroy();
    await new Promise((resolve) => client.once('close', resolve));
    hold.release();
    await master.waitForStep({ conn: 2, step: /^the client reset while it waited in the master: dropped, not handed out$/ });
    expect((await get(url)).status).toBe(200);
    expect(master.steps({ conn: 2, step: /^accepted: the server has it/ })).toEqual([]);
  });
});

describe('the fd limit', () => {
  test('ulimit -n 200, one worker, 400 connections held 3 s: all 400 answered (what neither the worker nor the master can hold waits in the backlog)', async () => {
    const { master, url } = await startMaster([fixture('faults.mjs'), '-w', '1', '--kill-timeout', '20000'], { ulimitFiles: 200 });
    const replies = await Promise.allSettled(Array.from({ length: 400 }, () => get(`${url}/slow?ms=3000`, { timeoutMs: 30_000 })));
    const failed = replies.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
    const statuses = replies.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<Reply>).value.status);
    expect({ failed: failed.length, first: failed[0] }).toEqual({ failed: 0, first: undefined });
    expect(statuses).toEqual(Array(400).fill(200));
    expect(master.output).not.toMatch(/EMFILE|uncaught exception|threw/);
    master.signal('SIGTERM');
    expect((await master.exit(30_000)).code).toBe(0);
  }, 60_000);
});

describe('--shutdown-delay', () => {
  test('after SIGTERM the workers keep serving new connections for the delay, then drain; exit 0', async () => {
    const { master, url } = await startMaster([fixture('pid.mjs'), '-w', '1', '--shutdown-delay', '600ms']);
    const stoppedAt = Date.now();
    master.signal('SIGTERM');
    await master.waitFor(/serving on for --shutdown-delay 600ms before draining/);
    expect((await get(url)).status).toBe(200); // still served
    expect(await withTimeout(master.exited, 5000, 'no exit')).toEqual({ code: 0, signal: null });
    expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(600);
  });
});

describe("the app's other port, from the moment the master binds it", () => {
  /** A port free now, for an app that listens on a fixed port (so clients can knock before it is bound). */
  async function freePort(): Promise<number> {
    const server = net.createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const { port } = server.address() as net.AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    return port;
  }

  test.each(['rr', 'shared'])('--scheduler %s: clients knocking from before the bind are refused until it, then answered; none reset or left unanswered', async (scheduler) => {
    const port = await freePort();
    const second = `http://127.0.0.1:${port}`;
    const errors: string[] = [];
    let answered = 0;
    let stop = false;
    // Four clients, each a new connection per request, from before the master starts: refused until the bind.
    const knock = async (): Promise<void> => {
      while (!stop) {
        try {
          if (/^\d+ second\n$/.test((await get(second, { timeoutMs: 5000 })).body)) answered++;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ECONNREFUSED') errors.push(String(error));
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
    };
    const clients = Array.from({ length: 4 }, knock);
    const { master } = await startMaster([fixture('block.mjs'), '-w', '2', '--scheduler', scheduler, '--trace'], { env: { SECOND_PORT: String(port) } });
    await withTimeout(
      (async () => {
        while (answered < 40) await new Promise((resolve) => setTimeout(resolve, 5));
      })(),
      15_000,
      '40 answers on the second port',
    );
    stop = true;
    await Promise.all(clients);
    if (errors.length) console.log(master.output.split('\n').filter((l) => !/conn s\d/.test(l)).join('\n'));
    expect(errors).toEqual([]);
    master.signal('SIGTERM');
    expect(await master.exit()).toEqual({ code: 0, signal: null });
  });
});
