// Listening sockets the master did not bind itself, but inherited as open
// descriptors: from systemd's socket activation, or from the master it
// replaces in an upgrade (src/operations/upgrade/upgrade.ts). Both arrive the same
// way, as consecutive descriptors from 3 on, and take the same path here.
//
//   systemd:  LISTEN_FDS=<n>, LISTEN_PID=<our pid> (sd_listen_fds(3)). systemd
//             sets LISTEN_PID in the child between fork and exec; a variable
//             naming another pid is meant for someone else and ignored.
//   upgrade:  HANDOFF_LISTEN_FDS=<n>, HANDOFF_UPGRADE_FROM=<old master's pid>.
//             Node cannot set a variable between fork and exec, so it cannot
//             know LISTEN_PID in advance: the old master names itself instead,
//             and starts us with an IPC channel to it. After its own n
//             sockets come those of the app's other ports, one per entry of
//             HANDOFF_APP_LISTENS (a JSON array of what each listen() asked
//             for), then the app's UDP sockets, one per entry of
//             HANDOFF_APP_UDP (what each dgram bind asked for: the key of
//             udp/udp-sockets.ts, and its flags), which the successor adopts
//             (operations/upgrade/inherited-ports.ts).
//
// The variables are removed from process.env once read (as sd_listen_fds(1)
// does), so the workers and a later successor do not see stale ones.
//
// Only listening TCP sockets are served (and, from an old master, the UDP
// sockets HANDOFF_APP_UDP names). On Linux each descriptor is looked
// up in /proc/net (by its socket inode) to say exactly what it is when it is
// not one; elsewhere, getsockname() must report an IPv4 or IPv6 address.

import fs from 'node:fs';
import util from 'node:util';
import { HandoffError } from '../errors.js';
import { openUdpHandle, uv, type TcpHandle, type UdpHandle } from '../wire/node-internals.js';
import type { UdpRequest } from '../udp/udp-sockets.js';
import type { ListenRequest } from './handle-table.js';
import type { BoundAddress } from './listener.js';

/** The first inherited descriptor, after stdin, stdout and stderr. */
export const FIRST_INHERITED_FD = 3;
export const UPGRADE_FDS_ENV = 'HANDOFF_LISTEN_FDS';
export const UPGRADE_FROM_ENV = 'HANDOFF_UPGRADE_FROM';
export const UPGRADE_APP_ENV = 'HANDOFF_APP_LISTENS';
export const UPGRADE_UDP_ENV = 'HANDOFF_APP_UDP';
/** Set by an old master whose own sockets systemd passed: they outlive every master (listener.ts). */
export const UPGRADE_SYSTEMD_ENV = 'HANDOFF_LISTEN_SYSTEMD';

export interface InheritedSocket {
  fd: number;
  handle: TcpHandle;
  address: BoundAddress;
}

/** One of the app's other listening sockets, with the address its listen() asked for (the handle table's key). */
export interface AppSocket extends InheritedSocket {
  asked: ListenRequest;
}

/** One of the app's UDP sockets, with what its bind asked for (the UDP table's key) and the port it is bound to. */
export interface AppUdpSocket {
  fd: number;
  handle: UdpHandle;
  port: number;
  asked: UdpRequest;
}

export interface Inheritance {
  source: 'systemd' | 'upgrade';
  /** The master's own sockets are systemd's too (passed by it, or by an old master it had passed them to). */
  keptBySystemd: boolean;
  /** With source 'upgrade': the pid of the master being replaced. */
  from?: number;
  /** The master's own sockets. */
  sockets: InheritedSocket[];
  /** With source 'upgrade': the sockets of the app's other ports the old master held. */
  app?: AppSocket[];
  /** With source 'upgrade': the app's UDP sockets the old master held. */
  udp?: AppUdpSocket[];
}

/**
 * The listening sockets this process inherited, or undefined if it inherited
 * none. Throws a one-line HandoffError (ERR_HANDOFF_LISTEN) for a descriptor
 * that is not a listening TCP socket, or variables that do not add up.
 */
export function takeInheritedSockets(env: NodeJS.ProcessEnv = process.env): Inheritance | undefined {
  const upgradeCount = env[UPGRADE_FDS_ENV];
  if (upgradeCount !== undefined) {
    const from = Number(env[UPGRADE_FROM_ENV]);
    const appListens = env[UPGRADE_APP_ENV];
    const appUdp = env[UPGRADE_UDP_ENV];
    const keptBySystemd = env[UPGRADE_SYSTEMD_ENV] === '1';
    delete env[UPGRADE_SYSTEMD_ENV];
    delete env[UPGRADE_FDS_ENV];
    delete env[UPGRADE_FROM_ENV];
    delete env[UPGRADE_APP_ENV];
    delete env[UPGRADE_UDP_ENV];
    const count = parseCount(UPGRADE_FDS_ENV, upgradeCount);
    const asked = parseAppListens(appListens);
    const udpAsked = parseAppUdp(appUdp);
    // The old master is our parent, with an IPC channel to us; it may have died
    // already (then we were reparented, and the channel reads end-of-file).
    if (!(from > 0) || process.channel === undefined) {
      throw new HandoffError(
        'ERR_HANDOFF_LISTEN',
        `${UPGRADE_FDS_ENV} is set, but no old master started this process: it is handoff's own variable for \`handoff ctl upgrade\`; unset it`,
      );
    }
    const all = openAll(UPGRADE_FDS_ENV, count + asked.length);
    let udp: AppUdpSocket[];
    try {
      udp = openAllUdp(FIRST_INHERITED_FD + all.length, udpAsked);
    } catch (error) {
      for (const socket of all) socket.handle.close();
      throw error;
    }
    return { source: 'upgrade', keptBySystemd, from, sockets: all.slice(0, count), app: asked.map((request, i) => ({ ...(all[count + i] as InheritedSocket), asked: request })), udp };
  }
  const systemdCount = env['LISTEN_FDS'];
  if (systemdCount === undefined || env['LISTEN_PID'] !== String(process.pid)) return undefined;
  delete env['LISTEN_FDS'];
  delete env['LISTEN_PID'];
  delete env['LISTEN_FDNAMES'];
  const count = parseCount('LISTEN_FDS', systemdCount);
  return count === 0 ? undefined : { source: 'systemd', keptBySystemd: true, sockets: openAll('LISTEN_FDS', count) };
}

function parseCount(name: string, value: string): number {
  const count = Number(value);
  if (!/^\d+$/.test(value.trim()) || count > 1024) throw new HandoffError('ERR_HANDOFF_LISTEN', `${name}=${value}: expected a number of descriptors`);
  return count;
}

/** HANDOFF_APP_LISTENS: what each of the app's other sockets was asked for, in the order they follow the master's own. */
function parseAppListens(value: string | undefined): ListenRequest[] {
  const valid = (item: unknown): item is ListenRequest => {
    const { address, port, addressType } = (item ?? {}) as Partial<ListenRequest>;
    return (address === null || typeof address === 'string') && Number.isInteger(port) && (addressType === 4 || addressType === 6);
  };
  return parseList(UPGRADE_APP_ENV, value, valid, 'the addresses');
}

/** HANDOFF_APP_UDP: what each of the app's UDP sockets was asked for, in the order they follow the app's other ports. */
function parseAppUdp(value: string | undefined): UdpRequest[] {
  const count = (n: unknown, max: number): boolean => Number.isInteger(n) && (n as number) >= 0 && (n as number) <= max;
  const valid = (item: unknown): item is UdpRequest => {
    const { address, port, addressType, flags, index } = (item ?? {}) as Partial<UdpRequest>;
    return typeof address === 'string' && count(port, 65535) && (addressType === 'udp4' || addressType === 'udp6') && count(flags, 0xffffffff) && count(index, 1 << 20);
  };
  return parseList(UPGRADE_UDP_ENV, value, valid, 'the UDP binds');
}

/** A JSON array of `valid` items (1024 at most) in variable `name`, or a one-line HandoffError naming `what` was expected. */
function parseList<T>(name: string, value: string | undefined, valid: (item: unknown) => item is T, what: string): T[] {
  if (value === undefined) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    parsed = undefined;
  }
  if (!Array.isArray(parsed) || parsed.length > 1024 || !parsed.every(valid)) {
    throw new HandoffError('ERR_HANDOFF_LISTEN', `${name}=${value}: expected ${what} the old master passed`);
  }
  return parsed;
}

/** Opens one UDP handle per entry of `asked`, on the descriptors from `first` on; all or none. */
function openAllUdp(first: number, asked: UdpRequest[]): AppUdpSocket[] {
  const sockets: AppUdpSocket[] = [];
  try {
    for (const [i, request] of asked.entries()) sockets.push(openUdp(first + i, request));
  } catch (error) {
    for (const socket of sockets) socket.handle.close();
    throw error;
  }
  return sockets;
}

/** Wraps descriptor `fd` in a UDP handle, if it is a UDP socket of the family `asked` names. */
function openUdp(fd: number, asked: UdpRequest): AppUdpSocket {
  const refuse = (what: string): HandoffError =>
    new HandoffError('ERR_HANDOFF_LISTEN', `${UPGRADE_UDP_ENV}: descriptor ${fd} is ${what}; expected the UDP socket the old master passed for ${asked.address}:${asked.port}`);
  let stat: fs.Stats;
  try {
    stat = fs.fstatSync(fd);
  } catch {
    throw refuse('not open');
  }
  if (!stat.isSocket()) throw refuse(`not a socket but ${describeFd(fd)}`);
  const kind = socketKind(fd);
  if (kind !== undefined && kind !== 'a UDP socket') throw refuse(kind);
  const handle = openUdpHandle(fd);
  if (typeof handle === 'number') throw refuse(`unusable (${util.getSystemErrorName(handle)})`);
  const out: Record<string, unknown> = {};
  handle.getsockname(out);
  if (out['family'] !== (asked.addressType === 'udp6' ? 'IPv6' : 'IPv4')) {
    handle.close();
    throw refuse(`not an ${asked.addressType === 'udp6' ? 'IPv6' : 'IPv4'} socket`);
  }
  return { fd, handle, port: Number(out['port']), asked };
}

function openAll(variable: string, count: number): InheritedSocket[] {
  const sockets: InheritedSocket[] = [];
  try {
    for (let fd = FIRST_INHERITED_FD; fd < FIRST_INHERITED_FD + count; fd++) sockets.push(openListening(variable, fd));
  } catch (error) {
    for (const socket of sockets) socket.handle.close();
    throw error;
  }
  return sockets;
}

/** Wraps descriptor `fd` in a TCP handle, if it is a listening TCP socket. */
export function openListening(variable: string, fd: number): InheritedSocket {
  const refuse = (what: string): HandoffError =>
    new HandoffError('ERR_HANDOFF_LISTEN', `${variable}: descriptor ${fd} is ${what}; handoff serves listening TCP sockets only (ListenStream= with an address or port)`);
  let stat: fs.Stats;
  try {
    stat = fs.fstatSync(fd);
  } catch {
    throw refuse('not open');
  }
  if (!stat.isSocket()) throw refuse(`not a socket but ${describeFd(fd)} (was anything passed there?)`);
  const kind = socketKind(fd);
  if (kind !== undefined && kind !== 'a listening TCP socket') throw refuse(kind);

  const { TCP, constants } = uv().tcp as unknown as { TCP: new (type: number) => TcpHandle & { open(fd: number): number }; constants: { SERVER: number } };
  const handle = new TCP(constants.SERVER);
  const status = handle.open(fd);
  if (status !== 0) {
    handle.close();
    throw refuse(`unusable (${util.getSystemErrorName(status)})`);
  }
  const out: Record<string, unknown> = {};
  handle.getsockname(out);
  if (out['family'] !== 'IPv4' && out['family'] !== 'IPv6') {
    handle.close();
    throw refuse('not an IPv4 or IPv6 socket');
  }
  return { fd, handle, address: { address: String(out['address']), port: Number(out['port']), family: out['family'] } };
}

/** What /proc says a descriptor is: a path, pipe:[...], anon_inode:[eventpoll]... */
function describeFd(fd: number): string {
  try {
    return fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return 'a file, a pipe or a device';
  }
}

/**
 * What kind of socket `fd` is, from /proc/net on Linux: "a listening TCP
 * socket", "a TCP connection", "a UDP socket", "a Unix socket"... or
 * undefined where /proc cannot tell (then getsockname() decides).
 */
function socketKind(fd: number): string | undefined {
  let inode: string | undefined;
  try {
    inode = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/self/fd/${fd}`))?.[1];
  } catch {
    return undefined;
  }
  if (inode === undefined) return undefined;
  const tables: Array<[string, string]> = [
    ['tcp', 'TCP'],
    ['tcp6', 'TCP'],
    ['udp', 'a UDP socket'],
    ['udp6', 'a UDP socket'],
    ['unix', 'a Unix socket'],
    ['raw', 'a raw socket'],
    ['raw6', 'a raw socket'],
  ];
  for (const [table, name] of tables) {
    let text: string;
    try {
      text = fs.readFileSync(`/proc/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // tcp: sl local rem st tx:rx tr:when retrnsmt uid timeout inode; unix: Num RefCount Protocol Flags Type St Inode Path
      const lineInode = table === 'unix' ? fields[6] : fields[9];
      if (lineInode !== inode) continue;
      if (name !== 'TCP') return name;
      return fields[3] === '0A' ? 'a listening TCP socket' : 'a TCP socket that is not listening (a connection, or bound only)';
    }
  }
  return undefined; // another family (netlink, packet...) or a /proc without these tables: let getsockname() decide
}
