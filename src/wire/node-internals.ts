// Every place handoff reaches below Node's public API, in one file, typed.
//
// cluster itself is built on these same pieces (lib/internal/cluster/*.js);
// they have been stable since Node 0.12, but they are not documented, so each
// one is named and explained here, and probed by supportsFastHandoff().
//
//  - libuv handle wrappers from process.binding(): TCP, Pipe, UDP and
//    WriteWrap. These four modules are on Node's allow-list for
//    process.binding() and print no deprecation warning.
//  - net._createServerHandle(): binds a raw TCP handle without a net.Server,
//    as cluster's SharedHandle does; createUdpHandle() does for UDP what
//    cluster's SharedHandle does with dgram._createSocketHandle() (public,
//    but deprecated: DEP0112), on the same UDP class.
//  - server._handle / server._listen2(): give a net.Server a handle it did not
//    create, as cluster's child does with its fake round-robin handle.
//  - the IPC pipe behind subprocess.channel, stored under the symbol
//    kChannelHandle (lib/internal/child_process.js).

import type { ChildProcess } from 'node:child_process';
import net from 'node:net';

/** The C++ side's answer to a handle operation: 0 or a negative errno. */
export type Status = number;

export interface HandleOwner {
  close(callback?: () => void): void;
  ref(): void;
  unref(): void;
}

/** A libuv TCP handle (TCPWrap): a listening socket or one accepted connection. */
export interface TcpHandle extends HandleOwner {
  readonly fd: number;
  listen(backlog: number): Status;
  getsockname(out: Record<string, unknown>): Status;
  getpeername(out: Record<string, unknown>): Status;
  onconnection: ((status: Status, client?: TcpHandle) => void) | null;
}

/** A request object for one write on a stream handle (WriteWrap). */
export interface WriteRequest {
  oncomplete: ((status: Status) => void) | null;
}

/** A libuv pipe (PipeWrap); the IPC channel to a child is one. */
export interface PipeHandle extends HandleOwner {
  readonly fd: number;
  writeUtf8String(request: WriteRequest, data: string, sendHandle?: HandleOwner): Status;
  readStart(): Status;
  readStop(): Status;
  bind(path: string): Status;
  listen(backlog: number): Status;
  open(fd: number): Status;
  connect(request: object, path: string): Status;
  pendingHandle: HandleOwner | null;
  onread: ((arrayBuffer?: ArrayBuffer) => unknown) | null;
  onconnection: ((status: Status, client?: PipeHandle) => void) | null;
}

interface TcpBinding {
  TCP: abstract new (...args: never[]) => TcpHandle;
  /** UV_TCP_REUSEPORT appeared with libuv 1.49, in Node 22.12 and 23.1 (nodejs/node#55408). */
  constants: { UV_TCP_IPV6ONLY: number; UV_TCP_REUSEPORT?: number };
}
interface PipeBinding {
  Pipe: new (type: number) => PipeHandle;
  PipeConnectWrap: new () => { oncomplete: ((status: Status) => void) | null };
  constants: { SOCKET: number; SERVER: number; IPC: number };
}
interface StreamBinding {
  WriteWrap: new () => WriteRequest;
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
  /** Index in streamBaseState: 1 if the last write was queued by libuv (oncomplete will be called), 0 if it was done at once. */
  kLastWriteWasAsync: number;
}

/** A libuv UDP handle (UDPWrap): what a dgram.Socket holds, and what child_process sends as 'dgram.Native'. */
export interface UdpHandle extends HandleOwner {
  readonly fd: number;
  /** udp4's bind; a udp6 handle's is bind6 (internal/dgram.js newHandle). */
  bind(address: string, port: number, flags: number): Status;
  bind6(address: string, port: number, flags: number): Status;
  getsockname(out: Record<string, unknown>): Status;
  recvStop(): Status;
  /** Wraps an open descriptor (an upgrade's inherited socket), as TCP's and Pipe's open() do; EEXIST if this process already has a handle on it. */
  open(fd: number): Status;
}
interface UdpBinding {
  UDP: new () => UdpHandle;
}

type Binder = (name: string) => unknown;
const binding = (process as unknown as { binding: Binder }).binding.bind(process);

let cache: { tcp: TcpBinding; pipe: PipeBinding; stream: StreamBinding } | undefined;
export function uv(): { tcp: TcpBinding; pipe: PipeBinding; stream: StreamBinding } {
  cache ??= {
    tcp: binding('tcp_wrap') as TcpBinding,
    pipe: binding('pipe_wrap') as PipeBinding,
    stream: binding('stream_wrap') as StreamBinding,
  };
  return cache;
}

export function isTcpHandle(value: unknown): value is TcpHandle {
  return value instanceof (uv().tcp.TCP as unknown as abstract new () => unknown);
}

let udpBinding: UdpBinding | undefined;
const udpClass = (): UdpBinding['UDP'] => (udpBinding ??= binding('udp_wrap') as UdpBinding).UDP;

export function isUdpHandle(value: unknown): value is UdpHandle {
  return value instanceof udpClass();
}

/**
 * Binds a UDP handle, as Node's dgram._createSocketHandle() (internal/dgram.js)
 * does for cluster's SharedHandle: a bound socket nobody reads from yet, or a
 * negative errno. `address` is already resolved (the worker's dgram looked it
 * up); `flags` are dgram's (UV_UDP_REUSEADDR, UV_UDP_IPV6ONLY).
 */
export function createUdpHandle(address: string, port: number, type: 'udp4' | 'udp6', flags: number): UdpHandle | Status {
  const handle = new (udpClass())();
  const status = type === 'udp4' ? handle.bind(address, port, flags) : handle.bind6(address, port, flags);
  if (status === 0) return handle;
  handle.close();
  return status;
}

/** A UDP handle on descriptor `fd`, which must be a UDP socket already (libuv takes any socket); or a negative errno. */
export function openUdpHandle(fd: number): UdpHandle | Status {
  const handle = new (udpClass())();
  const status = handle.open(fd);
  if (status === 0) return handle;
  handle.close();
  return status;
}

/**
 * Binds (but does not listen) a TCP handle; returns the handle or a negative errno.
 * `flags` are libuv's bind flags (see reusePortFlag()); Node passes them to
 * uv_tcp_bind. Node 20 drops them for IPv4 and has no UV_TCP_REUSEPORT.
 */
export function createServerHandle(address: string | null, port: number, addressType: 4 | 6, flags = 0): TcpHandle | Status {
  type Create = (a: string | null, p: number, t: number, fd: undefined, flags: number) => TcpHandle | Status;
  const create = (net as unknown as { _createServerHandle: Create })._createServerHandle;
  return create(address, port, addressType, undefined, flags);
}

/**
 * The bind flag that sets SO_REUSEPORT (several listening sockets on one
 * port, the kernel spreading connections among them by hash), or undefined
 * where Node does not have it (before 22.12 / 23.1). Node 20 ignores
 * listen({ reusePort: true }) without a word: the second listen on the port
 * then fails with EADDRINUSE. Where the OS lacks it, bind fails with ENOTSUP.
 */
export function reusePortFlag(): number | undefined {
  return uv().tcp.constants.UV_TCP_REUSEPORT;
}

/** The raw libuv pipe under a child's (or, in a worker, the process's) IPC channel. */
export function channelPipe(owner: ChildProcess | NodeJS.Process): PipeHandle | undefined {
  const symbol = Object.getOwnPropertySymbols(owner).find((s) => s.description === 'kChannelHandle');
  if (symbol === undefined) return undefined;
  const pipe = (owner as unknown as Record<symbol, unknown>)[symbol];
  return pipe && typeof (pipe as PipeHandle).writeUtf8String === 'function' ? (pipe as PipeHandle) : undefined;
}

/** What net.Server keeps privately and cluster's child code relies on. */
export interface ServerInternals {
  _handle: unknown;
  _connections: number;
  maxConnections: number | undefined;
  _listen2(address: string | null, port: number, addressType: number, backlog: number): void;
}

export function serverInternals(server: net.Server): ServerInternals {
  return server as unknown as ServerInternals;
}

/**
 * Whether this Node exposes what the fast hand-off needs: the IPC pipe under
 * kChannelHandle, a writeUtf8String that takes a handle, WriteWrap, and the
 * read state the receiving side inspects. Checked once at start-up.
 */
export function supportsFastHandoff(child?: ChildProcess): boolean {
  try {
    const { stream, pipe } = uv();
    if (typeof stream.WriteWrap !== 'function' || !(stream.streamBaseState instanceof Int32Array)) return false;
    if (typeof stream.kReadBytesOrError !== 'number' || typeof stream.kArrayBufferOffset !== 'number') return false;
    if (typeof pipe.Pipe.prototype.writeUtf8String !== 'function') return false;
    return child === undefined || channelPipe(child) !== undefined;
  } catch {
    return false;
  }
}
