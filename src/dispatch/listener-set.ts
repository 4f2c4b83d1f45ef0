// Every listening socket a master serves, as one: a socket it bound itself
// (--host, --port), or the ones it inherited (systemd's LISTEN_FDS, or the
// master it replaced in an upgrade). Connections from all of them go to the
// same dispatcher; pausing, resuming and closing apply to all of them; and
// an upgrade hands every one of them on.

import { HandoffError } from '../errors.js';
import { Listener, type BoundAddress } from './listener.js';
import type { TcpHandle } from '../wire/node-internals.js';
import type { Inheritance } from './inherited-socket.js';

export class ListenerSet {
  readonly listeners: readonly Listener[];
  /** Its sockets are systemd's too: an upgrade says so to the next master. */
  readonly keptBySystemd: boolean;

  private constructor(listeners: Listener[], keptBySystemd = false) {
    this.listeners = listeners;
    this.keptBySystemd = keptBySystemd;
  }

  /** Binds host:port (with `reuseFlag`, reuseport's SO_REUSEPORT), or adopts the inherited sockets (which accept nothing until open()). */
  static open(host: string | undefined, port: number, inherited: Inheritance | undefined, reuseFlag = 0): ListenerSet {
    if (inherited === undefined) return new ListenerSet([Listener.bind(host, port, reuseFlag)]);
    const kept = inherited.keptBySystemd;
    return new ListenerSet(inherited.sockets.map((socket) => Listener.adopt(socket.handle, socket.address, kept)), kept);
  }

  /** The first socket's address: the one the ready line and the status show, and the workers' server.address(). */
  get address(): BoundAddress {
    return (this.listeners[0] as Listener).address;
  }

  get addresses(): BoundAddress[] {
    return this.listeners.map((listener) => listener.address);
  }

  get onconnection(): (client: TcpHandle) => void {
    return (this.listeners[0] as Listener).onconnection;
  }

  set onconnection(handler: (client: TcpHandle) => void) {
    for (const listener of this.listeners) listener.onconnection = handler;
  }

  pause(): void {
    for (const listener of this.listeners) listener.pause();
  }

  resume(): void {
    for (const listener of this.listeners) listener.resume();
  }

  /** Starts accepting on adopted sockets. */
  open(): void {
    for (const listener of this.listeners) listener.open();
  }

  stopAccepting(): void {
    for (const listener of this.listeners) listener.stopAccepting();
  }

  /** shared, at shutdown: the master accepts again on every socket. */
  acceptAgain(): void {
    for (const listener of this.listeners) listener.acceptAgain();
  }

  /** At shutdown: accept what the kernel already completed on every socket, before they close. */
  async acceptBacklog(deadline: number): Promise<number> {
    let taken = 0;
    for (const listener of this.listeners) taken += await listener.acceptBacklog(deadline);
    return taken;
  }

  /** For the shared scheduler, whose workers accept on one socket. */
  sharedHandle(): Promise<TcpHandle> {
    if (this.listeners.length > 1) {
      return Promise.reject(new HandoffError('ERR_HANDOFF_LISTEN', `--scheduler shared serves one listening socket, and this master has ${this.listeners.length}: use rr, least-conn or ip-hash`));
    }
    return (this.listeners[0] as Listener).sharedHandle();
  }

  /** One new descriptor of every socket, in order, for a successor to inherit. */
  duplicates(): Promise<TcpHandle[]> {
    return Promise.all(this.listeners.map((listener) => listener.duplicate()));
  }

  close(): void {
    for (const listener of this.listeners) listener.close();
  }
}
