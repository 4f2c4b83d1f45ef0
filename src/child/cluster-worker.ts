// Makes a handoff worker a cluster worker, as far as the app can tell.
//
// A script written for node:cluster (`if (cluster.isPrimary) fork() else
// listen()`), and libraries that check cluster.isWorker, must run their worker
// side here, as they do under node:cluster and PM2's cluster mode. A handoff
// worker is a plain child process, so require('node:cluster') would give it
// the primary's module (lib/internal/cluster/primary.js). This patches that
// very object before the user's script loads: require() and import see it,
// and syncBuiltinESMExports() updates `import { isPrimary } from 'node:cluster'`.
//
// What Node's child.js sets up, and what handoff gives instead:
//   isPrimary/isMaster false, isWorker true   the same
//   cluster.worker                            a real cluster.Worker over `process`:
//                                             id, process, send(), on('message'),
//                                             isConnected(), isDead(), exitedAfterDisconnect
//   worker.disconnect()                       handoff's graceful drain (drain.ts)
//   worker.kill()/destroy()                   the same drain, then exit
//   fork(), setupPrimary(), workers,          absent in a worker; fork() says why
//     cluster.disconnect()
//   _getServer() (net.js calls it for every   a TCP listen() asks the master, which binds
//     listen() once isPrimary is false, and   it once for every worker (listens.ts); so
//     dgram for every bind() that is not      does a UDP bind (udp/udp-bind.ts); a Unix
//     exclusive)                              socket path or an fd binds here

import cluster, { type Worker } from 'node:cluster';
import dgram from 'node:dgram';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';
import type { UdpQuery } from '../udp/udp-bind.js';

export interface ClusterWorkerOptions {
  /** The handoff worker id (HANDOFF_WORKER_ID), unique for the master's lifetime. */
  id: number;
  /** Drain gracefully and exit, as the app asked (worker.disconnect()). */
  disconnect(): void;
  /** cluster._getServer, first: true if the master serves this listen() (listens.ts); else it binds here. */
  share?(server: unknown, query: ServerQuery, callback: (error: number, handle: unknown) => void): boolean;
  /** cluster._getServer for a dgram bind() that is not exclusive: the master binds it for every worker (udp-bind.ts). */
  shareUdp(query: UdpQuery, callback: (error: number, handle: unknown) => void): void;
}

type Mutable = Record<string, unknown>;

export function becomeClusterWorker(options: ClusterWorkerOptions): Worker {
  const target = cluster as unknown as Mutable;
  // cluster.Worker is exported by Node (the class child.js builds its cluster.worker from), though not in @types/node.
  const WorkerClass = target['Worker'] as new (init: { id: number; process: NodeJS.Process; state: string }) => Worker & Mutable;
  const worker = new WorkerClass({ id: options.id, process, state: 'online' });
  // Worker.prototype.disconnect and destroy are the primary's (they act on a ChildProcess): ours drain this process.
  const disconnect = (): Worker => {
    if (worker.exitedAfterDisconnect !== true) {
      worker.exitedAfterDisconnect = true;
      worker['state'] = 'disconnecting';
      options.disconnect();
    }
    return worker;
  };
  Object.assign(worker, { disconnect, destroy: disconnect, kill: disconnect });
  process.once('disconnect', () => worker.emit('disconnect'));

  const getServer = (server: unknown, query: ServerQuery | UdpQuery, callback: (error: number, handle: unknown) => void): void => {
    if (isUdp(query)) return options.shareUdp(query, callback);
    if (options.share?.(server, query, callback) !== true) bindHere(server, query, callback);
  };
  Object.assign(target, { isPrimary: false, isMaster: false, isWorker: true, worker, _getServer: getServer });
  target['fork'] = () => {
    throw new Error('cluster.fork() called in a worker: under handoff the master forks the workers (handoff app.js --workers N)');
  };
  for (const name of ['setupPrimary', 'setupMaster', 'workers', 'settings', 'disconnect']) delete target[name];
  syncBuiltinESMExports();
  keepUdpFdsInTheWorker();
  return worker;
}

export interface ServerQuery {
  address: string | null;
  port: number;
  addressType: number;
  fd: number | undefined;
  flags: number | undefined;
}
type CreateServerHandle = (address: string | null, port: number, addressType: number, fd: number | undefined, flags: number | undefined) => unknown;

/**
 * net.js's listenInCluster() asks the primary for a handle when
 * cluster.isPrimary is false. There is no such primary here: bind in this
 * process, exactly as net.js would have done (net._createServerHandle, the
 * function cluster's primary itself uses; see node-internals.ts). The callback
 * takes a negative errno, which net.js turns into the usual 'error' event.
 */
function bindHere(_server: unknown, query: ServerQuery, callback: (error: number, handle: unknown) => void): void {
  const create = (net as unknown as { _createServerHandle: CreateServerHandle })._createServerHandle;
  const handle = create(query.address, query.port, query.addressType, query.fd, query.flags);
  if (typeof handle === 'number') callback(handle, null);
  else callback(0, handle);
}

const isUdp = (query: ServerQuery | UdpQuery): query is UdpQuery => query.addressType === 'udp4' || query.addressType === 'udp6';

/**
 * dgram's bind({ fd }) would ask the primary too, which opens that number in
 * its own process. As for a TCP listen on an fd, the descriptor is this
 * worker's: the bind is made exclusive, so that dgram opens it here, with its
 * own checks and errors. Every other bind() is left as the app wrote it.
 */
function keepUdpFdsInTheWorker(): void {
  const proto = dgram.Socket.prototype as unknown as { bind: (...args: unknown[]) => unknown };
  const bind = proto.bind;
  proto.bind = function (this: dgram.Socket, ...args: unknown[]) {
    const first = args[0] as { fd?: unknown; recvStart?: unknown } | null;
    // A handle (bind(handle), as child_process does for a received dgram.Socket) has an fd too: left alone, as dgram checks it first.
    if (typeof first === 'object' && first !== null && typeof first.recvStart !== 'function' && isDescriptor(first.fd)) {
      args[0] = { ...first, exclusive: true };
    }
    return bind.apply(this, args);
  };
}

/** What dgram's bind() takes for an fd (isInt32(fd) && fd > 0). */
const isDescriptor = (fd: unknown): boolean => Number.isInteger(fd) && (fd as number) > 0 && (fd as number) <= 0x7fffffff;
