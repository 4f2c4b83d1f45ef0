// What each control command does, as a table keyed by command (like the
// handler tables of primary/messages.ts). A handler sees only the master's
// public operations, through ControlTarget, so it can be read, and tested,
// without the rest of the master.

import { errorMessage, isHandoffError } from '../errors.js';
import type { ReloadResult } from '../operations/reload.js';
import type { UpgradeOptions, UpgradeResult } from '../operations/upgrade/upgrade.js';
import type { MasterStatus } from './status.js';
import { optionSpecs } from '../cli/option-specs.js';
import { errorReply, type ControlCommand, type ControlErrorReply, type ControlReply, type ControlRequest, type RequestFor, type ResultFor } from './protocol.js';
import { parseCount } from '../units.js';

/** The operations of a Master the control socket drives. */
export interface ControlTarget {
  status(): MasterStatus;
  reload(): Promise<ReloadResult>;
  scale(target: number | string): number;
  close(): Promise<number>;
  /** Absent on targets that cannot be replaced. */
  upgrade?(options: UpgradeOptions): Promise<UpgradeResult>;
}

type Handler<C extends ControlCommand> = (request: RequestFor<C>, target: ControlTarget) => ResultFor<C> | ControlErrorReply | Promise<ResultFor<C> | ControlErrorReply>;

const MAX_WORKERS = optionSpecs.workers.max ?? 1024;

const handlers: { readonly [C in ControlCommand]: Handler<C> } = {
  status: (_request, target) => ({ ok: true, command: 'status', status: target.status() }),

  // Answered when the roll-out is over, so `handoff ctl reload && deploy-next` is safe.
  reload: async (_request, target) => {
    if (target.status().closing) return errorReply('ERR_HANDOFF_NOT_RUNNING', 'the master is shutting down: it cannot reload');
    if (target.status().upgrading) return errorReply('ERR_HANDOFF_CONTROL', 'an upgrade is under way: reload the new master once it has taken over');
    const result = await target.reload();
    if (result.ok) return { ok: true, command: 'reload', replaced: result.replaced };
    const replaced = `${result.replaced} worker${result.replaced === 1 ? '' : 's'} replaced before it stopped`;
    return errorReply('ERR_HANDOFF_RELOAD_FAILED', `reload failed: ${result.error ?? 'unknown reason'} (${replaced})`);
  },

  // Master.scale() clamps to 1..1024 silently, which suits SIGTTOU; asked by
  // name, the control socket says no instead, so `scale 0` cannot be taken for
  // "stop" and `scale -5` does not quietly mean "scale to 1".
  scale: (request, target) => {
    const before = target.status();
    if (before.closing) return errorReply('ERR_HANDOFF_NOT_RUNNING', 'the master is shutting down: it cannot scale');
    const text = String(request.workers).trim();
    const wanted = /^[+-]/.test(text) ? before.workers + Number(text) : Number(text);
    if (wanted < 1) {
      return errorReply('ERR_HANDOFF_CONTROL', `cannot scale ${describeChange(before.workers, text)} to ${wanted} workers: a master keeps at least 1 (handoff ctl stop stops it)`);
    }
    if (wanted > MAX_WORKERS) return errorReply('ERR_HANDOFF_CONTROL', `cannot scale ${describeChange(before.workers, text)} to ${wanted} workers: at most ${MAX_WORKERS}`);
    return { ok: true, command: 'scale', workers: target.scale(wanted), previous: before.workers };
  },

  // The reply goes out before anything closes: the control socket stays open
  // through the drain and closes last, which is what tells the client "stopped".
  stop: (_request, target) => {
    void target.close();
    return { ok: true, command: 'stop', pid: target.status().pid };
  },

  // Answered once the new master has taken over, or the upgrade was rolled back.
  // On success the connection stays open until this (old) master has drained
  // and exited, as after `stop`.
  upgrade: async (request, target) => {
    if (target.upgrade === undefined) return errorReply('ERR_HANDOFF_CONTROL', 'this master cannot be upgraded');
    const result = await target.upgrade(request.node === undefined ? {} : { node: request.node });
    if (result.ok) return { ok: true, command: 'upgrade', pid: result.pid as number, previous: result.previous, node: result.node ?? '' };
    if (result.refused) return errorReply('ERR_HANDOFF_CONTROL', `upgrade refused: ${result.error ?? 'unknown reason'}`);
    return errorReply('ERR_HANDOFF_UPGRADE_FAILED', `upgrade failed: ${result.error ?? 'unknown reason'}`);
  },
};

function describeChange(from: number, text: string): string {
  return parseCount(text.trim())?.relative === true ? `${text} from ${from}` : `from ${from}`;
}

/** Runs one request; never throws: whatever goes wrong becomes an error reply. */
export async function runCommand(request: ControlRequest, target: ControlTarget): Promise<ControlReply> {
  let reply: ControlReply;
  try {
    const handler = handlers[request.command] as Handler<ControlCommand>;
    reply = await handler(request as RequestFor<ControlCommand>, target);
  } catch (error) {
    const code = isHandoffError(error) ? error.code : 'ERR_HANDOFF_CONTROL';
    const message = errorMessage(error);
    reply = errorReply(code, isHandoffError(error) ? message : `${request.command} failed: ${message}`);
  }
  return request.id === undefined ? reply : { id: request.id, ...reply };
}
