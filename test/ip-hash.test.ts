// ip-hash: one client address, one worker; a worker replaced moves only its own clients.

import { afterEach, describe, expect, test } from 'vitest';
import { clientKey, createIpHash, rankSlots } from '../dist/scheduler/ip-hash.js';
import type { ConnectionInfo, WorkerView } from '../dist/index.js';
import { get } from './helpers/http.js';
import { fixture, startMaster, stopAllMasters } from './helpers/process.js';

afterEach(stopAllMasters);

describe('the hash', () => {
  const view = (slot: number, busy = false): WorkerView => ({ id: slot + 1, slot, pid: 0, state: 'listening', inFlight: 0, active: 0, busy, unansweredMs: 0, late: false, elu: null, loopDelayP99: null });
  const connection = (remoteAddress: string, attempts = 0): ConnectionInfo => ({ seq: 1, remoteAddress, attempts });
  const clients = Array.from({ length: 2000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  const place = (workers: WorkerView[]): Map<string, number> => {
    const scheduler = createIpHash();
    return new Map(clients.map((client) => [client, scheduler.pick(connection(client), workers)?.slot as number]));
  };

  test('spreads clients evenly over the slots', () => {
    const placed = place([0, 1, 2, 3].map((slot) => view(slot)));
    const perSlot = [0, 1, 2, 3].map((slot) => [...placed.values()].filter((s) => s === slot).length);
    for (const count of perSlot) {
      expect(count).toBeGreaterThan(500 * 0.85);
      expect(count).toBeLessThan(500 * 1.15);
    }
  });

  test('a vacant slot moves only its own clients, spread over the others, and they all come back', () => {
    const four = [0, 1, 2, 3].map((slot) => view(slot));
    const before = place(four);
    const during = place(four.filter((worker) => worker.slot !== 2));
    const after = place(four);
    const moved = clients.filter((client) => before.get(client) !== during.get(client));
    expect(moved.length).toBeGreaterThan(0);
    for (const client of moved) expect(before.get(client)).toBe(2);
    expect(moved.length).toBe(clients.filter((client) => before.get(client) === 2).length);
    // each goes to its second choice, and those are spread too (not all onto one neighbour)
    const secondChoices = new Set(moved.map((client) => during.get(client)));
    expect(secondChoices).toEqual(new Set([0, 1, 3]));
    for (const client of moved) expect(during.get(client)).toBe(rankSlots(client, [0, 1, 2, 3])[1]);
    expect(after).toEqual(before);
  });

  test('IPv4-mapped IPv6 is the IPv4 client; IPv6 clients are placed too', () => {
    expect(clientKey('::ffff:127.0.0.2')).toBe('127.0.0.2');
    expect(clientKey('::FFFF:10.1.2.3')).toBe('10.1.2.3');
    expect(clientKey('2001:DB8::1')).toBe('2001:db8::1');
    const scheduler = createIpHash();
    const workers = [0, 1, 2, 3].map((slot) => view(slot));
    expect(scheduler.pick(connection('::ffff:127.0.0.2'), workers)).toBe(scheduler.pick(connection('127.0.0.2'), workers));
    const v6 = Array.from({ length: 400 }, (_, i) => `2001:db8::${i.toString(16)}`);
    const slots = new Set(v6.map((address) => scheduler.pick(connection(address), workers)?.slot));
    expect(slots).toEqual(new Set([0, 1, 2, 3]));
    for (const address of v6) expect(scheduler.pick(connection(address), workers)).toBe(scheduler.pick(connection(address), workers));
  });

  test('a busy worker still gets its clients, except a connection it already refused', () => {
    const scheduler = createIpHash();
    const workers = [0, 1, 2].map((slot) => view(slot));
    const client = '192.168.1.7';
    const [first, second] = rankSlots(client, [0, 1, 2]) as [number, number];
    workers[first] = view(first, true);
    expect(scheduler.pick(connection(client), workers)?.slot).toBe(first);
    expect(scheduler.pick(connection(client, 1), workers)?.slot).toBe(second);
  });
});

describe('over real connections', () => {
  const app = fixture('scheduling.mjs');
  const clients = Array.from({ length: 30 }, (_, i) => `127.0.0.${i + 2}`);

  /** Each client makes 3 requests; returns client -> "pid slot", failing if a client was served by two workers. */
  async function placeAll(url: string): Promise<Map<string, string>> {
    const placed = new Map<string, string>();
    await Promise.all(
      clients.map(async (client) => {
        for (let i = 0; i < 3; i++) {
          const reply = await get(url, { localAddress: client });
          const served = reply.body.trim();
          expect(placed.get(client) ?? served, `${client} moved between requests`).toBe(served);
          placed.set(client, served);
        }
      }),
    );
    return placed;
  }

  test('each client stays on one worker; when a worker is replaced only its clients move, and they come back to its slot', async () => {
    // Replacements (worker ids above 3) wait for SIGUSR2 before they listen, so the slot stays vacant while we look.
    const { master, url } = await startMaster([app, '-w', '3', '--scheduler', 'ip-hash', '--listen-timeout', '20s', '--trace', '--', '--gate-after', '3']);
    const before = await placeAll(url);
    const workers = new Set(before.values());
    expect(workers.size).toBe(3);
    expect(master.steps({ who: 'master', step: /^scheduler ip-hash picked w\d: 127\.0\.0\.\d+ hashes to slot \d/ }).length).toBeGreaterThan(0);

    // Kill the worker with the most clients.
    const byWorker = (placed: Map<string, string>, served: string): string[] => clients.filter((client) => placed.get(client) === served);
    const victim = [...workers].sort((a, b) => byWorker(before, b).length - byWorker(before, a).length)[0] as string;
    const [victimPid, victimSlot] = victim.split(' ');
    const itsClients = byWorker(before, victim);
    process.kill(Number(victimPid), 'SIGKILL');
    const replacementPid = (await master.waitForStep({ worker: 4, step: new RegExp(`^forked into slot ${victimSlot}$`) })).workerPid as number;
    await master.waitFor(new RegExp(`pid ${replacementPid} waits for SIGUSR2`));

    // The slot is vacant: its clients go to their second choice; nobody else moves.
    const during = await placeAll(url);
    for (const client of clients) {
      if (itsClients.includes(client)) expect(during.get(client)).not.toBe(victim);
      else expect(during.get(client)).toBe(before.get(client));
    }
    expect(master.steps({ who: 'master', step: new RegExp(`^scheduler ip-hash picked w\\d: .+ hashes to slot \\d \\(its first choice, slot ${victimSlot}, is vacant\\)$`) }).length).toBeGreaterThan(0);

    // The replacement listens in the same slot: those clients come back to it, and still nobody else moved.
    process.kill(replacementPid, 'SIGUSR2');
    await master.waitForStep({ worker: 4, step: /^ready/ });
    const after = await placeAll(url);
    for (const client of clients) {
      if (itsClients.includes(client)) expect(after.get(client)).toBe(`${replacementPid} ${victimSlot}`);
      else expect(after.get(client)).toBe(before.get(client));
    }
    console.log(`ip-hash: ${itsClients.length} of ${clients.length} clients were on the killed worker; only they moved`);
  });
});
