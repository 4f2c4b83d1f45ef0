// However the process exits (the app's own process.exit() in a signal
// handler included), the master hears what it cut: requests not yet
// answered, connections still open. Written at once on the pipe, as the
// process will not live to finish an asynchronous write.

import { CMD, type WorkerMessage } from '../../wire/protocol.js';
import type { Attacher } from '../attach.js';
import type { AckBatcher } from '../connections/acks.js';
import type { Requests } from './requests.js';

export interface ExitReportParts {
  acks: Pick<AckBatcher, 'flush'>;
  requests: Pick<Requests, 'inFlight'>;
  attacher: Pick<Attacher, 'active'>;
  /** Writes one line on the channel to the master (createLineWriter in fast-handoff.ts, where this Node allows it). */
  writeLine(line: string): void;
}

export function reportCutsAtExit({ acks, requests, attacher, writeLine }: ExitReportParts): void {
  process.on('exit', (code) => {
    if (!process.connected) return;
    try {
      acks.flush();
      const report: WorkerMessage = { cmd: CMD, type: 'exiting', code, inFlight: requests.inFlight, open: attacher.active };
      writeLine(`${JSON.stringify(report)}\n`);
    } catch {
      // nothing more can be done in an exiting process
    }
  });
}
