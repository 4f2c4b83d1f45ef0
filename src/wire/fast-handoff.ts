// The fast hand-off: both ends of it, in one file, because both reach below
// Node's public API (see node-internals.ts).
//
// What subprocess.send(msg, handle) costs per connection, in Node's
// lib/internal/child_process.js:
//   master: JSON.stringify {cmd:'NODE_HANDLE', type, msg}, write it with the
//           descriptor, then WAIT: every later message on this channel is
//           queued in _handleQueue until the child answers NODE_HANDLE_ACK;
//   worker: parse, write NODE_HANDLE_ACK back, then deliver;
//   master: parse the ACK, release the queue.
// One handle in flight per channel, and a round trip per connection. cluster
// adds its own {act:'newconn'} message and reply on top.
//
// What the fast hand-off does instead (the idea of the article
// "nodejs之cluster模块", after http://taobaofed.org/blog/2015/11/10/nodejs-cluster-2/,
// which writes on process._channel directly):
//   master: write one tiny line, '{"seq":17,"cmd":"NODE_HANDOFF","type":"conn"}\n',
//           with the descriptor, straight on the IPC pipe. No queue, no wait.
//           (For a port other than the master's own, ',"listener":1' follows
//           the seq: which of the app's servers gets it.)
//   worker: libuv reads the line and the descriptor together and stores the
//           descriptor on the pipe as `pendingHandle` before calling `onread`.
//           Our onread runs first: it recognises a descriptor that came with
//           one of our lines, reads the seq from the line itself and takes
//           the line out of what Node's onread then parses (when a line is
//           split across reads, Node parses it and the kept descriptor is
//           matched with it). No JSON.parse, no NODE_HANDLE_ACK.
//   worker: handoff's own ack (accepted/refused, batched per event-loop turn)
//           is the only answer, one line written straight on the pipe
//           (createLineWriter), and the master keeps its copy until it comes.
//   master: its own onread takes the ack lines out of what Node's onread
//           parses and reads them by hand (installAckReceiver). No JSON.parse,
//           no 'internalMessage' event.
//
// How the worker tells our descriptors from Node's: the kernel never joins
// data written after a descriptor onto the same read (unix_stream_read_generic
// stops after a message that carries descriptors), so a read that brings a
// descriptor ends with, or inside, the one line written with it. That line is
// the last one to start in the chunk. Node's own handle messages start
// '{"cmd":', ours start '{"seq":' -- the third byte tells them apart. If a read
// ends before that byte (only when more than 64 KiB of IPC is queued), the
// decision waits for the next read.
//
// How the master tells an ack from everything else: by how its line starts,
// '{"cmd":"NODE_HANDOFF","type":"ack","accepted":['. That is JSON.stringify's
// own order, so the same line still parses as JSON wherever Node reads it:
// under --transport send (the master does not hook its pipes), and when a
// line is split across reads (the master leaves such a line to Node whole:
// the only thing it carries from one read to the next is whether the last one
// ended inside a line). And it starts with our tag, so no user message starts
// that way unless it already claims to be handoff's.
//
// Everything else on the channel -- user messages, Node's own handle passing,
// the shared scheduler's listening socket -- goes through Node untouched.

import type { ChildProcess } from 'node:child_process';
import { ACK_ACTIVE_FIELD, ACK_LINE_PREFIX, ACK_REFUSED_FIELD, decodeWorkerMessage, fastConnMessage, FAST_CONN_PREFIX, FAST_LISTENER_FIELD, type WorkerMessage } from './protocol.js';
import { channelPipe, uv, type HandleOwner, type PipeHandle, type TcpHandle } from './node-internals.js';

// ---- master side ----------------------------------------------------------------

const NEWLINE = 0x0a;

/** Writes a connection to a worker: true if written (or queued by libuv), false if the pipe refused it. */
export type ConnectionWriter = (seq: number, handle: TcpHandle, listener: number) => boolean;

interface ConnWriteRequest {
  oncomplete: ((this: ConnWriteRequest, status: number) => void) | null;
  seq: number;
  onFailed: (seq: number) => void;
}

function onWriteComplete(this: ConnWriteRequest, status: number): void {
  if (status < 0) this.onFailed(this.seq);
}

/** A writer for this child, or undefined if its channel does not expose what we need. */
export function createFastWriter(child: ChildProcess, onFailed: (seq: number) => void): ConnectionWriter | undefined {
  const pipe = channelPipe(child);
  if (pipe === undefined) return undefined;
  const { WriteWrap } = uv().stream;
  return (seq, handle, listener) => {
    if (!child.connected) return false;
    const request = new WriteWrap() as unknown as ConnWriteRequest;
    request.seq = seq;
    request.onFailed = onFailed;
    // Called once the write is done: libuv reports even a write it made at once on the next turn of the loop
    // (and a write that failed only there). The master keeps its copy until the ack, so only failure matters.
    request.oncomplete = onWriteComplete;
    return pipe.writeUtf8String(request as never, fastConnMessage(seq, listener), handle) === 0;
  };
}

/** What the master does with one acknowledgement: the seqs the worker accepted and refused, and its open connections. */
export type AckHandler = (accepted: number[], refused: number[], active: number) => void;

/**
 * Hooks the master's end of a worker's IPC pipe; false if this Node does not
 * allow it (the acks then reach the master through Node, as JSON). Every whole
 * line that starts with ACK_LINE_PREFIX is taken out of what Node's onread
 * parses and read here; `onAck` is called for it on the next tick, in order
 * with Node's own messages from the same read (Node emits those on the next
 * tick too). A line that does not end in the read goes through Node whole,
 * whoever wrote it: its start went to Node, so its rest does. A line with our
 * prefix that is not an ack goes to `onMalformed` (also on the next tick) and
 * nowhere else.
 */
export function installAckReceiver(child: ChildProcess, onAck: AckHandler, onMalformed: (line: string) => void): boolean {
  const pipe = channelPipe(child);
  const nodeOnRead = pipe?.onread;
  if (pipe === undefined || typeof nodeOnRead !== 'function') return false;
  const { streamBaseState, kReadBytesOrError, kArrayBufferOffset } = uv().stream;
  /** The last read ended inside a line, which Node has the start of. */
  let inLine = false;

  /** Node's onread, on `length` bytes of the read from `from`: it reads where they are from the same state array. */
  const giveToNode = (target: PipeHandle, arrayBuffer: ArrayBuffer, from: number, length: number): void => {
    streamBaseState[kArrayBufferOffset] = from;
    streamBaseState[kReadBytesOrError] = length;
    nodeOnRead.call(target, arrayBuffer);
  };

  pipe.onread = function onread(this: PipeHandle, arrayBuffer?: ArrayBuffer) {
    if (arrayBuffer === undefined) return nodeOnRead.call(this, arrayBuffer); // the end of the channel, or an error
    const offset = streamBaseState[kArrayBufferOffset] as number;
    const nread = streamBaseState[kReadBytesOrError] as number;
    const bytes = new Uint8Array(arrayBuffer, offset, nread);
    /** Where the bytes not yet given to Node start. */
    let nodeFrom = 0;
    let start = 0;
    if (inLine) {
      const end = bytes.indexOf(NEWLINE);
      start = end === -1 ? nread : end + 1;
    }
    for (let end = bytes.indexOf(NEWLINE, start); end !== -1; start = end + 1, end = bytes.indexOf(NEWLINE, start)) {
      if (!hasAt(bytes, start, ACK_PREFIX)) continue;
      if (start > nodeFrom) giveToNode(this, arrayBuffer, offset + nodeFrom, start - nodeFrom);
      nodeFrom = end + 1;
      const ack = readAck(bytes, start, end) ?? ackFromJson(bytes, start, end);
      if (ack !== undefined) process.nextTick(onAck, ack.accepted, ack.refused, ack.active);
      else process.nextTick(onMalformed, Buffer.from(arrayBuffer, offset + start, end - start).toString());
    }
    if (nread > 0) inLine = bytes[nread - 1] !== NEWLINE;
    // The rest; or nothing, if a descriptor came with this read and Node has not taken it yet.
    if (nodeFrom < nread || this.pendingHandle !== null) giveToNode(this, arrayBuffer, offset + nodeFrom, nread - nodeFrom);
    return undefined;
  };
  return true;
}

const ACK_PREFIX = Buffer.from(ACK_LINE_PREFIX);
const REFUSED_FIELD = Buffer.from(ACK_REFUSED_FIELD);
const ACTIVE_FIELD = Buffer.from(ACK_ACTIVE_FIELD);
const COMMA = 0x2c;
const CLOSE_BRACKET = 0x5d;
const CLOSE_BRACE = 0x7d;
/** Longer numbers are left to JSON.parse: 15 digits are always a safe integer. */
const MAX_DIGITS = 15;

/** The ack line bytes[start, end) as ackLine() writes it, read without JSON.parse; undefined if it is written any other way. */
export function readAck(bytes: Uint8Array, start: number, end: number): { accepted: number[]; refused: number[]; active: number } | undefined {
  const accepted: number[] = [];
  const refused: number[] = [];
  let at = readSeqs(bytes, start + ACK_PREFIX.length, end, accepted);
  if (at === -1 || !hasAt(bytes, at, REFUSED_FIELD)) return undefined;
  at = readSeqs(bytes, at + REFUSED_FIELD.length, end, refused);
  if (at === -1 || !hasAt(bytes, at, ACTIVE_FIELD)) return undefined;
  at += ACTIVE_FIELD.length;
  const after = digitsEnd(bytes, at);
  if (after === at || after - at > MAX_DIGITS || after !== end - 1 || bytes[after] !== CLOSE_BRACE) return undefined;
  return { accepted, refused, active: decimal(bytes, at, after) };
}

/** Reads '17,18' up to the ']' into `into`: the index of the ']', or -1 if that is not what is there. */
function readSeqs(bytes: Uint8Array, index: number, end: number, into: number[]): number {
  if (bytes[index] === CLOSE_BRACKET) return index;
  for (let at = index; at < end; ) {
    const after = digitsEnd(bytes, at);
    if (after === at || after - at > MAX_DIGITS) return -1;
    into.push(decimal(bytes, at, after));
    if (bytes[after] === CLOSE_BRACKET) return after;
    if (bytes[after] !== COMMA) return -1;
    at = after + 1;
  }
  return -1;
}

/** A line with our prefix that readAck() could not read: valid JSON written another way is still an ack (as it would be through Node). */
function ackFromJson(bytes: Uint8Array, start: number, end: number): Extract<WorkerMessage, { type: 'ack' }> | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString());
  } catch {
    return undefined;
  }
  const message = decodeWorkerMessage(raw);
  return message?.type === 'ack' ? message : undefined;
}

// ---- worker side ----------------------------------------------------------------

const OPEN_BRACE = 0x7b;
/** The byte that differs between '{"seq":' (ours) and '{"cmd":' (Node's). */
const DECIDING_INDEX = 2;
const OURS = FAST_CONN_PREFIX.charCodeAt(DECIDING_INDEX);

export interface FastReceiver {
  /** The next descriptor that arrived with one of our `conn` lines whose line Node parsed, in order. */
  take(): TcpHandle | undefined;
}

/**
 * Hooks the worker's IPC pipe; returns undefined if this Node does not allow
 * it. When a descriptor's whole line is in the read that brought it (nearly
 * always), the line is taken out of what Node parses, its seq read here, and
 * `onConnection` called (after Node's own messages from the same read, to keep
 * their order). A line split across reads goes through Node, and its
 * descriptor is picked up with take().
 */
export function installFastReceiver(onConnection: (seq: number, listener: number, handle: TcpHandle) => void, owner: NodeJS.Process = process): FastReceiver | undefined {
  const pipe = channelPipe(owner);
  const nodeOnRead = pipe?.onread;
  if (pipe === undefined || typeof nodeOnRead !== 'function') return undefined;
  const { streamBaseState, kReadBytesOrError, kArrayBufferOffset } = uv().stream;

  const ours: HandleOwner[] = [];
  /** A descriptor whose line began in the last byte(s) of the previous read. */
  let undecided: { handle: HandleOwner; seen: number } | null = null;

  const giveToNode = (target: PipeHandle, handle: HandleOwner): void => {
    if (target.pendingHandle === null) target.pendingHandle = handle;
    else handle.close(); // two Node handles in one read: Node itself would drop the first
  };

  pipe.onread = function onread(this: PipeHandle, arrayBuffer?: ArrayBuffer) {
    const arrived = this.pendingHandle;
    if (arrayBuffer !== undefined) {
      const nread = streamBaseState[kReadBytesOrError] as number;
      const bytes = new Uint8Array(arrayBuffer, streamBaseState[kArrayBufferOffset] as number, nread);
      this.pendingHandle = null;
      if (undecided !== null) {
        const previous = undecided;
        undecided = null;
        if (bytes[DECIDING_INDEX - previous.seen] === OURS) ours.push(previous.handle);
        else giveToNode(this, previous.handle);
      }
      if (arrived !== null) {
        const start = bytes.lastIndexOf(NEWLINE, nread - 2) + 1;
        if (nread - start <= DECIDING_INDEX) {
          undecided = { handle: arrived, seen: nread - start };
        } else if (bytes[start] !== OPEN_BRACE || bytes[start + DECIDING_INDEX] !== OURS) {
          giveToNode(this, arrived);
        } else if (bytes[nread - 1] !== NEWLINE) {
          ours.push(arrived); // our line goes on in the next read: Node will parse it
        } else {
          // The whole line is here, and it is the last one: hide it from Node.
          const [seq, end] = readNumber(bytes, start + FAST_CONN_PREFIX.length);
          const listener = hasAt(bytes, end, LISTENER_FIELD) ? readNumber(bytes, end + LISTENER_FIELD.length)[0] : 0;
          if (start > 0) {
            streamBaseState[kReadBytesOrError] = start;
            nodeOnRead.call(this, arrayBuffer);
          }
          process.nextTick(onConnection, seq, listener, arrived as TcpHandle);
          return undefined;
        }
      }
    }
    return nodeOnRead.call(this, arrayBuffer);
  };

  return {
    take: () => ours.shift() as TcpHandle | undefined,
  };
}

const LISTENER_FIELD = Buffer.from(FAST_LISTENER_FIELD);

/** The decimal number at `index` (the seq after '{"seq":', the listener after ',"listener":'), and where it ends. */
function readNumber(bytes: Uint8Array, index: number): [number, number] {
  const end = digitsEnd(bytes, index);
  return [decimal(bytes, index, end), end];
}

/** Where the run of decimal digits that starts at `index` ends (`index` itself if there is none). */
function digitsEnd(bytes: Uint8Array, index: number): number {
  let i = index;
  while (i < bytes.length && (bytes[i] as number) >= 0x30 && (bytes[i] as number) <= 0x39) i++;
  return i;
}

/** The value of the digits bytes[from, to). */
function decimal(bytes: Uint8Array, from: number, to: number): number {
  let value = 0;
  for (let i = from; i < to; i++) value = value * 10 + (bytes[i] as number) - 0x30;
  return value;
}

function hasAt(bytes: Uint8Array, index: number, text: Uint8Array): boolean {
  if (index + text.length > bytes.length) return false;
  for (let i = 0; i < text.length; i++) if (bytes[index + i] !== text[i]) return false;
  return true;
}

/**
 * Writes whole lines of our own on the worker's IPC pipe, as the master's
 * writer does: no JSON.stringify, no trip through process.send(). Used for
 * the acknowledgements, the one message a worker sends per connection. Node
 * writes its own messages on the same pipe; libuv keeps each write whole.
 */
export function createLineWriter(owner: NodeJS.Process = process): ((line: string, done?: () => void) => void) | undefined {
  const pipe = channelPipe(owner);
  if (pipe === undefined) return undefined;
  const { WriteWrap, streamBaseState, kLastWriteWasAsync } = uv().stream;
  if (typeof kLastWriteWasAsync !== 'number') return undefined;
  return (line, done) => {
    if (!owner.connected) return done?.();
    const request = new WriteWrap();
    request.oncomplete = () => done?.();
    const status = pipe.writeUtf8String(request, line);
    // Written at once (or refused): libuv will not call oncomplete.
    if (status !== 0 || streamBaseState[kLastWriteWasAsync] === 0) {
      if (done) process.nextTick(done);
    }
  };
}
