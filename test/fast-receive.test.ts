// Both reading ends of the fast hand-off, driven by hand: what libuv would
// hand to the IPC pipe's onread, read by read, including the rare reads that
// split a line (only when more than 64 KiB of IPC is queued). The worker's
// end takes out the master's connection lines; the master's end, the
// workers' acknowledgements.

import type { ChildProcess } from 'node:child_process';
import { beforeEach, describe, expect, test } from 'vitest';
import { installAckReceiver, installFastReceiver, readAck } from '../dist/wire/fast-handoff.js';
import { ackLine, fastConnMessage } from '../dist/wire/protocol.js';
import { uv } from '../dist/wire/node-internals.js';

interface Read {
  bytes: number;
  text: string;
  pendingHandle: unknown;
}

/**
 * A stand-in for the process and its IPC pipe, recording what Node's onread
 * would have been given. With `emitted`, it also does what Node then does:
 * each whole line is emitted on the next tick, recorded there as 'node <line>'.
 */
function fakeChannel(emitted?: string[]) {
  const nodeSaw: Read[] = [];
  let buffered = '';
  const pipe = {
    pendingHandle: null as unknown,
    writeUtf8String: () => 0,
    onread(this: { pendingHandle: unknown }, arrayBuffer?: ArrayBuffer) {
      const { streamBaseState, kReadBytesOrError, kArrayBufferOffset } = uv().stream;
      const bytes = streamBaseState[kReadBytesOrError] as number;
      const offset = streamBaseState[kArrayBufferOffset] as number;
      const text = arrayBuffer ? Buffer.from(arrayBuffer, offset, bytes).toString() : '(end)';
      nodeSaw.push({ bytes, text, pendingHandle: this.pendingHandle });
      this.pendingHandle = null;
      if (emitted === undefined || !arrayBuffer) return;
      const lines = (buffered + text).split('\n');
      buffered = lines.pop() as string;
      for (const line of lines) process.nextTick(() => emitted.push(`node ${line}`));
    },
  };
  const owner = { [Symbol('kChannelHandle')]: pipe } as unknown as NodeJS.Process;
  return { pipe, owner, nodeSaw };
}

/** Delivers `text` as one read, with `handle` as the descriptor that came with it. */
function read(pipe: { pendingHandle: unknown; onread: (buffer?: ArrayBuffer) => unknown }, text: string, handle: unknown = null): void {
  const { streamBaseState, kReadBytesOrError, kArrayBufferOffset } = uv().stream;
  const buffer = Buffer.from(text);
  const arrayBuffer = buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.length);
  streamBaseState[kReadBytesOrError] = buffer.length;
  streamBaseState[kArrayBufferOffset] = 0;
  pipe.pendingHandle = handle;
  pipe.onread(arrayBuffer);
}

const ticks = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const ourLine = (seq: number): string => `{"seq":${seq},"cmd":"NODE_HANDOFF","type":"conn"}\n`;
const userLine = '{"hello":"world"}\n';
const nodeHandleLine = '{"cmd":"NODE_HANDLE","type":"net.Native","msg":{"user":true}}\n';

describe('the fast receiver', () => {
  let channel: ReturnType<typeof fakeChannel>;
  let delivered: Array<[number, unknown]>;
  let listeners: number[];
  let receiver: ReturnType<typeof installFastReceiver>;
  beforeEach(() => {
    channel = fakeChannel();
    delivered = [];
    listeners = [];
    receiver = installFastReceiver((seq, listener, handle) => {
      delivered.push([seq, handle]);
      listeners.push(listener);
    }, channel.owner);
  });

  test('a whole line of ours, after a user message in the same read: the line is hidden from Node', async () => {
    const handle = { fd: 42 };
    read(channel.pipe, userLine + ourLine(17), handle);
    expect(channel.nodeSaw).toEqual([{ bytes: userLine.length, text: userLine, pendingHandle: null }]);
    await ticks();
    expect(delivered).toEqual([[17, handle]]);
  });

  test('a read that is only our line never reaches Node', async () => {
    const handle = { fd: 7 };
    read(channel.pipe, ourLine(123456), handle);
    expect(channel.nodeSaw).toEqual([]);
    await ticks();
    expect(delivered).toEqual([[123456, handle]]);
  });

  test('a line for another listener says which: the worker gives it to the server listening there', async () => {
    const handle = { fd: 8 };
    read(channel.pipe, fastConnMessage(13, 2), handle);
    await ticks();
    expect(delivered).toEqual([[13, handle]]);
    expect(listeners).toEqual([2]);
  });

  test("Node's own handle message keeps its descriptor", async () => {
    const handle = { fd: 9 };
    read(channel.pipe, nodeHandleLine, handle);
    expect(channel.nodeSaw).toEqual([{ bytes: nodeHandleLine.length, text: nodeHandleLine, pendingHandle: handle }]);
    await ticks();
    expect(delivered).toEqual([]);
  });

  test('a line of ours split across reads goes through Node; its descriptor waits for it', () => {
    const handle = { fd: 11 };
    const line = ourLine(5);
    read(channel.pipe, line.slice(0, 20), handle);
    read(channel.pipe, line.slice(20));
    expect(channel.nodeSaw.map((r) => r.text).join('')).toBe(line);
    expect(channel.nodeSaw.every((r) => r.pendingHandle === null)).toBe(true);
    expect(receiver?.take()).toBe(handle);
    expect(receiver?.take()).toBeUndefined();
  });

  test('a read that ends a byte into a line waits for the next read to say whose it is', () => {
    const ours = { fd: 1 };
    const nodes = { fd: 2 };
    read(channel.pipe, ourLine(1).slice(0, 1), ours);
    read(channel.pipe, ourLine(1).slice(1));
    expect(receiver?.take()).toBe(ours);
    read(channel.pipe, nodeHandleLine.slice(0, 2), nodes);
    read(channel.pipe, nodeHandleLine.slice(2));
    expect(channel.nodeSaw.at(-1)?.pendingHandle).toBe(nodes); // given back to Node with the rest of its line
    expect(receiver?.take()).toBeUndefined();
  });
});

describe("the master's ack receiver", () => {
  let channel: ReturnType<typeof fakeChannel>;
  /** What the master was told, in order: acks, unreadable lines, and Node's own messages. */
  let told: string[];
  beforeEach(() => {
    told = [];
    channel = fakeChannel(told);
    const installed = installAckReceiver(
      channel.owner as unknown as ChildProcess,
      (accepted, refused, active) => told.push(`ack ${accepted.join(',')}/${refused.join(',')} active ${active}`),
      (line) => told.push(`bad ${line}`),
    );
    expect(installed).toBe(true);
  });

  test('a read that is only acks never reaches Node; each is told, in order, on the next tick', async () => {
    read(channel.pipe, ackLine([1, 2, 3], [], 3) + ackLine([], [4], 2) + ackLine([123456789012], [5, 6], 0));
    expect(channel.nodeSaw).toEqual([]);
    expect(told).toEqual([]); // not during the read: nothing of ours can throw into Node's onread
    await ticks();
    expect(told).toEqual(['ack 1,2,3/ active 3', 'ack /4 active 2', 'ack 123456789012/5,6 active 0']);
  });

  test("acks among user messages and Node's own: Node gets the rest, in order, and the order of what is told is kept", async () => {
    const text = userLine + ackLine([7], [], 1) + nodeHandleLine + ackLine([8], [], 2) + ackLine([9], [], 3) + userLine;
    read(channel.pipe, text, { fd: 5 });
    expect(channel.nodeSaw.map((r) => r.text)).toEqual([userLine, nodeHandleLine, userLine]);
    expect(channel.nodeSaw[0]?.pendingHandle).toEqual({ fd: 5 }); // the descriptor goes with Node's first part
    await ticks();
    expect(told).toEqual([
      `node ${userLine.trim()}`,
      'ack 7/ active 1',
      `node ${nodeHandleLine.trim()}`,
      'ack 8/ active 2',
      'ack 9/ active 3',
      `node ${userLine.trim()}`,
    ]);
  });

  test('an ack split across reads goes through Node whole, as JSON', async () => {
    const line = ackLine([10, 11], [], 2);
    read(channel.pipe, userLine + line.slice(0, 30));
    read(channel.pipe, line.slice(30) + ackLine([12], [], 3));
    expect(channel.nodeSaw.map((r) => r.text).join('')).toBe(userLine + line);
    await ticks();
    expect(told).toEqual([`node ${userLine.trim()}`, `node ${line.trim()}`, 'ack 12/ active 3']);
  });

  test("a user message split across reads, then an ack: Node gets the message's rest, the ack is taken out", async () => {
    const long = `{"text":"${'x'.repeat(100)}"}\n`;
    read(channel.pipe, long.slice(0, 50));
    read(channel.pipe, long.slice(50, 80));
    read(channel.pipe, long.slice(80) + ackLine([13], [], 1));
    expect(channel.nodeSaw.map((r) => r.text).join('')).toBe(long);
    await ticks();
    expect(told).toEqual([`node ${long.trim()}`, 'ack 13/ active 1']);
  });

  test('a split that ends on a newline: the next read starts a line, and an ack there is ours', async () => {
    read(channel.pipe, userLine);
    read(channel.pipe, ackLine([14], [], 1));
    expect(channel.nodeSaw.map((r) => r.text)).toEqual([userLine]);
    await ticks();
    expect(told).toEqual([`node ${userLine.trim()}`, 'ack 14/ active 1']);
  });

  test('a line that only looks like an ack further on is not one', async () => {
    const lookalike = `{"hello":${JSON.stringify(ackLine([1], [], 1).trim())}}\n`;
    read(channel.pipe, lookalike);
    expect(channel.nodeSaw.map((r) => r.text)).toEqual([lookalike]);
    await ticks();
    expect(told).toEqual([`node ${lookalike.trim()}`]);
  });

  test('an ack written another way is still read (as JSON); an unreadable one is told once and dropped, never given to Node', async () => {
    const prefix = '{"cmd":"NODE_HANDOFF","type":"ack","accepted":[';
    const lines = [
      `${prefix}15],"active":1,"refused":[]}`, // other order: valid JSON, a valid ack
      `${prefix}9007199254740991],"refused":[],"active":1}`, // more digits than read by hand
      `${prefix}16,x],"refused":[],"active":1}`, // not JSON
      `${prefix}"16"],"refused":[],"active":1}`, // JSON, not an ack
      `${prefix}17],"refused":[],"active":-1}`,
      `${prefix}18],"refused":[],"active":1}}`,
      `${prefix}`,
    ];
    read(channel.pipe, lines.map((line) => `${line}\n`).join('') + userLine);
    expect(channel.nodeSaw.map((r) => r.text)).toEqual([userLine]);
    await ticks();
    expect(told).toEqual(['ack 15/ active 1', 'ack 9007199254740991/ active 1', ...lines.slice(2).map((line) => `bad ${line}`), `node ${userLine.trim()}`]);
  });

  test('a descriptor that came with a read of acks only is still given to Node', () => {
    read(channel.pipe, ackLine([19], [], 1), { fd: 6 });
    expect(channel.nodeSaw).toEqual([{ bytes: 0, text: '', pendingHandle: { fd: 6 } }]);
  });

  test('the end of the channel goes to Node', () => {
    read(channel.pipe, ackLine([20], [], 1));
    channel.pipe.onread(undefined);
    expect(channel.nodeSaw.map((r) => r.text)).toEqual(['(end)']);
  });
});

describe('readAck', () => {
  const line = (text: string) => Buffer.from(text);
  test('reads back whatever ackLine() writes', () => {
    const lists = [[], [1], [1, 2, 3], [999999999999999], Array.from({ length: 300 }, (_, i) => i * 7919)];
    for (const accepted of lists) {
      for (const refused of lists) {
        const bytes = line(ackLine(accepted, refused, accepted.length));
        expect(readAck(bytes, 0, bytes.length - 1)).toEqual({ accepted, refused, active: accepted.length });
      }
    }
  });

  test('reads a line in the middle of a read, by its bounds', () => {
    const bytes = line(userLine + ackLine([4, 5], [6], 2) + userLine);
    const start = userLine.length;
    expect(readAck(bytes, start, bytes.indexOf(0x0a, start))).toEqual({ accepted: [4, 5], refused: [6], active: 2 });
  });

  test('anything else: undefined, never a throw', () => {
    const prefix = '{"cmd":"NODE_HANDOFF","type":"ack","accepted":[';
    for (const rest of ['', '1', '1,', '1,]', ',1]', '1]', '1],"refused":[', '1],"refused":[]', '1],"refused":[],"active":', '1],"refused":[],"active":1', '1],"refused":[],"active":1 }', '1 ],"refused":[],"active":1}', '1],"refused":[],"active":1.5}']) {
      const bytes = line(`${prefix}${rest}\n`);
      expect(readAck(bytes, 0, bytes.length - 1), rest).toBeUndefined();
    }
  });
});
