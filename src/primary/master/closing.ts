// The master's close(): one shutdown, however many ask for it (SIGTERM, ctl
// stop, no worker left), and whether the master counts as shutting down,
// which /readyz says from the first moment (--shutdown-delay included). The
// drain itself is ../../operations/shutdown.ts; around it, an upgrade under
// way is called off first (handover.ts) and --metrics closes last.

import type { ControlServer } from '../../control/server.js';
import { shutDown, type ShutdownParts } from '../../operations/shutdown.js';
import type { Handover } from './handover.js';
import type { MasterMetrics } from './metrics.js';

export interface ClosingParts extends Omit<ShutdownParts, 'control' | 'handedOver'> {
  /** Closed by the drain, unless an upgrade's answer must go out on it first. */
  control: ControlServer | undefined;
  handover: Handover;
  metrics: MasterMetrics;
  /** Master's 'close' event. */
  closed: (exitCode: number) => void;
}

export class Closing {
  readonly #parts: ClosingParts;
  #closing: Promise<number> | undefined;
  #shuttingDown = false;

  constructor(parts: ClosingParts) {
    this.#parts = parts;
  }

  /** close() has been called. */
  get started(): boolean {
    return this.#closing !== undefined;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown || this.#closing !== undefined;
  }

  markShuttingDown(): void {
    this.#shuttingDown = true;
  }

  close(exitCode: number): Promise<number> {
    this.#closing ??= this.#shutdown(exitCode);
    return this.#closing;
  }

  async #shutdown(initialCode: number): Promise<number> {
    const { handover, control, metrics } = this.#parts;
    const exitCode = await handover.shutDown((closeControl) =>
      shutDown({ ...this.#parts, control: closeControl ? control : undefined, handedOver: handover.handedOver }, initialCode),
    );
    await metrics.close(); // last, with the control socket: probes and scrapes watch the drain
    this.#parts.closed(exitCode);
    return exitCode;
  }
}
