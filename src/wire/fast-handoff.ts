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
// What the fast hand-off does instead (the idea of seed article 002, which
// writes on process._channel directly):
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
//           is the only answer, and the master keeps its copy until it comes.
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
// Everything else on the channel -- user messages, Node's own handle passing,
// the shared scheduler's listening socket -- goes through Node untouched.

import type { ChildProcess } from 'node:child_process';
import { fastConnMessage, FAST_CONN_PREFIX, FAST_LISTENER_FIELD } from './protocol.js';
import { channelPipe, uv, type HandleOwner, type PipeHandle, type TcpHandle } from './node-internals.js';

// ---- master side ----------------------------------------------------------------

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
    request.oncomplete = onWriteComplete; // only called if libuv could not write at once
    return pipe.writeUtf8String(request as never, fastConnMessage(seq, listener), handle) === 0;
  };
}

// ---- worker side ----------------------------------------------------------------

const OPEN_BRACE = 0x7b;
const NEWLINE = 0x0a;
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
  let value = 0;
  let i = index;
  for (; i < bytes.length; i++) {
    const digit = (bytes[i] as number) - 0x30;
    if (digit < 0 || digit > 9) break;
    value = value * 10 + digit;
  }
  return [value, i];
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
