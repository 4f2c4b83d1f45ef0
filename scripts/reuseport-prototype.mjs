#!/usr/bin/env node
// Prototype for --scheduler reuseport (issue 18, item 2): not wired into the
// master; it answers the questions the scheduler depends on, with numbers.
//
//   node scripts/reuseport-prototype.mjs [--slots 3] [--concurrency 16] [--rounds 1] [--json]
//
// (after `npm run build`: it uses the master's own Listener from dist/.)
//
// What it does, loopback only, every wait bounded (about 20 s in all, + 7 s a round):
//  0. Refuses in one line, exit 2, where Node has no SO_REUSEPORT (< 22.12).
//  1. The master binds one listening socket per slot on one port with
//     UV_TCP_REUSEPORT, before any fork, and keeps a descriptor of each that
//     its event loop never polls (Listener.pause(): the spare of handle-dup.ts).
//     Each worker gets its slot's socket over IPC (a net.Native handle, as the
//     shared scheduler sends its one socket) and calls server.listen(handle).
//     Load on fresh connections: every worker serves, the kernel's spread.
//  2. A worker is SIGKILLed while idle; load goes on; its replacement arrives
//     300 ms later with the SAME socket (the master's descriptor kept it, and
//     its queue, alive). Connections hashed to that slot meanwhile wait in the
//     kernel and are answered: 0 resets expected.
//  2b. The same, killed under load: the only failures allowed are the
//     connections the killed worker had accepted and not yet answered.
//  2c. Killed under load, and until the replacement is ready the master
//     accepts on its own descriptor of the slot's socket and forwards what it
//     takes to the other workers (the rr path): nothing waits for the fork.
//  3. Scaling down a slot under load, three ways:
//     close  the worker stops accepting and the master closes the slot's socket
//            at once: whatever the kernel queued there is reset;
//     drain  the master accepts on its own descriptor of the socket until
//            EAGAIN (one poll phase), forwards what it took to a remaining
//            worker, and closes: only the connections that land in the gap
//            between the last accept and the close are reset;
//     park   the master keeps the socket and goes on accepting and forwarding
//            on it (the rr path) until scaled up again: nothing is reset.
//
// Roles: with no role argument this is the master; `worker <slot>` and
// `client <port> <ms> <concurrency>` are its children.
//
// Found with it (2026-12-01, Node 24.22.3 and 22.23.5, Linux 6.18, 2 busy
// cores, 3 slots, 16 concurrent clients, scale-down 3 rounds each):
//  - Node 20 has no UV_TCP_REUSEPORT and ignores listen({ reusePort: true })
//    silently (the second listen gets EADDRINUSE); _createServerHandle with
//    flag 2 binds, then listen() fails with EADDRINUSE. Refuse on the flag's
//    absence (reusePortFlag() in node-internals.ts), not on a version number.
//  - The slot's socket outlives its worker: a replacement gets the same
//    socket (same inode), and what queued meanwhile is answered, 0 resets;
//    the wait is the fork (max latency 470-540 ms with a 300 ms gap), or
//    ~60-160 ms if the master accepts on the socket until the replacement is
//    ready (2c). Killed under load: only what the worker held fails.
//  - Closing a slot's socket resets its queue, and a socket nobody accepts on
//    soon holds every client in flight (16 of 16 reset). Accept-until-EAGAIN
//    then close cannot be made safe from Node under load: 0, 9, 0 resets in
//    three rounds (the connections hashed to it between the last accept and
//    the close). Parking (the master keeps accepting on it and hands out
//    what it takes) resets nothing; so does any close with
//    net.ipv4.tcp_migrate_req = 1 (per network namespace; 0 by default).

import { fork } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const self = fileURLToPath(import.meta.url);
const dist = path.resolve(path.dirname(self), '../dist');
const REQUEST = 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n';

const role = process.argv[2];
if (role === 'worker') runWorker(Number(process.argv[3]));
else if (role === 'client') runClient(Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]));
else await runMaster();

/** `socket:[inode]` of a descriptor: the same inode is the same socket. */
function inodeOf(fd) {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return `fd ${fd}`;
  }
}

// ---- worker ------------------------------------------------------------------

function runWorker(slot) {
  let handled = 0;
  const server = http.createServer((req, res) => {
    handled++;
    res.setHeader('Connection', 'close');
    res.end(`slot=${slot} pid=${process.pid}\n`);
  });
  process.on('message', (message, handle) => {
    if (message?.cmd === 'listen') {
      // The public API takes a raw TCP handle: net.js sets it as _handle and listen()s on it.
      server.listen(handle, () => {
        process.send({ cmd: 'ready', slot, pid: process.pid, socket: inodeOf(server._handle.fd) });
      });
    } else if (message?.cmd === 'conn') {
      // A connection the master accepted on this worker's behalf (drain, park).
      server.emit('connection', new net.Socket({ handle, readable: true, writable: true }));
    } else if (message?.cmd === 'stop') {
      // Stop accepting: closes this process's descriptor; the socket lives on in the master.
      // net.Server's close, not http.Server's: since Node 19 the latter also
      // calls closeIdleConnections(), which destroys connections accepted a
      // moment ago whose request has not been parsed yet -- resets that are
      // not the socket's doing. Every response is Connection: close, so
      // nothing idles and the worker exits once its last response is sent.
      net.Server.prototype.close.call(server, () => process.exit(0));
      setTimeout(() => process.exit(0), 2000).unref();
    } else if (message?.cmd === 'count') {
      server.getConnections((error, open) => process.send({ cmd: 'count', handled, open }));
    }
  });
  process.on('disconnect', () => process.exit(0));
}

// ---- client ------------------------------------------------------------------

/** Keeps `concurrency` fresh connections in flight for `ms`, then prints what happened as JSON. */
function runClient(port, ms, concurrency) {
  const started = performance.now();
  setTimeout(() => process.exit(1), ms + 10_000).unref();
  const stats = { connections: 0, ok: 0, errors: {}, errorTimes: [], timeouts: 0, perSlot: {}, latencies: [] };
  let inFlight = 0;
  const one = () => {
    inFlight++;
    stats.connections++;
    const t0 = performance.now();
    let body = '';
    let done = false;
    const finish = (error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      inFlight--;
      const slot = /^HTTP\/1\.1 200[\s\S]*slot=(\d+)/.exec(body)?.[1];
      if (error === 'timeout') stats.timeouts++;
      else if (slot !== undefined && !error) {
        stats.ok++;
        stats.perSlot[slot] = (stats.perSlot[slot] ?? 0) + 1;
        stats.latencies.push(performance.now() - t0);
      } else {
        const code = error?.code ?? 'bad-response';
        stats.errors[code] = (stats.errors[code] ?? 0) + 1;
        stats.errorTimes.push(Date.now()); // wall clock, to compare with the master's events
      }
      next();
    };
    const socket = net.connect({ port, host: '127.0.0.1' });
    const timer = setTimeout(() => {
      socket.destroy();
      finish('timeout');
    }, 5000);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(REQUEST));
    socket.on('data', (chunk) => (body += chunk));
    socket.on('error', (error) => finish(error));
    socket.on('close', () => finish(null));
  };
  const next = () => {
    if (performance.now() - started < ms) one();
    else if (inFlight === 0) report();
  };
  const report = () => {
    const sorted = stats.latencies.sort((a, b) => a - b);
    const at = (q) => (sorted.length ? Number(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))].toFixed(1)) : null);
    delete stats.latencies;
    stats.latencyMs = { p50: at(0.5), p99: at(0.99), max: sorted.length ? Number(sorted.at(-1).toFixed(1)) : null };
    process.send(stats, () => process.exit(0));
  };
  process.send('started');
  for (let i = 0; i < concurrency; i++) one();
}

// ---- master ------------------------------------------------------------------

async function runMaster() {
  const { values: flags } = parseArgs({
    args: process.argv.slice(2),
    options: { rounds: { type: 'string', default: '1' }, slots: { type: 'string', default: '3' }, concurrency: { type: 'string', default: '16' }, json: { type: 'boolean', default: false } },
  });
  const { reusePortFlag } = await import(pathToFileURL(path.join(dist, 'wire/node-internals.js')).href);
  const reuseFlag = reusePortFlag();
  if (reuseFlag === undefined) {
    // What `--scheduler reuseport` will print: one line, exit 2 (a wrong command line for this Node).
    console.error(`handoff: --scheduler reuseport needs Node.js 22.12 or newer (SO_REUSEPORT); this is Node ${process.version}`);
    process.exit(2);
  }
  const { Listener } = await import(pathToFileURL(path.join(dist, 'dispatch/listener.js')).href);

  const slots = Number(flags.slots);
  const concurrency = Number(flags.concurrency);
  const results = { node: process.version, kernel: fs.readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(), slots, concurrency };
  try {
    results.tcp_migrate_req = fs.readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim();
  } catch {
    results.tcp_migrate_req = 'absent';
  }
  const children = new Set();
  const limit = 60 + 15 * Number(flags.rounds);
  const deadline = setTimeout(() => {
    console.error(`reuseport prototype: gave up after ${limit} s`);
    for (const child of children) child.kill('SIGKILL');
    process.exit(1);
  }, limit * 1000);
  const log = (line) => flags.json || console.log(line);

  // 1. One socket per slot, all bound and listening before any fork.
  const first = Listener.bind('127.0.0.1', 0, reuseFlag);
  const port = first.address.port;
  const listeners = [first];
  for (let slot = 1; slot < slots; slot++) listeners.push(Listener.bind('127.0.0.1', port, reuseFlag));
  // The master stops polling each socket; the spare descriptor keeps it listening.
  const kept = [];
  for (const listener of listeners) {
    listener.pause();
    const handle = await listener.sharedHandle();
    kept.push(handle);
  }
  await tick(20); // let each pause close the polled descriptor
  results.masterSockets = kept.map((handle) => inodeOf(handle.fd));
  log(`net.ipv4.tcp_migrate_req = ${results.tcp_migrate_req} (1: the kernel moves a closed socket's queue to another socket of the group)`);
  log(`node ${process.version}, ${slots} reuseport sockets on 127.0.0.1:${port}: ${results.masterSockets.join(' ')}`);

  const workers = new Array(slots);
  const startWorker = (slot) =>
    new Promise((resolve, reject) => {
      const child = fork(self, ['worker', String(slot)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      children.add(child);
      child.on('exit', () => children.delete(child));
      const timer = setTimeout(() => reject(new Error(`worker for slot ${slot} not ready in 3 s`)), 3000);
      child.on('message', (message) => {
        if (message?.cmd !== 'ready') return;
        clearTimeout(timer);
        workers[slot] = child;
        resolve({ pid: message.pid, socket: message.socket, child });
      });
      child.send({ cmd: 'listen' }, kept[slot]);
    });
  const forkedAt = performance.now();
  const first_ = await Promise.all(Array.from({ length: slots }, (_, slot) => startWorker(slot)));
  results.workerSockets = first_.map((w) => w.socket);
  results.sameSocketInWorkers = first_.every((w, slot) => w.socket === results.masterSockets[slot]);
  log(`workers ready in ${Math.round(performance.now() - forkedAt)} ms; each has its slot's socket: ${results.sameSocketInWorkers}`);

  /** A client process; `started` once it sends its first connection, `done` with what it saw. */
  const load = (ms) => {
    const child = fork(self, ['client', String(port), String(ms), String(concurrency)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.add(child);
    let stats = {};
    const started = new Promise((resolve) => child.once('message', resolve));
    child.on('message', (message) => message !== 'started' && (stats = message));
    const done = new Promise((resolve) => child.on('exit', () => (children.delete(child), resolve(stats))));
    return { started, done };
  };
  const show = (name, r) =>
    log(
      `${name.padEnd(30)} ${String(r.connections).padStart(6)} conns  ok ${r.ok}  errors ${JSON.stringify(r.errors)}` +
        `  timeouts ${r.timeouts}  per slot ${JSON.stringify(r.perSlot)}  p50 ${r.latencyMs?.p50} p99 ${r.latencyMs?.p99} max ${r.latencyMs?.max} ms` +
        (r.acceptedByMaster ? `  accepted by the master ${r.acceptedByMaster}` : '') +
        (r.errorTimes?.length ? `  errors at ${r.errorTimes.join(',')} ms from the kill / the worker's exit` : ''),
    );

  // 1. Spread; the master's CPU while it does nothing per connection.
  const cpu0 = process.cpuUsage();
  const spreadLoad = load(1500);
  await spreadLoad.started;
  results.spread = await spreadLoad.done;
  const cpu = process.cpuUsage(cpu0);
  results.spread.masterCpuMs = Math.round((cpu.user + cpu.system) / 1000);
  show('1 spread (1.5 s)', results.spread);
  log(`${''.padEnd(30)} the master's CPU meanwhile: ${results.spread.masterCpuMs} ms (it does nothing per connection)`);

  /** The rr path, reduced: send a connection the master accepted to a worker, close the master's copy once written. */
  const forward = (handle, target = workers[0]) => {
    target.send({ cmd: 'conn' }, handle, () => handle.close());
  };

  // 2. Replacement inherits the socket: kill, replacement forked 300 ms after the exit.
  //    how: 'idle' (killed before the load), 'load' (killed under load),
  //    'cover' (under load, and the master accepts on the slot's socket and
  //    forwards to the other workers until the replacement is ready).
  const replace = async (name, how) => {
    const victim = workers[0];
    const listener = listeners[0];
    let running;
    if (how !== 'idle') {
      running = load(1500);
      await running.started;
      await tick(400);
    }
    // What the victim holds a moment before the kill: the failures it may cause.
    const held = await new Promise((resolve) => {
      victim.once('message', (message) => resolve(message.open));
      victim.send({ cmd: 'count' });
    });
    const killedAt = Date.now();
    victim.kill('SIGKILL');
    await new Promise((resolve) => (victim.exitCode !== null || victim.signalCode !== null ? resolve() : victim.once('exit', resolve)));
    let accepted = 0;
    if (how === 'cover') {
      listener.onconnection = (client) => {
        accepted++;
        forward(client, workers[1 + (accepted % (slots - 1))]);
      };
      listener.resume();
    }
    if (how === 'idle') {
      running = load(1500);
      await running.started;
    }
    await tick(300); // the slot has no worker: its connections queue in the kernel (or the master takes them)
    const replacement = await startWorker(0);
    if (how === 'cover') {
      listener.pause(); // the replacement accepts on the socket now; the master keeps a spare
      kept[0] = await listener.sharedHandle();
    }
    const r = await running.done;
    r.acceptedByMaster = accepted;
    r.errorTimes = r.errorTimes.map((time) => time - killedAt); // from the kill
    r.heldByVictim = held;
    r.replacementSocket = replacement.socket;
    r.sameSocket = replacement.socket === results.masterSockets[0];
    show(name, r);
    log(`${''.padEnd(30)} the killed worker held ${held} connection(s) a moment before; replacement pid ${replacement.pid} on ${replacement.socket}: same socket as before: ${r.sameSocket}`);
    return r;
  };
  results.replaceIdle = await replace('2 replace (killed idle)', 'idle');
  results.replaceUnderLoad = await replace('2b replace (killed under load)', 'load');
  results.replaceCovered = await replace('2c replace, master covers gap', 'cover');

  // 3. Scale down the last slot under load, three ways; each scale-up re-creates the slot.
  const scaleDown = async (name, how) => {
    const slot = slots - 1;
    const listener = listeners[slot];
    const running = load(1500);
    await running.started;
    await tick(500);
    const worker = workers[slot];
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    worker.send({ cmd: 'stop' }); // its descriptor closes; the master's keeps the socket listening
    await exited;
    const t0 = performance.now();
    const stoppedAt = Date.now();
    let accepted = 0;
    if (how === 'close') {
      listener.close();
    } else {
      listener.onconnection = (client) => {
        accepted++;
        forward(client);
      };
      listener.resume(); // listen() on the master's own descriptor: libuv accepts until EAGAIN in each poll
      if (how === 'drain') {
        await tick(0); // resume() listens once its spare is ready (a microtask)
        await immediate(); // a poll phase with the socket watched: the queue is accepted until EAGAIN...
        await immediate();
        listener.close(); // ...then close, in the next check phase
      }
    }
    const r = await running.done;
    r.acceptedByMaster = accepted;
    // Each failure's time, from the moment the worker had exited (and, but for park, the master closed soon after).
    r.errorTimes = r.errorTimes.map((time) => time - stoppedAt);
    r.msFromStopToClose = how === 'park' ? null : Number((performance.now() - t0).toFixed(2));
    show(name, r);
    if (how === 'park') listener.close(); // the load is over: nothing is queued
    // Back to `slots` sockets and workers for the next round.
    listeners[slot] = Listener.bind('127.0.0.1', port, reuseFlag);
    listeners[slot].pause();
    kept[slot] = await listeners[slot].sharedHandle();
    await tick(20);
    results.masterSockets[slot] = inodeOf(kept[slot].fd);
    await startWorker(slot);
    return r;
  };
  const rounds = Number(flags.rounds);
  for (const [key, name, how] of [
    ['scaleDownClose', '3 scale down: close at once', 'close'],
    ['scaleDownDrain', '3 scale down: drain, close', 'drain'],
    ['scaleDownPark', '3 scale down: park (no close)', 'park'],
  ]) {
    results[key] = [];
    for (let round = 0; round < rounds; round++) results[key].push(await scaleDown(name, how));
  }

  for (const child of children) child.kill('SIGKILL');
  for (const listener of listeners) listener.close();
  clearTimeout(deadline);
  if (flags.json) console.log(JSON.stringify(results, null, 2));
  process.exit(0);
}

function tick(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function immediate() {
  return new Promise((resolve) => setImmediate(resolve));
}
