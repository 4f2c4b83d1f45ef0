// --scheduler reuseport: a listening socket per slot on one port (SO_REUSEPORT).
// Node 22.12+ only: on an older Node these tests are skipped, saying why, and
// the refusal is tested instead. CI's Node 24 run sets HANDOFF_REQUIRE_REUSEPORT=1,
// so there a skip is a failure, not a silent pass.

import path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { reusePortFlag } from '../../dist/wire/node-internals.js';
import { ctl, ctlStatus, removeTempDirs, tempDir } from '../helpers/control.js';
import { failures, get, getMany, steadyLoad, type Reply } from '../helpers/http.js';
import { fixture, runCli, startMaster, stopAllMasters, type MasterProcess } from '../helpers/process.js';

afterEach(async () => {
  await stopAllMasters();
  removeTempDirs();
});

const supported = reusePortFlag() !== undefined;
const why = `Node ${process.version} has no SO_REUSEPORT (UV_TCP_REUSEPORT came with 22.12)`;
if (!supported) console.warn(`reuseport tests skipped: ${why}; the refusal is tested instead`);

const app = fixture('scheduling.mjs');
/** "pid slot socket:[inode]", as the fixture's /socket answers. */
const parse = (reply: Reply): { pid: number; slot: number; socket: string } => {
  const [pid, slot, socket] = reply.body.trim().split(' ');
  return { pid: Number(pid), slot: Number(slot), socket: socket ?? '' };
};

/** Fresh connections until one lands on `slot` (the kernel hashes each to a socket); bounded. */
async function askSlot(url: string, slot: number): Promise<ReturnType<typeof parse>> {
  for (let i = 0; i < 300; i++) {
    const answer = parse(await get(`${url}/socket`));
    if (answer.slot === slot) return answer;
  }
  throw new Error(`300 connections and none reached slot ${slot}`);
}

const workerStep = (master: MasterProcess, worker: number, step: RegExp): Promise<unknown> => master.waitForStep({ who: 'master', worker, step });

describe.runIf(!supported)(`reuseport refused: ${why}`, () => {
  test('the start is refused in one line naming the Node needed, exit 2, nothing forked', async () => {
    const result = await runCli([app, '--scheduler', 'reuseport', '--port', '0']);
    expect(result.code).toBe(2);
    expect(result.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^handoff: --scheduler reuseport needs Node\.js 22\.12 or newer .*this is Node v\d+/)]);
    expect(result.stdout).toBe('');
  });
});

test('CI runs these tests where it promises to (HANDOFF_REQUIRE_REUSEPORT)', () => {
  if (process.env['HANDOFF_REQUIRE_REUSEPORT'] === '1') expect(supported, why).toBe(true);
});

describe.skipIf(!supported)('reuseport', () => {
  test('every worker accepts on its own slot socket and serves; ctl status shows the sockets; SIGTERM exits 0', async () => {
    const control = path.join(tempDir(), 'm.sock');
    const { master, url } = await startMaster([app, '-w', '3', '--scheduler', 'reuseport', '--control', control, '--trace']);
    const answers = (await getMany(`${url}/socket`, 150, 6)).map(parse);
    const slots = new Map<number, Set<string>>();
    for (const answer of answers) slots.set(answer.slot, (slots.get(answer.slot) ?? new Set()).add(answer.socket));
    expect([...slots.keys()].sort()).toEqual([0, 1, 2]);
    // One socket per slot, and three different ones.
    for (const sockets of slots.values()) expect(sockets.size).toBe(1);
    expect(new Set(answers.map((a) => a.socket)).size).toBe(3);
    // The workers accepted every one themselves: the master took none.
    expect(master.steps({ who: 'master', step: /^accepted by the master/ })).toEqual([]);
    const status = await ctlStatus(control);
    expect(status.slotSockets?.map((s) => [s.slot, s.acceptedBy, s.takenByMaster])).toEqual([
      [0, 'worker', 0],
      [1, 'worker', 0],
      [2, 'worker', 0],
    ]);
    const text = await ctl(['status', '--control', control]);
    expect(text.stdout).toMatch(/^sockets {2}slot 0: w\d {2}slot 1: w\d {2}slot 2: w\d$/m);
    master.signal('SIGTERM');
    expect(await master.exit()).toEqual({ code: 0, signal: null });
  });

  test("a replacement inherits its slot's socket, and what queued in it meanwhile is answered", async () => {
    // One worker, so nobody else can take the slot's connections; the replacement waits for SIGUSR2
    // before it listens, and --max-pending 2 makes the master leave the rest in the socket's queue.
    const { master, url } = await startMaster([app, '-w', '1', '--scheduler', 'reuseport', '--max-pending', '2', '--trace', '--', '--gate-after', '1']);
    const before = parse(await get(`${url}/socket`));
    process.kill(before.pid, 'SIGKILL');
    await workerStep(master, 1, /^left slot 0's socket/);
    const replacement = Number((await master.waitFor(/pid (\d+) waits for SIGUSR2/))[1]);

    const first = [get(url), get(url)];
    await master.waitForStep({ who: 'master', step: /^master holds 2 connections: accepting paused/ });
    const queued = Array.from({ length: 4 }, () => get(url)); // these wait in the kernel, in slot 0's socket
    process.kill(replacement, 'SIGUSR2');
    const replies = await Promise.all([...first, ...queued]).catch((error: Error) => {
      throw new Error(`${error.message}\n${master.output}`);
    });
    expect(replies.map((r) => r.status)).toEqual(Array(6).fill(200));
    for (const reply of replies) expect(Number(reply.body.split(' ')[0])).toBe(replacement);
    // The two the master held were handed over; the four in the queue the replacement accepted itself, from the same socket.
    expect(master.steps({ who: 'master', step: /^accepted by the master/ })).toHaveLength(2);
    await master.waitForSteps({ who: 'w2', step: /^accepted by the worker itself/ }, 4); // its lines come through the master
    const after = parse(await get(`${url}/socket`));
    expect(after).toEqual({ pid: replacement, slot: 0, socket: before.socket });
  });

  test('while a slot has no worker the master accepts on its socket and the others answer; then its replacement gets the same socket', async () => {
    const control = path.join(tempDir(), 'm.sock');
    const { master, url } = await startMaster([app, '-w', '2', '--scheduler', 'reuseport', '--control', control, '--trace', '--', '--gate-after', '2']);
    const before = await askSlot(url, 0);
    process.kill(before.pid, 'SIGKILL');
    await master.waitForStep({ who: 'master', step: /^left slot 0's socket/ });
    const replacement = Number((await master.waitFor(/pid (\d+) waits for SIGUSR2/))[1]);
    const replies = await getMany(url, 40, 4);
    expect(replies.map((r) => r.status)).toEqual(Array(40).fill(200));
    expect(new Set(replies.map((r) => r.body.trim().split(' ')[1]))).toEqual(new Set(['1']));
    const gap = await ctlStatus(control);
    expect(gap.slotSockets?.[0]).toMatchObject({ slot: 0, acceptedBy: 'master' });
    expect(gap.slotSockets?.[0]?.takenByMaster).toBeGreaterThan(0);
    process.kill(replacement, 'SIGUSR2');
    await master.waitForStep({ who: 'master', workerPid: replacement, step: /^accepts on slot 0's socket/ });
    expect(await askSlot(url, 0)).toEqual({ pid: replacement, slot: 0, socket: before.socket });
  });

  test('scaling up adds a socket; scaling down parks it (the master accepts there); scaling up again reuses it; no connection fails', async () => {
    const control = path.join(tempDir(), 'm.sock');
    const { master, url } = await startMaster([app, '-w', '2', '--scheduler', 'reuseport', '--control', control, '--trace']);
    const slot1 = await askSlot(url, 1);
    const load = steadyLoad(url, 4);
    await load.answered(50);

    expect((await ctl(['scale', '3', '--control', control])).code).toBe(0);
    await master.waitForStep({ who: 'master', step: /^accepts on slot 2's socket/ });
    await load.answered(100);
    expect((await ctlStatus(control)).slotSockets?.map((s) => s.acceptedBy)).toEqual(['worker', 'worker', 'worker']);

    expect((await ctl(['scale', '1', '--control', control])).code).toBe(0);
    await master.waitForStep({ who: 'master', step: /^left slot 2's socket/ });
    await master.waitForStep({ who: 'master', step: /^left slot 1's socket/ });
    await load.answered(200);
    const parked = await ctlStatus(control);
    expect(parked.slotSockets?.map((s) => s.acceptedBy)).toEqual(['worker', 'master', 'master']);
    expect((parked.slotSockets?.[1]?.takenByMaster ?? 0) + (parked.slotSockets?.[2]?.takenByMaster ?? 0)).toBeGreaterThan(0);

    expect((await ctl(['scale', '2', '--control', control])).code).toBe(0);
    await master.waitForSteps({ who: 'master', step: /^accepts on slot 1's socket/ }, 2); // the first worker of slot 1, then this one
    await load.answered(50);
    const result = await load.stop();
    expect(result.errors).toEqual([]);
    console.log(`reuseport scale 2 -> 3 -> 1 -> 2 under load: ${result.ok} requests, 0 failed`);
    const again = await askSlot(url, 1);
    expect(again.socket).toBe(slot1.socket);
    expect(again.pid).not.toBe(slot1.pid);
    master.signal('SIGTERM');
    expect(await master.exit()).toEqual({ code: 0, signal: null });
  });

  test("SIGTERM while a worker is blocked: what waits in its slot's socket and in a parked one is answered, none reset", async () => {
    const { master, url } = await startMaster([fixture('block.mjs'), '-w', '2', '--scheduler', 'reuseport', '--trace']);
    master.signal('SIGTTOU'); // slot 1 is parked: the master accepts on its socket from now on
    await master.waitForStep({ who: 'master', step: /^left slot 1's socket/ });
    const blocked = get(`${url}/block?ms=1500`);
    await master.waitFor(/blocking pid/);
    // Hashed to slot 0's socket they wait in the kernel; to the parked one, in the master or in flight to the blocked worker.
    const replies = Array.from({ length: 10 }, () => get(url, { timeoutMs: 15_000 }));
    master.signal('SIGTERM');
    await master.waitFor(/SIGTERM, shutting down gracefully/);
    expect(await failures([blocked, ...replies])).toEqual([]);
    expect(await master.exit()).toEqual({ code: 0, signal: null });
  });
});
