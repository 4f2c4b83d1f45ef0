// The `handoff ctl` end of the control socket: connect, send requests, read
// replies in order, and find the master's socket when no --control is given.

import net from 'node:net';
import { HandoffError } from '../errors.js';
import { LineReader } from './lines.js';
import { defaultControlDir, listSockets, pidOfSocket } from './paths.js';
import { probe } from './probe.js';
import { decodeReply, encode, type ControlCommand, type ControlErrorReply, type ControlReply, type ControlRequest, type ReplyFor, type RequestFor } from './protocol.js';

/** Replies can be large (a status with 1024 workers is ~250 KB); this only stops a runaway peer. */
const MAX_REPLY_BYTES = 16 * 1024 * 1024;

interface Pending {
  resolve: (reply: ControlReply) => void;
  reject: (error: Error) => void;
}

export class ControlClient {
  readonly path: string;
  /** Resolves when the master closes the connection (or it breaks). */
  readonly closed: Promise<void>;
  readonly #socket: net.Socket;
  readonly #reader = new LineReader(MAX_REPLY_BYTES);
  /** The master answers one connection's requests in order, so replies are matched first in, first out. */
  readonly #pending: Pending[] = [];
  #nextId = 1;
  #gone = false;

  private constructor(file: string, socket: net.Socket) {
    this.path = file;
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    this.closed = new Promise((resolve) => {
      // After a last reply the master may reset the connection instead of ending it: either way, it is closed.
      socket.on('error', () => {});
      socket.once('close', () => {
        this.#gone = true;
        for (const pending of this.#pending.splice(0)) {
          pending.reject(new HandoffError('ERR_HANDOFF_NOT_RUNNING', `the master closed the control connection ${file} before it answered`));
        }
        resolve();
      });
    });
  }

  /** Connects, or rejects with one line saying why not. */
  static connect(file: string, timeoutMs = 5000): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(file);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new HandoffError('ERR_HANDOFF_CONTROL', `no answer from ${file} within ${timeoutMs / 1000}s`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new ControlClient(file, socket));
      });
      socket.once('error', (error: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(connectError(file, error.code ?? String(error)));
      });
    });
  }

  /** Sends one request and waits for its reply; rejects only if the connection fails or `timeoutMs` passes. */
  request<C extends ControlCommand>(request: Omit<RequestFor<C>, 'id'>, timeoutMs = 0): Promise<ReplyFor<C> | ControlErrorReply> {
    if (this.#gone) return Promise.reject(new HandoffError('ERR_HANDOFF_NOT_RUNNING', `the master closed the control connection ${this.path}`));
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const pending: Pending = {
        resolve: (reply) => {
          clearTimeout(timer);
          resolve(reply as ReplyFor<C> | ControlErrorReply);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          this.close();
          reject(new HandoffError('ERR_HANDOFF_CONTROL', `the master at ${this.path} did not answer ${request.command} within ${timeoutMs / 1000}s`));
        }, timeoutMs);
      }
      this.#pending.push(pending);
      this.#socket.write(encode({ ...request, id: this.#nextId++ } as ControlRequest));
    });
  }

  close(): void {
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    const { lines, overflow } = this.#reader.push(chunk);
    for (const line of lines) {
      const reply = decodeReply(line);
      const pending = this.#pending.shift();
      if (reply === undefined) pending?.reject(new HandoffError('ERR_HANDOFF_CONTROL', `the master at ${this.path} sent something that is not a reply: ${line.slice(0, 80)}`));
      else pending?.resolve(reply);
    }
    if (overflow) {
      this.#pending.shift()?.reject(new HandoffError('ERR_HANDOFF_CONTROL', `reply from ${this.path} longer than ${MAX_REPLY_BYTES} bytes`));
      this.close();
    }
  }
}

function connectError(file: string, errno: string): HandoffError {
  switch (errno) {
    case 'ENOENT':
      return new HandoffError('ERR_HANDOFF_NOT_RUNNING', `no control socket at ${file}: is the master running, and with this --control?`);
    case 'ECONNREFUSED':
      return new HandoffError('ERR_HANDOFF_NOT_RUNNING', `no master answers at ${file} (ECONNREFUSED): the master that made it is gone`);
    case 'EACCES':
      return new HandoffError('ERR_HANDOFF_CONTROL', `cannot connect to ${file}: EACCES (the socket belongs to another user)`);
    default:
      return new HandoffError('ERR_HANDOFF_CONTROL', `cannot connect to ${file}: ${errno}`);
  }
}

/**
 * The socket of the one master running in the default directory. None, or
 * several, is an error naming what was found and asking for --control.
 */
export async function findMaster(dir = defaultControlDir()): Promise<string> {
  const sockets = listSockets(dir);
  const probed = await Promise.all(sockets.map(async (file) => ({ file, ...(await probe(file)) })));
  const live = probed.filter((socket) => socket.liveness === 'live').map((socket) => socket.file);
  if (live.length === 1) return live[0] as string;
  if (live.length === 0) {
    const dead = probed.length === 0 ? '' : ` (${probed.length} socket${probed.length === 1 ? '' : 's'} there, none answering)`;
    return Promise.reject(new HandoffError('ERR_HANDOFF_NOT_RUNNING', `no running master found in ${dir}${dead}: start one, or pass --control <path>`));
  }
  const list = live.map((file) => `pid ${pidOfSocket(file)}: ${file}`).join(', ');
  return Promise.reject(new HandoffError('ERR_HANDOFF_CONTROL', `${live.length} masters are running (${list}): pass --control <path> to pick one`));
}
