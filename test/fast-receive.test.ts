// The worker's end of the fast hand-off, driven by hand: what libuv would
// hand to the IPC pipe's onread, read by read, including the rare reads that
// split a line (only when more than 64 KiB of IPC is queued).

import { beforeEach, describe, expect, test } from 'vitest';
import { installFastReceiver } from '../dist/wire/fast-handoff.js';
import { fastConnMessage } from '../dist/wire/protocol.js';
import { uv } from '../dist/wire/node-internals.js';

interface Read {
  bytes: number;
  text: string;
  pendingHandle: unknown;
}

/** A stand-in for the process and its IPC pipe, recording what Node's onread would have been given. */
function fakeChannel() {
  const nodeSaw: Read[] = [];
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
