// The master's part in an upgrade, both ways: as the old master, upgrade()
// spawns a successor on the same sockets, its own, the app's other ports and
// its UDP sockets
// (../../operations/upgrade/upgrade.ts); as a successor, takeOver() is the
// moment it starts serving in its place (../../operations/upgrade/successor.ts),
// on the app's other ports too (inherited-ports.ts: the sockets its workers
// asked for start accepting, the others close, UDP ones too). Master keeps the events; this
// keeps what an upgrade needs to know and the rules for when one may start.

import type { Logger } from '../../cli/log.js';
import type { ResolvedOptions } from '../../cli/options.js';
import { writePidFile } from '../../cli/pid-file.js';
import type { ControlServer } from '../../control/server.js';
import type { Inheritance } from '../../dispatch/inherited-socket.js';
import type { ListenerSet } from '../../dispatch/listener-set.js';
import { InheritedPorts } from '../../operations/upgrade/inherited-ports.js';
import { Successor } from '../../operations/upgrade/successor.js';
import { Upgrades, type UpgradeOptions, type UpgradeParts, type UpgradeResult } from '../../operations/upgrade/upgrade.js';
import type { MasterMetrics } from './metrics.js';

/** What the handover needs from Master; functions, since the control socket is made after this. */
export interface HandoverHost {
  options: ResolvedOptions;
  log: Logger;
  listeners: ListenerSet;
  /** The app's other listening sockets, for a successor (HandleTable.appSockets()). */
  appSockets: UpgradeParts['appSockets'];
  /** The app's UDP sockets, for a successor (UdpSockets.handover()). */
  udpSockets: UpgradeParts['udpSockets'];
  metrics: () => MasterMetrics;
  control: () => ControlServer | undefined;
  closing: () => boolean;
  reloading: () => boolean;
  close: (exitCode?: number) => Promise<number>;
  /** The successor has taken over: it is ready now. */
  tookOver: () => void;
}

export class Handover {
  /** Set when this master was started by `handoff ctl upgrade` to replace another. */
  readonly successor: Successor | undefined;
  /** A successor's: the sockets of the app's other ports the old master handed over, for its handle table. */
  readonly ports: InheritedPorts | undefined;
  readonly upgrades = new Upgrades();
  /** The successor of an upgrade serves our sockets now: no --shutdown-delay, and its own backlog is its to accept. */
  handedOver = false;
  readonly #host: HandoverHost;

  constructor(host: HandoverHost, inherited: Inheritance | undefined) {
    this.#host = host;
    this.successor = inherited?.source === 'upgrade' ? new Successor(inherited.from as number, host.log, () => this.#takeOver()) : undefined;
    this.ports = inherited?.source === 'upgrade' ? new InheritedPorts(inherited.from as number, inherited.app ?? [], inherited.udp ?? []) : undefined;
  }

  /** A successor that has not taken over yet: no pid file, control socket or metrics until it does. */
  get pending(): boolean {
    return this.successor?.pending === true;
  }

  /** Writes --pid-file now, unless this is a successor: it writes it when it takes over. Closes the sockets if it cannot. */
  writePidFile(): void {
    const options = this.#host.options;
    if (options.pidFile === undefined || this.successor !== undefined) return;
    try {
      options.pidFile = writePidFile(options.pidFile);
    } catch (error) {
      this.#host.listeners.close();
      throw error;
    }
  }

  /** Why a reload cannot start now, or undefined: an upgrade under way would hand the old workers over half-replaced. */
  refusesReload(): string | undefined {
    if (!this.upgrades.running) return undefined;
    const error = 'an upgrade is under way: reload the new master once it has taken over';
    this.#host.log.log('warn', `reload refused: ${error}`);
    return error;
  }

  /**
   * Runs the shutdown `drain` with an upgrade under way called off; its answer
   * to `ctl upgrade` goes out before the control socket closes, so `drain`
   * closes that socket only if there was no upgrade.
   */
  async shutDown(drain: (closeControl: boolean) => Promise<number>): Promise<number> {
    this.ports?.close(); // inherited sockets no worker asked for: the old master still serves them, or nobody needs them
    const upgrade = this.upgrades.abort('the old master is shutting down');
    const exitCode = await drain(upgrade === undefined);
    if (upgrade !== undefined) {
      await upgrade;
      // The control connection's answer is written a few promise steps after the upgrade settles: let it go first.
      await new Promise((resolve) => setImmediate(resolve));
      await this.#host.control()?.close();
    }
    return exitCode;
  }

  /** Replaces this master by a new one on the same listening sockets; see Master.upgrade(). */
  upgrade(options: UpgradeOptions): Promise<UpgradeResult> {
    const host = this.#host;
    const refuse = (error: string): Promise<UpgradeResult> => {
      host.log.log('warn', `upgrade refused: ${error}`);
      return Promise.resolve({ ok: false, previous: process.pid, error, refused: true });
    };
    if (host.closing()) return refuse('the master is shutting down: it cannot upgrade');
    if (this.upgrades.running) return refuse(`an upgrade is already under way (new master pid ${this.upgrades.successorPid ?? '?'}): wait for it to finish`);
    if (host.reloading()) return refuse('a reload is under way: upgrade once it has finished');
    if (this.successor?.pending) return refuse(`this master is still taking over from master ${this.successor.from}`);
    const metrics = host.metrics();
    return this.upgrades.start(
      {
        listeners: host.listeners,
        appSockets: host.appSockets,
        udpSockets: host.udpSockets,
        control: host.control(),
        listenTimeout: host.options.listenTimeout,
        killTimeout: host.options.killTimeout,
        log: host.log,
        metrics: metrics.enabled ? { release: () => metrics.release(), restore: () => metrics.serve() } : undefined,
        retire: () => {
          this.handedOver = true;
          void host.close();
        },
      },
      options,
    );
  }

  /** A successor's handover: control socket, pid file, then accepting. False (and closing) if it cannot. */
  async #takeOver(): Promise<boolean> {
    const host = this.#host;
    const successor = this.successor as Successor;
    if (host.closing()) return false;
    try {
      await host.control()?.listen();
      await host.metrics().serve();
      if (host.options.pidFile !== undefined) host.options.pidFile = writePidFile(host.options.pidFile, { replacing: successor.from });
    } catch (error) {
      successor.failed(error instanceof Error ? error.message : String(error));
      void host.close(1);
      return false;
    }
    host.listeners.open();
    this.ports?.tookOver(host.log);
    host.tookOver();
    return true;
  }
}
