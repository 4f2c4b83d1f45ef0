// Faults under load, with autocannon on loopback, bounded in time.

import fs from 'node:fs';
import { afterEach, expect, test } from 'vitest';
import { load } from './helpers/autocannon.js';
import { childPids, delay, fixture, isAlive, startMaster, stopAllMasters } from './helpers/process.js';

afterEach(stopAllMasters);

test('one request in a thousand throws: the failed requests are exactly the thrown ones', async () => {
  const { master, url } = await startMaster([fixture('faults.mjs'), '-w', '2', '--kill-timeout', '2000']);
  let sent = 0;
  const { done } = load({
    url,
    connections: 16,
    amount: 5000,
    timeout: 10,
    requests: [
      {
        setupRequest: (request) => {
          sent++;
          return sent % 1000 === 0 ? { ...request, path: '/throw' } : request;
        },
      },
    ],
  });
  const result = await done;
  const thrown = Math.floor(sent / 1000);
  console.log(`1-in-1000 throws: ${result.requests} requests, ${thrown} thrown, ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts`);
  expect(thrown).toBe(5);
  expect(result.non2xx).toBe(thrown); // each thrown request was answered 500
  expect(result.errors).toBe(0);
  expect(result.timeouts).toBe(0);
  expect(master.count(/threw Error: thrown on request/)).toBe(thrown);
});

/** Client connections a worker holds now: its TCP sockets, minus the IPC channel (Linux). */
function heldConnections(pid: number): number {
  try {
    const sockets = fs.readdirSync(`/proc/${pid}/fd`).filter((fd) => {
      try {
        return fs.readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:');
      } catch {
        return false;
      }
    });
    return Math.max(0, sockets.length - 1);
  } catch {
    return 0;
  }
}

const chaosSeconds = Number(process.env['HANDOFF_CHAOS_SECONDS'] ?? 20);
const KILL_EVERY_MS = 2000;

test(`SIGKILL a random worker every 2 s for ${chaosSeconds} s: nothing refused, failures limited to what the killed workers held`, async () => {
  // Ten kills in twenty seconds is the point of this test, not a crash loop: lift the throttle.
  const { master, url } = await startMaster([fixture('pid.mjs'), '-w', '3', '--max-restarts', '100']);
  const { done, stop } = load({ url, connections: 24, duration: chaosSeconds + 5, timeout: 10 });
  const kills: Array<{ pid: number; held: number }> = [];
  for (let second = 2; second <= chaosSeconds; second += 2) {
    await delay(KILL_EVERY_MS); // the chaos schedule itself, not a wait for a result
    const live = childPids(master.pid).filter(isAlive);
    const victim = live[Math.floor(Math.random() * live.length)];
    if (victim === undefined) continue;
    const held = heldConnections(victim);
    process.kill(victim, 'SIGKILL');
    kills.push({ pid: victim, held });
  }
  stop();
  const result = await done;
  const held = kills.reduce((sum, kill) => sum + kill.held, 0);
  const refused = result.errorCodes.get('ECONNREFUSED') ?? 0;
  console.log(
    `chaos: ${kills.length} SIGKILLs over ${chaosSeconds} s; ${result.requests} requests; ${result.errors} errors ` +
      `(${[...result.errorCodes].map(([code, n]) => `${code} ${n}`).join(', ') || 'none'}); ${result.timeouts} timeouts; ` +
      `connections held by the killed workers when killed: ${held}`,
  );
  expect(kills.length).toBe(Math.floor(chaosSeconds / 2));
  expect(refused).toBe(0);
  expect(result.non2xx).toBe(0);
  expect(result.errors + result.timeouts).toBeLessThanOrEqual(held);
  expect(result.requests).toBeGreaterThan(1000);
  expect(master.count(/giving up/)).toBe(0);
}, (chaosSeconds + 30) * 1000);
