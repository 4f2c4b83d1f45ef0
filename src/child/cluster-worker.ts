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
//     listen() once isPrimary is false)       it once for every worker (listens.ts); a
//                                             Unix socket path or an fd binds here; UDP
//                                             binds here too (exclusive)

import cluster, { type Worker } from 'node:cluster';
import dgram from 'node:dgram';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';

export interface ClusterWorkerOptions {
  /** The handoff worker id (HANDOFF_WORKER_ID), unique for the master's lifetime. */
  id: number;
  /** Drain gracefully and exit, as the app asked (worker.disconnect()). */
  disconnect(): void;
  /** cluster._getServer, first: true if the master serves this listen() (listens.ts); else it binds here. */
  share?(server: unknown, query: ServerQuery, callback: (error: number, handle: unknown) => void): boolean;
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

  const getServer = (server: unknown, query: ServerQuery, callback: (error: number, handle: unknown) => void): void => {
    if (options.share?.(server, query, callback) !== true) bindHere(server, query, callback);
  };
  Object.assign(target, { isPrimary: false, isMaster: false, isWorker: true, worker, _getServer: getServer });
  target['fork'] = () => {
    throw new Error('cluster.fork() called in a worker: under handoff the master forks the workers (handoff app.js --workers N)');
  };
  for (const name of ['setupPrimary', 'setupMaster', 'workers', 'settings', 'disconnect']) delete target[name];
  syncBuiltinESMExports();
  keepUdpInTheWorker();
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

/**
 * dgram's bind() also asks the primary when cluster.isWorker, unless the bind
 * is exclusive. UDP is not shared through the master: a socket binds here, as
 * it did before this module made the process a cluster worker.
 */
function keepUdpInTheWorker(): void {
  const proto = dgram.Socket.prototype as unknown as { bind: (...args: unknown[]) => unknown };
  const bind = proto.bind;
  proto.bind = function (this: dgram.Socket, ...args: unknown[]) {
    const first = args[0];
    if (typeof first === 'object' && first !== null) {
      args[0] = { ...first, exclusive: true };
    } else {
      const port = typeof first === 'number' || typeof first === 'string' ? first : undefined;
      const address = typeof args[1] === 'string' ? args[1] : undefined;
      args = [{ port, address, exclusive: true }, ...args.filter((arg) => typeof arg === 'function')];
    }
    return bind.apply(this, args);
  };
}
