// Broadcast and shared state through the master (Dong Yuanxin, "NodeJS 集群：cluster.js 和 PM2",
// https://dongyuanxin.github.io/2022-05-07-process-cluster/: 如何进行广播, 如何实现状态共享).

import { afterEach, describe, expect, test } from 'vitest';
import { get, getMany } from './helpers/http.js';
import { childPids, eventually, example, fixture, startMaster, stopAllMasters } from './helpers/process.js';

afterEach(stopAllMasters);

/** Asks every worker (rr reaches each in turn) for its view of the count. */
async function countsSeen(url: string, workers: number): Promise<Map<number, number>> {
  const replies = await getMany(`${url}/count`, workers * 2, 1);
  return new Map(replies.map((reply) => {
    const { pid, visits } = JSON.parse(reply.body) as { pid: number; visits: number };
    return [pid, visits];
  }));
}

describe('examples/visit-counter.js', () => {
  test('the count kept by the master is exact after N requests spread over all workers', async () => {
    const { url } = await startMaster([example('visit-counter.js'), '-w', '3']);
    const replies = await getMany(url, 300, 12);
    expect(replies.every((reply) => reply.status === 200 && reply.body.startsWith('visit total times is '))).toBe(true);
    expect(new Set(replies.map((reply) => /pid (\d+)/.exec(reply.body)?.[1])).size).toBe(3);
    let seen = new Map<number, number>();
    await eventually(async () => {
      seen = await countsSeen(url, 3);
      return seen.size === 3 && [...seen.values()].every((visits) => visits === 300);
    }, 5000, 'every worker to see 300 visits');
    expect([...seen.values()]).toEqual([300, 300, 300]);
  });

  test('a replacement worker has the current state before it gets its first request', async () => {
    const { master, url } = await startMaster([example('visit-counter.js'), '-w', '2', '--trace']);
    await getMany(url, 50, 5);
    await eventually(async () => [...(await countsSeen(url, 2)).values()].every((visits) => visits === 50), 5000, 'both workers to see 50');
    const [victim] = childPids(master.pid);
    process.kill(victim as number, 'SIGKILL');
    const replacement = (await master.waitForStep({ worker: 3, step: /^ready/ })).workerPid as number;
    // The very first answers from the new worker already know the count.
    const seen = await countsSeen(url, 2);
    expect(seen.get(replacement)).toBe(50);
    expect([...seen.values()]).toEqual([50, 50]);
  });
});

describe('examples/broadcast.js', () => {
  test('a message one worker broadcasts reaches the other, tagged with the sender', async () => {
    const { url } = await startMaster([example('broadcast.js'), '-w', '2']);
    const sent = await get(`${url}/say?text=hello`, { method: 'POST' });
    expect(sent.status).toBe(200);
    await eventually(async () => {
      const views = (await getMany(url, 4, 1)).map((reply) => JSON.parse(reply.body) as { worker: number; heard: Array<{ from: number; data: { text: string } }> });
      const other = views.find((view) => view.heard.length > 0);
      return other !== undefined && other.heard[0]?.data.text === 'hello' && other.heard[0].from !== other.worker;
    }, 5000, 'the other worker to hear the broadcast');
  });
});

describe('bad messages from user code', () => {
  test('malformed internal messages, oversized broadcasts and state are dropped; the master carries on', async () => {
    const { master, url } = await startMaster([fixture('misbehaving-ipc.mjs'), '-w', '2']);
    expect((await get(`${url}/abuse`)).status).toBe(200);
    await master.waitFor(/a broadcast message is 204802 bytes of JSON, over the 65536-byte limit; dropped/);
    await master.waitFor(/shared state not changed: the value for 'big' is 102402 bytes of JSON, over the 65536-byte limit/);
    const replies = await getMany(url, 10, 2);
    expect(replies.map((reply) => reply.status)).toEqual(Array(10).fill(200));
    expect(master.output).not.toMatch(/TypeError|unexpectedly/);
  });

  test.skipIf(process.env.HANDOFF_TRANSPORT === 'send')('acks the master cannot read: one warning, dropped; the master carries on', async () => {
    const { master, url } = await startMaster([fixture('misbehaving-ipc.mjs'), '-w', '1']);
    expect((await get(`${url}/abuse-raw`)).status).toBe(200);
    await master.waitFor(/wrote an acknowledgement the master cannot read; dropped: \{"cmd":"NODE_HANDOFF","type":"ack","accepted":\["all of them"\]/);
    const replies = await getMany(url, 10, 2);
    expect(replies.map((reply) => reply.status)).toEqual(Array(10).fill(200));
    expect(master.output.match(/cannot read/g)).toHaveLength(1); // the second line within the minute is counted, not logged
    expect(master.output).not.toMatch(/SyntaxError|TypeError|unexpectedly/);
  });

  test('handoff/worker can be required from CommonJS', async () => {
    const { url } = await startMaster([fixture('cjs-worker-api.cjs'), '-w', '1']);
    await get(url);
    await eventually(async () => JSON.parse((await get(url)).body).hits >= 4, 5000, 'increments to arrive');
  });
});
