// systemd's readiness protocol (sd_notify(3)), for Type=notify services: the
// master reports READY=1 once its workers are ready, and after an upgrade the
// new master reports itself as the main pid (MAINPID=, which systemd accepts
// only with NotifyAccess=all). Node cannot write to a Unix datagram socket,
// so this runs systemd-notify(1); without NOTIFY_SOCKET it does nothing.

import { spawn } from 'node:child_process';
import type { Logger } from '../cli/log.js';

export function notifySystemd(args: string[], log: Logger, env: NodeJS.ProcessEnv = process.env): void {
  if (!env['NOTIFY_SOCKET']) return;
  const warn = (why: string): void => log.log('warn', `NOTIFY_SOCKET is set, but systemd-notify ${args.join(' ')} failed (${why}): systemd may not know that this master is ready`);
  const child = spawn('systemd-notify', args, { stdio: 'ignore', env });
  child.on('error', (error: NodeJS.ErrnoException) => warn(error.code ?? error.message));
  child.on('exit', (code, signal) => {
    if (code !== 0) warn(signal ?? `exit code ${code}`);
  });
}
