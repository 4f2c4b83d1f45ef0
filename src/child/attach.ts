// Attaches the user's server to the master's listening socket, and delivers
// the connections the master sends.
//
// rr family: the server gets a ForwardedHandle -- cluster's child.js builds
// the same thing in rr(): a handle whose listen() binds nothing, because
// connections arrive from the master one by one. Each one is delivered with
// `handle.onconnection(0, client)`, which is net.js's own onconnection(): the
// server sees an ordinary 'connection', maxConnections and server.close()
// keep working, and server.address() reports the master's real port.
//
// shared: the server starts on a ForwardedHandle too (so its listen()
// completes at once), and moves to the real listening socket, sent by the
// master, when the runtime says it is ready: only then does it accept.

import net from 'node:net';
import type { ListenAddress, ScriptForm, WorkerConfig } from '../wire/protocol.js';
import { serverInternals, type TcpHandle } from '../wire/node-internals.js';

/** What cluster calls the "fake handle": listen() is a no-op, close() stops deliveries. */
export class ForwardedHandle {
  onconnection: ((status: number, client: TcpHandle) => void) | null = null;
  closed = false;
  readonly #address: ListenAddress;
  readonly #onClose: (() => void) | undefined;

  constructor(address: ListenAddress, onClose?: () => void) {
    this.#address = address;
    this.#onClose = onClose;
  }

  listen(): number {
    return 0;
  }

  getsockname(out: Record<string, unknown>): number {
    Object.assign(out, this.#address);
    return 0;
  }

  close(callback?: () => void): void {
    if (!this.closed) this.#onClose?.();
    this.closed = true;
    if (callback) process.nextTick(callback);
  }

  ref(): void {}
  unref(): void {}
}

/**
 * shared, at shutdown: `server`, listening on the real socket `real`, goes on
 * on `forwarded` (connections come as hand-offs from the master from now on):
 * the same onconnection, and the owner symbol through which net.js finds the
 * server. False if the server no longer listens on `real` (closed). The
 * caller closes `real`. Also for the app's other ports (listens.ts).
 */
export function moveToForwarded(server: net.Server, real: TcpHandle, forwarded: ForwardedHandle): boolean {
  const internals = serverInternals(server);
  if (internals._handle !== real) return false;
  const source = real as unknown as Record<PropertyKey, unknown>;
  forwarded.onconnection = source['onconnection'] as ForwardedHandle['onconnection'];
  for (const symbol of Object.getOwnPropertySymbols(real)) (forwarded as unknown as Record<symbol, unknown>)[symbol] = source[symbol];
  internals._handle = forwarded;
  return true;
}

export interface AttachHooks {
  /** The server emitted 'listening' on the master's socket. */
  onAttached(form: ScriptForm, server: net.Server): void;
}

export class Attacher {
  readonly #config: WorkerConfig;
  readonly #hooks: AttachHooks;
  #server: net.Server | undefined;
  #sharedHandle: TcpHandle | undefined;
  #backlog = 511;

  constructor(config: WorkerConfig, hooks: AttachHooks) {
    this.#config = config;
    this.#hooks = hooks;
  }

  get server(): net.Server | undefined {
    return this.#server;
  }

  /** Open connections on the attached server (net.Server counts them itself). */
  get active(): number {
    return this.#server ? serverInternals(this.#server)._connections : 0;
  }

  /**
   * Gives `server` the master's socket instead of binding one. Only the first server is attached.
   * `shown`: the address server.address() reports (the host the app asked for, when the master's socket covers it).
   */
  attach(server: net.Server, form: ScriptForm, backlog = 511, shown: ListenAddress = this.#config.address): boolean {
    if (this.#server !== undefined) return false;
    this.#server = server;
    this.#backlog = backlog;
    server.once('listening', () => this.#hooks.onAttached(form, server));
    const internals = serverInternals(server);
    const { address, port, family } = shown;
    internals._handle = new ForwardedHandle(shown);
    // net.js's setupListenHandle: "have a handle already", so it only wires onconnection and calls listen().
    internals._listen2(address, port, family === 'IPv6' ? 6 : 4, backlog);
    return true;
  }

  /** shared: the master's listening socket has arrived. */
  receiveSharedHandle(handle: TcpHandle): void {
    if (this.#sharedHandle !== undefined) return handle.close();
    this.#sharedHandle = handle;
  }

  /**
   * shared: from now on the server accepts on the master's socket itself.
   * False if that socket has not arrived yet.
   */
  acceptOnSharedSocket(): boolean {
    const real = this.#sharedHandle;
    if (real === undefined) return false;
    const internals = serverInternals(this.#server as net.Server);
    const forwarded = internals._handle;
    if (!(forwarded instanceof ForwardedHandle) || forwarded.closed) return true; // already moved, or closed meanwhile
    // What setupListenHandle did to the forwarded handle, done to the real one,
    // without a second 'listening': the same onconnection, and the owner
    // symbol through which net.js finds the server.
    const target = real as unknown as Record<PropertyKey, unknown>;
    target['onconnection'] = forwarded.onconnection;
    for (const symbol of Object.getOwnPropertySymbols(forwarded)) target[symbol] = (forwarded as unknown as Record<symbol, unknown>)[symbol];
    internals._handle = real;
    real.listen(this.#backlog);
    return true;
  }

  /**
   * shared, at shutdown: the inverse of acceptOnSharedSocket(). The server goes
   * back to a ForwardedHandle (connections come as hand-offs from the master),
   * and this process's descriptor of the listening socket is closed, so that
   * once the master closes its own the socket is gone -- after the master has
   * accepted what waited in its backlog, which then reaches us as hand-offs.
   */
  returnSharedSocket(): void {
    const real = this.#sharedHandle;
    if (real === undefined) return;
    this.#sharedHandle = undefined;
    if (this.#server !== undefined) moveToForwarded(this.#server, real, new ForwardedHandle(this.#config.address));
    real.close();
  }

  /** May a connection from the master be handed to the server now? (child.js: server open and under maxConnections) */
  canAccept(): boolean {
    if (this.#server === undefined) return false;
    const internals = serverInternals(this.#server);
    const handle = internals._handle as ForwardedHandle | TcpHandle | null;
    if (handle === null || (handle instanceof ForwardedHandle && handle.closed)) return false;
    return !(internals.maxConnections && internals._connections >= internals.maxConnections);
  }

  /** Hands a connection to the server, exactly as if it had accepted it itself. Check canAccept() first. */
  deliver(client: TcpHandle): void {
    const handle = serverInternals(this.#server as net.Server)._handle as { onconnection: (status: number, client: TcpHandle) => void };
    handle.onconnection(0, client);
  }
}
