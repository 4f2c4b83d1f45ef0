// The master's end of the control socket: a Unix socket, mode 0600, that
// answers one JSON request per line (see protocol.ts) for `handoff ctl`.
//
// Whatever arrives, the master must not suffer: every connection has an error
// listener, every request goes through decodeRequest() and runCommand(),
// which never throw, a line may be 64 KiB at most, a connection that says
// nothing is closed after IDLE_TIMEOUT_MS, and at most MAX_CONNECTIONS are
// served at once. The requests of one connection are answered one at a time,
// in order; while one runs (a reload takes a while) the connection is paused,
// so a client that pipelines thousands of lines costs one socket buffer.
//
// Lifecycle: the master opens the control socket after binding its port and
// before forking, so a control socket that cannot be made is a start error
// with no worker to clean up; it closes it last in its shutdown, so `ctl
// status` can watch a drain and `ctl stop` learns that the master has
// stopped when its connection closes.

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { errorMessage, HandoffError } from '../errors.js';
import type { Logger } from '../cli/log.js';
import { formatDuration } from '../units.js';
import { runCommand, type ControlTarget } from './commands.js';
import { LineReader } from './lines.js';
import { checkSocketPath, prepareDefaultDir, removeDeadSockets } from './paths.js';
import { probe } from './probe.js';
import { decodeRequest, encode, errorReply, IDLE_TIMEOUT_MS, MAX_CONNECTIONS, MAX_REQUEST_BYTES, type ControlErrorReply, type ControlReply } from './protocol.js';

export interface ControlServerOptions {
  path: string;
  /** The default location: its directory is made private, and dead masters' sockets in it are swept. */
  isDefault: boolean;
  target: ControlTarget;
  logger: Logger;
  idleTimeoutMs?: number;
  maxConnections?: number;
}

/** How long close() lets clients read their last replies before it cuts them off. */
const CLOSE_GRACE_MS = 1000;

export class ControlServer {
  readonly path: string;
  readonly #options: ControlServerOptions;
  readonly #connections = new Set<net.Socket>();
  #server: net.Server | undefined;
  /** The socket file we made, to remove it at close only if it is still ours. */
  #inode: number | undefined;
  #closing = false;

  constructor(options: ControlServerOptions) {
    this.#options = options;
    this.path = options.path;
  }

  /** Creates the socket. Rejects with a one-line HandoffError saying what to do. */
  async listen(): Promise<void> {
    checkSocketPath(this.path);
    if (this.#options.isDefault) {
      prepareDefaultDir(path.dirname(this.path));
      removeDeadSockets(path.dirname(this.path));
    }
    let server: net.Server;
    try {
      server = await this.#bind();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw this.#bindError(error);
      await this.#removeStale();
      server = await this.#bind().catch((again: unknown) => Promise.reject(this.#bindError(again)));
    }
    if (this.#closing) {
      server.close(); // the master began to shut down while we were starting
      return;
    }
    this.#server = server;
    try {
      fs.chmodSync(this.path, 0o600); // already 0600 from the umask; this is for filesystems that ignore it
      this.#inode = fs.statSync(this.path).ino;
    } catch (error) {
      await this.close();
      throw this.#bindError(error);
    }
    server.on('error', (error) => this.#options.logger.log('warn', `control socket ${this.path}: ${error.message}`));
  }

  #whenNoConnections(resolve: () => void): void {
    if (this.#connections.size === 0) return resolve();
    for (const socket of this.#connections) socket.once('close', () => this.#connections.size === 0 && resolve());
  }

  #bind(): Promise<net.Server> {
    return new Promise((resolve, reject) => {
      const server = net.createServer({ allowHalfOpen: true }, (socket) => this.#accept(socket));
      server.once('error', reject);
      // bind() creates the socket file inside listen(), synchronously, with the
      // process umask: with 0177 it is born 0600, so there is no moment in which
      // another user could connect. Nothing else runs while the umask is changed.
      // (In a worker thread the umask cannot be changed; the chmod after listen() remains.)
      let umask: number | undefined;
      try {
        umask = process.umask(0o177);
      } catch {
        umask = undefined;
      }
      try {
        server.listen(this.path, () => {
          server.off('error', reject);
          resolve(server);
        });
      } finally {
        if (umask !== undefined) process.umask(umask);
      }
    });
  }

  /** The path is taken: by a live master (refuse), or by one that died without removing its socket (take it over). */
  async #removeStale(): Promise<void> {
    const { liveness, errno } = await probe(this.path);
    if (liveness === 'live') {
      throw new HandoffError('ERR_HANDOFF_CONTROL', `control socket ${this.path} is in use by a running master: stop it, or pass another --control`);
    }
    if (liveness === 'unknown') {
      throw new HandoffError('ERR_HANDOFF_CONTROL', `control socket ${this.path} exists and does not answer (${errno}): remove it if no master uses it, or pass another --control`);
    }
    if (liveness === 'absent') return; // removed meanwhile
    let isSocket = false;
    try {
      isSocket = fs.lstatSync(this.path).isSocket();
    } catch {
      return;
    }
    if (!isSocket) throw new HandoffError('ERR_HANDOFF_CONTROL', `--control ${this.path} exists and is not a socket: pass a path that is free`);
    fs.rmSync(this.path, { force: true });
  }

  #bindError(error: unknown): HandoffError {
    if (error instanceof HandoffError) return error;
    const dir = path.dirname(this.path);
    let errno = (error as NodeJS.ErrnoException).code ?? String(error);
    if (errno === 'EACCES' && !fs.existsSync(dir)) errno = 'ENOENT'; // libuv reports a missing directory as EACCES, for Windows' sake
    const advice: Record<string, string> = {
      ENOENT: `the directory ${dir} does not exist`,
      ENOTDIR: `${dir} is not a directory`,
      EACCES: `no permission to create files in ${dir}`,
      EROFS: `${dir} is on a read-only filesystem`,
      EADDRINUSE: 'another process took the path meanwhile',
    };
    return new HandoffError('ERR_HANDOFF_CONTROL', `cannot create the control socket ${this.path}: ${errno} (${advice[errno] ?? 'check the path'}; pass another --control, or --control off)`);
  }

  #accept(socket: net.Socket): void {
    // A client that goes away mid-reply (EPIPE, ECONNRESET) is its own business; never an uncaught error here.
    socket.on('error', () => {});
    if (this.#closing) {
      socket.destroy();
      return;
    }
    const max = this.#options.maxConnections ?? MAX_CONNECTIONS;
    if (this.#connections.size >= max) {
      endWith(socket, errorReply('ERR_HANDOFF_CONTROL', `too many control connections open (${max}): close some and try again`));
      return;
    }
    this.#connections.add(socket);
    socket.once('close', () => this.#connections.delete(socket));
    serve(socket, this.#options.target, this.#options.idleTimeoutMs ?? IDLE_TIMEOUT_MS, this.#options.logger);
  }

  /**
   * For an upgrade: stops listening, so that the new master can bind the same
   * path, but keeps the open connections (the one waiting for `upgrade` gets
   * its answer on it). listen() binds again if the upgrade is rolled back;
   * close() ends the connections.
   */
  release(): void {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    server.close(); // libuv unlinks the path as it closes the handle: at once, not when the connections end
  }

  /**
   * Stops listening and removes the socket file, then ends every connection
   * (a `ctl stop` or `ctl top` waiting on one learns that the master is gone);
   * clients get CLOSE_GRACE_MS to read their last replies.
   */
  async close(): Promise<void> {
    this.#closing = true;
    const server = this.#server;
    this.#server = undefined;
    if (server === undefined && this.#connections.size === 0) return;
    const closed = new Promise<void>((resolve) => (server ? server.close(() => resolve()) : this.#whenNoConnections(resolve)));
    for (const socket of this.#connections) socket.end();
    await Promise.race([closed, delay(CLOSE_GRACE_MS)]);
    for (const socket of this.#connections) socket.destroy();
    await Promise.race([closed, delay(CLOSE_GRACE_MS)]);
    if (server === undefined) return; // released: the path belongs to the new master now
    // libuv unlinks a pipe server's path when it closes; where it does not, we do, if the file is still the one we made.
    try {
      if (fs.lstatSync(this.path).ino === this.#inode) fs.rmSync(this.path, { force: true });
    } catch {
      // already gone
    }
  }
}

/** Answers the requests of one connection, in order. */
function serve(socket: net.Socket, target: ControlTarget, idleTimeoutMs: number, logger: Logger): void {
  const reader = new LineReader(MAX_REQUEST_BYTES);
  const queue: string[] = [];
  let busy = false;
  /** What to do once the queue is answered: close with a last error, or just close (the client ended its side). */
  let finish: ControlErrorReply | 'end' | undefined;
  /** After `stop`, the connection stays open until the master closes it: that is how the client learns it stopped. */
  let watchingStop = false;

  const pump = async (): Promise<void> => {
    if (busy) return;
    busy = true;
    socket.pause();
    while (queue.length > 0) {
      const line = queue.shift() as string;
      if (line.trim() === '') continue;
      const reply = await answer(line, target);
      if (!socket.writable) break;
      socket.write(encode(reply));
      if (reply.ok && (reply.command === 'stop' || reply.command === 'upgrade')) {
        watchingStop = true;
        socket.setTimeout(0);
      }
    }
    busy = false;
    if (finish === undefined) socket.resume();
    else if (finish !== 'end') endWith(socket, finish);
    else if (!watchingStop) socket.end();
  };
  const run = (): void => {
    pump().catch((error: unknown) => {
      logger.log('warn', `control connection: ${errorMessage(error)}`);
      socket.destroy();
    });
  };

  socket.on('data', (chunk: Buffer) => {
    if (finish !== undefined) return;
    const { lines, overflow } = reader.push(chunk);
    for (const line of lines) queue.push(line);
    if (overflow) finish = errorReply('ERR_HANDOFF_CONTROL', `request longer than ${MAX_REQUEST_BYTES} bytes without a newline: closing the connection`);
    run();
  });
  socket.on('end', () => {
    if (finish !== undefined) return;
    finish = reader.pendingBytes > 0 ? errorReply('ERR_HANDOFF_CONTROL', 'request cut off: the connection ended before its newline') : 'end';
    run();
  });
  socket.setTimeout(idleTimeoutMs, () => {
    if (busy || watchingStop || finish !== undefined) return;
    finish = errorReply('ERR_HANDOFF_CONTROL', `no request for ${formatDuration(idleTimeoutMs)}: closing the connection`);
    run();
  });
}

async function answer(line: string, target: ControlTarget): Promise<ControlReply> {
  const decoded = decodeRequest(line);
  return 'error' in decoded ? decoded.error : runCommand(decoded.request, target);
}

/** Writes a last reply and closes once it is flushed. */
function endWith(socket: net.Socket, reply: ControlReply): void {
  if (socket.writable) socket.end(encode(reply), () => socket.destroy());
  else socket.destroy();
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
