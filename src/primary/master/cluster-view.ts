// --primary <module>: code that must run in node:cluster's primary, run in
// handoff's master, unchanged.
//
// Libraries written for cluster reach the primary through the node:cluster
// module itself: @socket.io/cluster-adapter's setupPrimary() listens to
// cluster.on('message') and relays to every cluster.workers[id].send();
// prom-client's AggregatorRegistry sends a request to each worker in
// cluster.workers and waits for cluster 'message' answers. So the view is the
// real node:cluster module of the master process (cluster.isPrimary is true
// there: the master is no cluster worker), kept up to date as handoff's
// workers come and go:
//
//   cluster.workers                  every live worker process, by id, until its exit
//   cluster.on('fork' | 'online' | 'listening' | 'message' | 'disconnect' | 'exit')
//   worker.id, .process, .state, .exitedAfterDisconnect, .isConnected(), .isDead()
//   worker.send(message[, handle][, callback])  to the worker's process.on('message')
//   worker.on('message' | 'online' | 'listening' | 'disconnect' | 'exit')
//   worker.kill([signal])            signals the process (the master replaces it as after any crash)
//
// Each worker is a real cluster.Worker (`instanceof cluster.Worker` holds).
// What handoff's master does itself is refused, with a message, instead of
// half-working: cluster.fork() (the master forks: --workers, handoff ctl
// scale), cluster.disconnect() and worker.disconnect() (handoff ctl stop;
// reload and scale drain workers).

import cluster, { type Worker as ClusterWorker } from 'node:cluster';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { HandoffError } from '../../errors.js';
import type { BoundAddress } from '../../dispatch/listener.js';
import type { Worker } from '../worker.js';
import type { WorkerState } from '../lifecycle.js';

/** The master's events the view follows (Master emits all of them). */
export interface PrimaryEvents {
  on(event: 'fork' | 'online' | 'listening', listener: (worker: Worker) => void): unknown;
  on(event: 'exit', listener: (worker: Worker, code: number | null, signal: NodeJS.Signals | null) => void): unknown;
}

type ClusterState = 'none' | 'online' | 'listening' | 'disconnecting' | 'disconnected' | 'dead';

const clusterState: Readonly<Record<WorkerState, ClusterState>> = {
  starting: 'none',
  online: 'online',
  listening: 'listening',
  closing: 'disconnecting',
  dead: 'dead',
};

/** node:cluster's Worker keeps its lifecycle in `state`, which @types/node does not declare. */
function setState(worker: ClusterWorker, state: ClusterState): void {
  (worker as unknown as { state: ClusterState }).state = state;
}

function refuse(what: string, instead: string): never {
  throw new HandoffError('ERR_HANDOFF_PRIMARY', `${what} is not available under handoff: ${instead}`);
}

/** Makes the master's node:cluster module mirror `master`'s workers. Returns a function that undoes it. */
export function installClusterView(master: PrimaryEvents, address: BoundAddress): () => void {
  const workers = cluster.workers as Record<string, ClusterWorker>;
  const byId = new Map<number, ClusterWorker>();
  const original = { fork: cluster.fork, disconnect: cluster.disconnect };
  const mutable = cluster as unknown as Record<string, unknown>;
  mutable['fork'] = () => refuse('cluster.fork()', 'the master forks the workers (--workers, handoff ctl scale)');
  mutable['disconnect'] = () => refuse('cluster.disconnect()', 'the master drains the workers (handoff ctl stop, SIGTERM)');

  const view = (worker: Worker): ClusterWorker | undefined => byId.get(worker.id);
  const move = (worker: Worker, event: 'online' | 'listening', ...args: unknown[]): void => {
    const clusterWorker = view(worker);
    if (clusterWorker === undefined) return;
    setState(clusterWorker, clusterState[worker.state]);
    clusterWorker.emit(event, ...args);
    cluster.emit(event, clusterWorker, ...args);
  };

  master.on('fork', (worker) => {
    // Node's Worker constructor forwards the process's 'message' and 'error' events to the worker.
    const WorkerClass = (cluster as unknown as { Worker: new (options: object) => ClusterWorker }).Worker;
    const clusterWorker = new WorkerClass({ id: worker.id, process: worker.process, state: 'none' });
    Object.assign(clusterWorker, {
      kill: (signal: NodeJS.Signals = 'SIGTERM') => worker.kill(signal),
      destroy: (signal: NodeJS.Signals = 'SIGTERM') => worker.kill(signal),
      disconnect: () => refuse('worker.disconnect()', 'the master drains workers itself (handoff ctl reload, scale, stop)'),
    });
    clusterWorker.on('message', (message: unknown, handle: unknown) => cluster.emit('message', clusterWorker, message, handle));
    worker.on('state', (state) => {
      if (state === 'closing') clusterWorker.exitedAfterDisconnect = worker.exitedAfterDisconnect;
    });
    worker.on('disconnect', () => {
      setState(clusterWorker, 'disconnected');
      clusterWorker.emit('disconnect');
      cluster.emit('disconnect', clusterWorker);
    });
    byId.set(worker.id, clusterWorker);
    workers[worker.id] = clusterWorker;
    cluster.emit('fork', clusterWorker);
  });
  master.on('online', (worker) => move(worker, 'online'));
  master.on('listening', (worker) => move(worker, 'listening', { address: address.address, port: address.port, addressType: address.family === 'IPv6' ? 6 : 4 }));
  master.on('exit', (worker, code, signal) => {
    const clusterWorker = view(worker);
    if (clusterWorker === undefined) return;
    byId.delete(worker.id);
    delete workers[worker.id];
    setState(clusterWorker, 'dead');
    clusterWorker.exitedAfterDisconnect = worker.exitedAfterDisconnect;
    clusterWorker.emit('exit', code, signal);
    cluster.emit('exit', clusterWorker, code, signal);
  });

  return () => {
    mutable['fork'] = original.fork;
    mutable['disconnect'] = original.disconnect;
  };
}

/**
 * Imports the --primary module. What it throws (or a module that cannot be
 * found) becomes a start-up error carrying its stack.
 */
export async function loadPrimaryModule(file: string): Promise<void> {
  const absolute = path.resolve(file);
  try {
    await import(pathToFileURL(absolute).href);
  } catch (error) {
    const stack = error instanceof Error ? (error.stack ?? String(error)) : `non-error thrown: ${String(error)}`;
    throw new HandoffError('ERR_HANDOFF_PRIMARY', `--primary ${file} failed to load:\n${stack}`, { cause: error });
  }
}
