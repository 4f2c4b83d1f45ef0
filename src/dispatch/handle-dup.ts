// A second file descriptor for a socket the master already holds.
//
// Why: libuv offers no way to stop accepting on a listening handle short of
// closing it, and closing the last descriptor of a listening socket frees the
// port and resets every connection waiting in the kernel's backlog. With a
// second descriptor kept aside, the master can close the one libuv polls
// (pause), leave the socket listening and its backlog intact, and later
// listen() on the spare (resume). The shared scheduler uses the same spare as
// the never-polled copy it gives to workers.
//
// How: Node has no dup(). But passing a descriptor over a Unix-domain socket
// (SCM_RIGHTS, the mechanism under subprocess.send(msg, handle)) creates a new
// descriptor in the receiver, and the receiver may be ourselves. We open a
// pipe to our own process once and send handles through it.
//
// One oddity: the accepted end of a Unix socket is created by libuv as a
// non-IPC pipe, which cannot receive descriptors; we open a second, IPC-capable
// handle on its fd and never touch the first one again.

import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { uv, isTcpHandle, type PipeHandle, type TcpHandle } from '../wire/node-internals.js';

export class HandleDuplicator {
  readonly #sender: PipeHandle;
  readonly #receiver: PipeHandle;
  readonly #waiting: Array<{ resolve: (handle: TcpHandle) => void; reject: (error: Error) => void }> = [];
  #closed = false;

  private constructor(sender: PipeHandle, receiver: PipeHandle) {
    this.#sender = sender;
    this.#receiver = receiver;
    receiver.onread = () => {
      const handle = receiver.pendingHandle;
      receiver.pendingHandle = null;
      if (handle === null) return; // end of stream or a read without a descriptor
      const waiter = this.#waiting.shift();
      if (waiter && isTcpHandle(handle)) waiter.resolve(handle);
      else handle.close();
    };
    receiver.readStart();
    // Neither end may keep the master's event loop alive by itself.
    sender.unref();
    receiver.unref();
  }

  static open(): Promise<HandleDuplicator> {
    const { Pipe, PipeConnectWrap, constants } = uv().pipe;
    const address =
      process.platform === 'linux'
        ? `\0handoff-dup-${process.pid}-${Math.random().toString(36).slice(2)}`
        : path.join(os.tmpdir(), `handoff-dup-${process.pid}-${Math.random().toString(36).slice(2)}.sock`);

    return new Promise((resolve, reject) => {
      const server = new Pipe(constants.SERVER);
      const fail = (what: string, status: number): void => {
        server.close();
        reject(new Error(`handle duplicator: ${what} failed (${status})`));
      };
      let status = server.bind(address);
      if (status !== 0) return fail('bind', status);
      status = server.listen(1);
      if (status !== 0) return fail('listen', status);

      const sender = new Pipe(constants.IPC);
      server.onconnection = (acceptStatus, accepted) => {
        server.close();
        if (!address.startsWith('\0')) fs.rmSync(address, { force: true });
        if (acceptStatus !== 0 || accepted === undefined) return fail('accept', acceptStatus);
        const receiver = new Pipe(constants.IPC);
        const openStatus = receiver.open(accepted.fd);
        if (openStatus !== 0) return fail('open', openStatus);
        resolve(new HandleDuplicator(sender, receiver));
      };
      const request = new PipeConnectWrap();
      request.oncomplete = (connectStatus) => {
        if (connectStatus !== 0) fail('connect', connectStatus);
      };
      sender.connect(request, address);
    });
  }

  /** A new TCP handle for the same socket as `handle`; closing either leaves the other open. */
  duplicate(handle: TcpHandle): Promise<TcpHandle> {
    if (this.#closed) return Promise.reject(new Error('handle duplicator is closed'));
    return new Promise((resolve, reject) => {
      const request = new (uv().stream.WriteWrap)();
      request.oncomplete = (status) => {
        if (status !== 0) this.#failNext(status);
      };
      const status = this.#sender.writeUtf8String(request, '.', handle);
      if (status !== 0) return reject(new Error(`handle duplicator: write failed (${status})`));
      this.#waiting.push({ resolve, reject });
    });
  }

  #failNext(status: number): void {
    this.#waiting.shift()?.reject(new Error(`handle duplicator: write failed (${status})`));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#sender.close();
    this.#receiver.close();
    for (const waiter of this.#waiting.splice(0)) waiter.reject(new Error('handle duplicator is closed'));
  }
}
