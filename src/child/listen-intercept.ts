// Makes an unchanged server script work under handoff: its server.listen()
// does not bind a port, it attaches to the master's socket.
//
// cluster does this inside net.js (listenInCluster() asks the primary when
// cluster.isWorker). handoff's workers are plain child processes, so the
// runtime wraps net.Server.prototype.listen before the user's script loads.
// http, https and tls servers all inherit it. Only TCP listens are taken
// (listen(port), listen(port, host), listen({ port }), listen()); a Unix
// socket path, a handle or an fd goes to the real listen() untouched. Which
// TCP listen() the master's own listener takes is listens.ts's to say.

import net from 'node:net';

export type Listen = (this: net.Server, ...args: unknown[]) => net.Server;

/**
 * `take` is called for each TCP listen(); it returns true if it took the
 * server (listens.ts: the master's own listener), false to let the real
 * listen() go on (net.js then asks cluster._getServer: cluster-worker.ts).
 */
export function interceptListen(take: (server: net.Server, args: unknown[], realListen: Listen) => boolean): void {
  const realListen = net.Server.prototype.listen as unknown as Listen;
  const listen: Listen = function (this: net.Server, ...args: unknown[]) {
    if (isTcpListen(args[0]) && take(this, args, realListen)) {
      const callback = args.findLast((arg) => typeof arg === 'function');
      if (callback) this.once('listening', callback as () => void);
      return this;
    }
    return realListen.apply(this, args);
  };
  net.Server.prototype.listen = listen as unknown as typeof net.Server.prototype.listen;
}

function isTcpListen(first: unknown): boolean {
  if (first === undefined || first === null || typeof first === 'function' || typeof first === 'number') return true;
  if (typeof first === 'string') return /^\d+$/.test(first); // a non-numeric string is a pipe path
  if (typeof first === 'object') {
    const options = first as Record<string, unknown>;
    if ('path' in options || 'fd' in options || 'handle' in options || '_handle' in options) return false;
    if (first instanceof net.Server || first instanceof net.Socket) return false;
    return true; // { port, host, backlog, ... }
  }
  return false;
}
