// The master's own connections to a listening socket it is about to close
// (Listener.acceptBacklog). With the socket's backlog at 0 the kernel keeps
// at most one connection nobody has accepted; one of ours in that place means
// no client's handshake can complete before close(), which resets only ours.
//
// Each is kept open until the listener closes, even one whose handshake we
// gave up waiting for: kept open, its local port cannot pass to a client, so
// if it completes later and is accepted it is recognised and closed, never
// dispatched.

import { once } from 'node:events';
import net from 'node:net';
import type { TcpHandle } from '../wire/node-internals.js';

/** How long our handshake may take on loopback before we conclude a client holds the one place. */
const HANDSHAKE_MS = 10;

/** 'held': ours took the place; 'taken': a client holds it (ours waits); 'cannot': ours failed (refused, no descriptor). */
export type PlaceOutcome = 'held' | 'taken' | 'cannot';

export class Placeholders {
  readonly #sockets: net.Socket[] = [];
  /** Their local address:port, as the listening socket sees its peers. */
  readonly #peers = new Set<string>();

  /** Connects one more to `address`:`port` (a wildcard address: on loopback) and says whether it took the place. */
  async take(address: string, port: number): Promise<PlaceOutcome> {
    const socket = net.connect({ host: loopbackFor(address), port });
    socket.on('error', () => undefined); // reset at the close, as intended; or never connected
    this.#sockets.push(socket);
    const connected = await Promise.race([once(socket, 'connect').then(() => true, () => false), delay(HANDSHAKE_MS).then(() => false)]);
    this.#peers.add(`${unmapped(socket.localAddress)}:${socket.localPort}`);
    if (connected) return 'held';
    return socket.destroyed ? 'cannot' : 'taken';
  }

  /** A connection the listener accepted is one of ours. */
  includes(client: TcpHandle): boolean {
    if (this.#sockets.length === 0) return false;
    const peer: Record<string, unknown> = {};
    client.getpeername(peer);
    return this.#peers.has(`${unmapped(String(peer['address']))}:${String(peer['port'])}`);
  }

  /** After the listener closed. */
  destroy(): void {
    for (const socket of this.#sockets.splice(0)) socket.destroy();
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** A wildcard `::` socket takes IPv4 too (not IPv6-only), and ::1 may not exist (IPv6 off). */
function loopbackFor(address: string): string {
  return address === '0.0.0.0' || address === '::' ? '127.0.0.1' : address;
}

/** An IPv4 address as an IPv6 socket names it (::ffff:127.0.0.1), as itself. */
function unmapped(address: string | undefined): string {
  return String(address).replace(/^::ffff:/, '');
}
