// Nothing lost at the edges (issue 13): every kind of server drains, the
// app hears of the drain, and the exit code says whether anything was cut.

import fs from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, describe, expect, test } from 'vitest';
import WebSocket from 'ws';
import { get } from './helpers/http.js';
import { childPids, eventually, fixture, isAlive, startMaster, stopAllMasters, withTimeout } from './helpers/process.js';

afterEach(stopAllMasters);

const ca = fs.readFileSync(fixture('tls/cert.pem'));

function httpsGet(url: string, agent: https.Agent): Promise<string> {
  return new Promise((resolve, reject) => {
    https
      .get(url, { agent, ca }, (response) => {
        let body = '';
        response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

function h2Get(session: http2.ClientHttp2Session, path = '/'): Promise<string> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': path });
    let body = '';
    stream.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    stream.on('end', () => resolve(body));
    stream.on('error', reject);
  });
}

describe('idle connections of every server kind do not hold a shutdown', () => {
  test('https: an idle keep-alive client; exit 0 within 1 s of SIGTERM', async () => {
    const { master, port } = await startMaster([fixture('protocols.mjs'), '-w', '2'], { env: { PROTOCOL: 'https' } });
    const agent = new https.Agent({ keepAlive: true, maxSockets: 4 });
    try {
      await Promise.all([1, 2, 3, 4].map(() => httpsGet(`https://127.0.0.1:${port}/`, agent)));
      expect(Object.values(agent.freeSockets).flat().length).toBeGreaterThan(0); // idle, kept alive
      const stoppedAt = Date.now();
      master.signal('SIGTERM');
      expect(await master.exit()).toEqual({ code: 0, signal: null });
      expect(Date.now() - stoppedAt).toBeLessThan(1000);
    } finally {
      agent.destroy();
    }
  });

  test.each(['h2', 'h2c'])('%s: an idle session gets GOAWAY; exit 0 within 1 s of SIGTERM', async (protocol) => {
    const { master, port } = await startMaster([fixture('protocols.mjs'), '-w', '2'], { env: { PROTOCOL: protocol } });
    const session = http2.connect(`${protocol === 'h2' ? 'https' : 'http'}://127.0.0.1:${port}`, { ca });
    session.on('error', () => undefined);
    try {
      expect(Number(await h2Get(session))).toBeGreaterThan(0);
      const goaway = new Promise<number>((resolve) => session.once('goaway', (code) => resolve(code)));
      const stoppedAt = Date.now();
      master.signal('SIGTERM');
      expect(await withTimeout(goaway, 1000, 'no GOAWAY')).toBe(http2.constants.NGHTTP2_NO_ERROR);
      expect(await master.exit()).toEqual({ code: 0, signal: null });
      expect(Date.now() - stoppedAt).toBeLessThan(1000);
    } finally {
      session.destroy();
    }
  });

  test('h2: a stream in flight at SIGTERM is answered on its session after the GOAWAY', async () => {
    const { master, port } = await startMaster([fixture('protocols.mjs'), '-w', '1'], { env: { PROTOCOL: 'h2' } });
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca });
    session.on('error', () => undefined);
    try {
      const slow = h2Get(session, '/slow?ms=500');
      await master.waitFor(/slow request in pid/);
      master.signal('SIGTERM');
      expect(Number(await slow)).toBeGreaterThan(0);
      expect(await master.exit()).toEqual({ code: 0, signal: null });
    } finally {
      session.destroy();
    }
  });
});

describe('raw TCP and TLS: only the app can end its connections', () => {
  const connect = (protocol: string, port: number): Promise<{ socket: net.Socket; ended: Promise<string> }> =>
    new Promise((resolve, reject) => {
      const socket = protocol === 'tls' ? tls.connect({ port, host: '127.0.0.1', ca, servername: 'localhost' }) : net.connect(port, '127.0.0.1');
      let text = '';
      const ended = new Promise<string>((done) => socket.once('close', () => done(text)));
      socket.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk;
        if (text.includes('\n')) resolve({ socket, ended });
      });
      socket.once('error', reject);
    });

  test.each(['net', 'tls'])('%s: the app ends its sockets in onDrain; exit 0 at once', async (protocol) => {
    const { master, port } = await startMaster([fixture('raw-tcp.mjs'), '-w', '1'], { env: { PROTOCOL: protocol, ON_DRAIN: 'end' } });
    const { ended } = await connect(protocol, port);
    const stoppedAt = Date.now();
    master.signal('SIGTERM');
    expect(await withTimeout(ended, 2000, 'not ended')).toMatch(/bye\n$/);
    expect(await master.exit()).toEqual({ code: 0, signal: null });
    expect(Date.now() - stoppedAt).toBeLessThan(1500);
  });

  test('net: an app that does not end them is cut at --kill-timeout, and the exit code says so', async () => {
    const { master, port } = await startMaster([fixture('raw-tcp.mjs'), '-w', '1', '--kill-timeout', '500'], { env: { PROTOCOL: 'net' } });
    const { ended } = await connect('net', port);
    master.signal('SIGTERM');
    await withTimeout(ended, 3000, 'not cut');
    expect((await master.exit()).code).toBe(1);
    expect(master.stderr).toMatch(/worker 1 \(pid \d+\) exited \(exit code 1\) with 1 connection open: cut/);
  });
});

describe('WebSockets: the onDrain recipe closes them with 1001', () => {
  const connect = (port: number): Promise<{ ws: WebSocket; pid: number; closed: Promise<number> }> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/`);
      const closed = new Promise<number>((done) => ws.once('close', (code) => done(code)));
      ws.once('message', (data) => resolve({ ws, pid: Number(String(data)), closed }));
      ws.once('error', reject);
    });

  test('on a rolling reload, and on shutdown (exit 0, well before the kill timeout)', async () => {
    const { master, port } = await startMaster([fixture('ws-drain.mjs'), '-w', '1', '--kill-timeout', '5000']);
    const first = await connect(port);
    master.signal('SIGHUP');
    expect(await withTimeout(first.closed, 3000, 'not closed on reload')).toBe(1001);
    await master.waitFor(/reload done: 1 worker replaced/);
    const second = await connect(port);
    expect(second.pid).not.toBe(first.pid);
    const stoppedAt = Date.now();
    master.signal('SIGTERM');
    expect(await withTimeout(second.closed, 3000, 'not closed on shutdown')).toBe(1001);
    expect(await master.exit()).toEqual({ code: 0, signal: null });
    expect(Date.now() - stoppedAt).toBeLessThan(2000);
  });
});

describe('the exit code tells the truth', () => {
  test("PM2's recipe, server.close() then exit: the request in flight is answered, exit 0", async () => {
    const { master, url } = await startMaster([fixture('signal-exit.mjs'), '-w', '1'], { env: { EXIT_STYLE: 'pm2' } });
    const slow = get(`${url}/slow?ms=500`);
    await master.waitFor(/slow request in pid/);
    master.signal('SIGTERM');
    expect((await slow).status).toBe(200);
    expect(await master.exit()).toEqual({ code: 0, signal: null });
    expect(master.output).not.toMatch(/ERR_SERVER_NOT_RUNNING|cut/);
  });

  test('process.exit(0) on SIGINT with a request in flight: exit 1, and a line says what was cut', async () => {
    const { master, url } = await startMaster([fixture('signal-exit.mjs'), '-w', '1'], { env: { EXIT_STYLE: 'now' } });
    const slow = get(`${url}/slow?ms=2000`);
    await master.waitFor(/slow request in pid/);
    master.signal('SIGTERM');
    await expect(slow).rejects.toThrow();
    expect((await master.exit()).code).toBe(1);
    expect(master.stderr).toMatch(/worker 1 \(pid \d+\) exited \(exit code 0\) with 1 request unanswered: cut/);
    expect(master.stderr).toMatch(/cut over this run: 1 request in flight/);
  });

  test('SIGTERM during a rolling reload, no traffic: every worker, old and new, drains; exit 0', async () => {
    const { master } = await startMaster([fixture('pid.mjs'), '-w', '2']);
    const old = childPids(master.pid);
    master.signal('SIGHUP');
    await master.waitFor(/rolling reload of 2 workers/);
    master.signal('SIGTERM');
    expect(await master.exit()).toEqual({ code: 0, signal: null });
    await eventually(() => old.every((pid) => !isAlive(pid)), 2000, 'old workers gone');
    expect(master.output).not.toMatch(/SIGKILL|cut|did not finish cleanly/);
  });
  test('SIGTERM while a crashed worker\'s replacement is still starting: it is drained too, not SIGKILLed; exit 0', async () => {
    // The drain reaches the replacement before its runtime listens for it; the master says it again at 'online'.
    const { master } = await startMaster([fixture('pid.mjs'), '-w', '2']);
    const [victim] = childPids(master.pid);
    process.kill(victim as number, 'SIGKILL');
    await master.waitFor(/exited unexpectedly/);
    const signalled = Date.now();
    master.signal('SIGTERM');
    expect(await master.exit()).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalled).toBeLessThan(3000); // not --kill-timeout + 1 s
    expect(master.output).not.toMatch(/: SIGKILL|cut|did not finish cleanly/);
  });
});
