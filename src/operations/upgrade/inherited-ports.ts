// The app's other ports in an upgrade's successor. Besides its own sockets,
// the old master hands over every socket it bound for the app's other
// listen()s (a metrics or admin server: ../../dispatch/handle-table.ts), each
// with the address that listen() asked for (HANDOFF_APP_LISTENS,
// ../../dispatch/inherited-socket.ts). When a worker of the new master asks
// for that address, the handle table takes the inherited socket instead of
// binding the address, which the old master still holds (EADDRINUSE); a port
// asked for as 0 stays the same port.
//
// As with the master's own inherited sockets, the new master accepts on one
// only once it takes over (until then the old master serves it); under
// shared, its workers accept on it as soon as they have it, as on its own.
// At the takeover, a socket no worker has asked for is closed: this version
// of the app no longer listens there (the old master's descriptor keeps it
// open until that master closes it).
//
// The app's UDP sockets come the same way (HANDOFF_APP_UDP), each with what
// its dgram bind asked for: the successor's UDP table (../../udp/udp-sockets.ts)
// takes the inherited socket for the same key instead of binding. There is no
// accepting to hold back: the new workers read from it as soon as they have
// it, beside the old ones (a datagram goes to whichever reads first), until
// the old workers stop reading at their drain. At the takeover, one no worker
// asked for is closed as well.

import type { Logger } from '../../cli/log.js';
import { listenKey, showAddress, type InheritedListens } from '../../dispatch/handle-table.js';
import type { AppSocket, AppUdpSocket } from '../../dispatch/inherited-socket.js';
import { Listener } from '../../dispatch/listener.js';
import { udpKey, type InheritedUdp } from '../../udp/udp-sockets.js';

export class InheritedPorts implements InheritedListens, InheritedUdp {
  readonly from: string;
  /** Not asked for yet, by key. */
  readonly #waiting = new Map<string, AppSocket>();
  /** UDP sockets not asked for yet, by the UDP table's key. */
  readonly #udp = new Map<string, AppUdpSocket>();
  /** Asked for before the takeover: opened then. */
  readonly #taken: Listener[] = [];
  #tookOver = false;

  constructor(from: number, sockets: AppSocket[], udp: AppUdpSocket[] = []) {
    this.from = `master ${from}`;
    for (const socket of sockets) this.#waiting.set(listenKey(socket.asked), socket);
    for (const socket of udp) this.#udp.set(udpKey(socket.asked), socket);
  }

  takeUdp(key: string): { handle: AppUdpSocket['handle']; port: number } | undefined {
    const socket = this.#udp.get(key);
    this.#udp.delete(key);
    return socket;
  }

  take(key: string): Listener | undefined {
    const socket = this.#waiting.get(key);
    if (socket === undefined) return undefined;
    this.#waiting.delete(key);
    const listener = Listener.adopt(socket.handle, socket.address);
    if (this.#tookOver) listener.open();
    else this.#taken.push(listener);
    return listener;
  }

  /** This master has taken over: it accepts on every socket its workers asked for, and closes the others. */
  tookOver(log: Logger): void {
    this.#tookOver = true;
    for (const listener of this.#taken.splice(0)) listener.open();
    for (const { asked, address } of this.#waiting.values()) {
      const port = asked.port === 0 ? ` (port ${address.port})` : '';
      log.log('info', `upgrade: no worker of master ${process.pid} asked for ${showAddress(asked.address, asked.port)}${port}, which ${this.from} handed over: closed`);
    }
    for (const { asked, port } of this.#udp.values()) {
      const chosen = asked.port === 0 ? ` (port ${port})` : '';
      log.log('info', `upgrade: no worker of master ${process.pid} bound UDP ${showAddress(asked.address, asked.port)}${chosen}, which ${this.from} handed over: closed`);
    }
    this.close();
  }

  /** Closes every socket no worker asked for (the takeover, or a shutdown before it). */
  close(): void {
    for (const { handle } of [...this.#waiting.values(), ...this.#udp.values()]) handle.close();
    this.#waiting.clear();
    this.#udp.clear();
  }
}
