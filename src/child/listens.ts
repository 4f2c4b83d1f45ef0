// Where each of the app's TCP listen()s is served: the worker side of
// cluster's queryServer (child.js _getServer, rr(), shared()).
//
//   listen() on $PORT                 the master's own listener (--port): Attacher
//   else the first TCP listen()       the master's own listener too, unless a
//                                     listen() on $PORT comes in the same turn
//   every other TCP listen()          net.js asks cluster._getServer (cluster-worker.ts),
//                                     which asks the master: `listen-request`; the master
//                                     binds the address once for every worker and answers
//                                     with a listener id (rr: connections come tagged with
//                                     it; shared: the socket itself rides with the answer,
//                                     and is given back at shutdown: returnSharedSockets()),
//                                     or with the bind's errno, which net.js emits as the
//                                     server's 'error' (EADDRINUSE...), as under cluster
//   a Unix socket path, an fd         binds here, in the worker (cluster-worker.ts)
//
// At drain the servers of the app's other ports close as the attached one
// does, and the worker waits for their connections too (closeAll()).

import net from 'node:net';
import { CMD, type AskedAddress, type ListenAddress, type MasterMessage, type WorkerMessage } from '../wire/protocol.js';
import { serverInternals, type TcpHandle } from '../wire/node-internals.js';
import { ForwardedHandle, moveToForwarded } from './attach.js';
import { followServer, type ServerFollower } from './drain/server-drain.js';

type Listen = (this: net.Server, ...args: unknown[]) => net.Server;
type Reply = Extract<MasterMessage, { type: 'listen-reply' }>;
export interface ServerQuery {
  address: string | null;
  port: number;
  addressType: number;
  fd: number | undefined;
}
type Callback = (errno: number, handle: unknown) => void;

export interface ListenDependencies {
  /** The master's own port ($PORT in the environment). */
  masterPort: number;
  /** Attach `server` to the master's own listener. */
  attach(server: net.Server, asked: AskedAddress, backlog: number | undefined): void;
  /** A server is attached already (an exported one: load-script.ts). */
  attached(): boolean;
  send(message: WorkerMessage): void;
}

interface Extra {
  server: net.Server;
  handle: ForwardedHandle;
}

export class ListenRouter {
  readonly #deps: ListenDependencies;
  #claimed = false;
  #candidate = false;
  #nextRequest = 0;
  readonly #waiting = new Map<number, { server: net.Server; callback: Callback }>();
  /** Servers on the master's other listeners, by listener id (rr: connections arrive tagged with it). */
  readonly #extras = new Map<number, Extra>();
  /** Every server listening through the master besides the attached one (rr and shared), to close at drain. */
  readonly #servers = new Set<net.Server>();
  /** What closes each one's connections politely at drain (server-drain.ts), as for the attached server. */
  readonly #followers = new WeakMap<net.Server, ServerFollower>();
  /** shared: servers accepting on a socket the master sent, by listener id, until the shutdown takes it back. */
  readonly #sharedSockets = new Map<number, { server: net.Server; socket: TcpHandle; address: ListenAddress }>();
  /** The shutdown took the shared sockets back: a socket that arrives later is not listened on. */
  #returned = false;

  constructor(deps: ListenDependencies) {
    this.#deps = deps;
  }

  /**
   * listen-intercept.ts's `take`: true if this listen() is the master's own
   * listener's (now, or after this turn); false to let net.js go on, to _getServer.
   */
  take(server: net.Server, args: unknown[], realListen: Listen): boolean {
    const asked = askedAddress(args);
    const backlog = backlogOf(args);
    this.#claimed ||= this.#deps.attached();
    if (asked.port === this.#deps.masterPort && asked.port !== 0) {
      if (this.#claimed) return false; // the master holds that port: EADDRINUSE, from the master's bind
      this.#claimed = true;
      this.#deps.attach(server, asked, backlog);
      return true;
    }
    if (this.#claimed || this.#candidate) return false;
    // The first other listen(): the master's listener, unless the app listens on $PORT in this same turn.
    this.#candidate = true;
    setImmediate(() => {
      this.#candidate = false;
      if (this.#claimed || this.#deps.attached()) return void realListen.apply(server, args.filter((arg) => typeof arg !== 'function'));
      this.#claimed = true;
      this.#deps.attach(server, asked, backlog);
    });
    return true;
  }

  /** cluster._getServer for a TCP listen(): ask the master. False for what binds here (pipes, fds). */
  share(server: net.Server, query: ServerQuery, callback: Callback): boolean {
    if (query.fd !== undefined && query.fd >= 0) return false;
    if (query.addressType !== 4 && query.addressType !== 6) return false;
    const request = ++this.#nextRequest;
    this.#waiting.set(request, { server, callback });
    this.#deps.send({ cmd: CMD, type: 'listen-request', request, address: query.address, port: query.port, addressType: query.addressType });
    return true;
  }

  /** The master's answer: a listener, a shared socket, or an errno for the listen(). */
  answered(reply: Reply, socket: TcpHandle | undefined): void {
    const waiting = this.#waiting.get(reply.request);
    if (waiting === undefined) return socket?.close();
    this.#waiting.delete(reply.request);
    const { server, callback } = waiting;
    if (reply.errno !== 0) return callback(reply.errno, null);
    this.#servers.add(server);
    if (!this.#followers.has(server)) this.#followers.set(server, followServer(server));
    server.once('close', () => this.#servers.delete(server));
    if (socket !== undefined && !this.#returned) {
      this.#sharedSockets.set(reply.listener, { server, socket, address: reply.address });
      return callback(0, socket); // shared: the worker accepts on it, as cluster's shared()
    }
    socket?.close(); // after the shutdown's 'unshare': connections come as hand-offs
    callback(0, this.#forwarded(reply.listener, reply.address, server));
  }

  /** A handle for `server` through which the master's hand-offs for `listener` reach it. */
  #forwarded(listener: number, address: ListenAddress, server: net.Server): ForwardedHandle {
    const handle = new ForwardedHandle(address, () => {
      if (this.#extras.get(listener)?.handle === handle) this.#extras.delete(listener);
      this.#deps.send({ cmd: CMD, type: 'listen-close', listener });
    });
    this.#extras.set(listener, { server, handle });
    return handle;
  }

  /**
   * shared, at shutdown ('unshare'): every server accepting on a socket the
   * master sent goes on with hand-offs from the master, and this process's
   * descriptor of the socket closes, so that the master's is the last and it
   * accepts what waits in the backlog (as Attacher.returnSharedSocket() does
   * for the master's own socket).
   */
  returnSharedSockets(): void {
    this.#returned = true;
    for (const [listener, { server, socket, address }] of this.#sharedSockets) {
      if (serverInternals(server)._handle !== socket) continue; // the app closed it, and the socket with it
      moveToForwarded(server, socket, this.#forwarded(listener, address, server));
      socket.close();
    }
    this.#sharedSockets.clear();
  }

  /** May a connection for listener `id` be handed to its server now? (child.js: server open and under maxConnections) */
  canAccept(id: number): boolean {
    const extra = this.#extras.get(id);
    if (extra === undefined || extra.handle.closed || extra.handle.onconnection === null) return false;
    const internals = serverInternals(extra.server);
    return !(internals.maxConnections && internals._connections >= internals.maxConnections);
  }

  /** Hands a connection to the server on listener `id`, as if it had accepted it. Check canAccept() first. */
  deliver(id: number, client: TcpHandle): void {
    this.#extras.get(id)?.handle.onconnection?.(0, client);
  }

  /** Open connections on the servers besides the attached one. */
  get active(): number {
    let open = 0;
    for (const server of this.#servers) open += serverInternals(server)._connections;
    return open;
  }

  /**
   * Draining: stop accepting on every other listener too, and close their
   * connections as politely as the attached server's (server-drain.ts).
   * Resolves once every one of these servers has closed, its last connection
   * with it: the worker exits only then (drain.ts), so what the master handed
   * it on these ports -- the backlog it accepted at shutdown too -- is answered.
   */
  closeAll(): Promise<void> {
    const closing = [...this.#servers].map((server) => {
      const closed = new Promise<void>((resolve) => server.once('close', () => resolve()));
      net.Server.prototype.close.call(server);
      this.#followers.get(server)?.beginDrain();
      return closed;
    });
    return Promise.all(closing).then(() => undefined);
  }
}

/** The host and port a TCP listen() names (listen(port, host), listen({ port, host }), listen()). */
export function askedAddress(args: unknown[]): AskedAddress {
  const first = args[0];
  if (typeof first === 'object' && first !== null) {
    const options = first as { port?: unknown; host?: unknown };
    return { port: Number(options.port ?? 0) || 0, host: typeof options.host === 'string' ? options.host : undefined };
  }
  const host = typeof args[1] === 'string' ? args[1] : undefined;
  return { port: Number(first ?? 0) || 0, host };
}

function backlogOf(args: unknown[]): number | undefined {
  const first = args[0];
  if (typeof first === 'object' && first !== null && typeof (first as { backlog?: unknown }).backlog === 'number') {
    return (first as { backlog: number }).backlog;
  }
  // listen(port, host, backlog, cb) / listen(port, backlog, cb): the first number after the port
  const rest = args.slice(1).filter((arg) => typeof arg === 'number');
  return typeof rest[0] === 'number' ? rest[0] : undefined;
}

/** What an attached server reports as its address: the host it asked for, when the master's socket covers it. */
export function shownAddress(master: ListenAddress, asked: AskedAddress): ListenAddress {
  const wildcard = master.address === '::' || master.address === '0.0.0.0';
  const host = asked.host === 'localhost' ? '127.0.0.1' : asked.host;
  const family = host === undefined ? 0 : net.isIP(host);
  if (!wildcard || host === undefined || family === 0) return master;
  if (family === 6 && master.address === '0.0.0.0') return master;
  return { address: host, port: master.port, family: family === 6 ? 'IPv6' : 'IPv4' };
}
