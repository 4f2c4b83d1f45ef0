// `handoff ctl top`: the status table, redrawn every second, like `top` or
// `pm2 monit`.
//
// On a terminal it draws on the alternate screen (what top and less use, so
// the shell's scrollback is untouched when it quits), hides the cursor, and
// puts stdin in raw mode so that q or Ctrl-C arrive as keys; everything is
// restored on the way out, whatever the way out is. When stdout is not a
// terminal (a pipe, a file, a test), each frame is printed as plain lines with
// a blank line between frames, and no escape sequences.
//
// It ends on q / Ctrl-C / SIGTERM (exit 0), after --iterations frames (a
// hidden flag for tests and scripts), or when the master goes away (one line
// saying so on stderr; exit 0, as watching is over rather than failed).

import type { ControlClient } from './client.js';
import { renderTopFrame } from './format.js';
import type { MasterStatus } from './status.js';

const ESC = '\x1b[';
const ENTER = `${ESC}?1049h${ESC}?25l`; // alternate screen, hide cursor
const LEAVE = `${ESC}?25h${ESC}?1049l`; // show cursor, main screen
const HOME = `${ESC}H`;
const CLEAR_LINE_END = `${ESC}K`;
const CLEAR_BELOW = `${ESC}J`;
const QUIT_KEYS = new Set([0x71 /* q */, 0x51 /* Q */, 0x03 /* Ctrl-C */, 0x04 /* Ctrl-D */]);

export interface TopOptions {
  client: ControlClient;
  stdout: NodeJS.WriteStream;
  stdin: NodeJS.ReadStream;
  stderr: NodeJS.WritableStream;
  /** Stop after this many frames (0: until told to). */
  iterations?: number;
  intervalMs?: number;
}

export async function top(options: TopOptions): Promise<number> {
  const { client, stdout, stdin, stderr } = options;
  const interval = options.intervalMs ?? 1000;
  const screen = stdout.isTTY === true;
  const keys = screen && stdin.isTTY === true;

  let stopped = false;
  let wake: (() => void) | undefined;
  const stop = (): void => {
    stopped = true;
    client.close(); // a status request still waiting on a stuck master must not hold up the quit
    wake?.();
  };
  const onKey = (data: Buffer): void => {
    if (data.some((byte) => QUIT_KEYS.has(byte))) stop();
  };
  const redrawNow = (): void => wake?.();
  // `handoff ctl top | head` closes the pipe under us (EPIPE): that is the reader saying "enough".
  const outputClosed = (): void => stop();

  let restored = false;
  const restore = (): void => {
    if (restored) return;
    restored = true;
    process.off('SIGINT', stop).off('SIGTERM', stop).off('SIGHUP', stop).off('exit', restore);
    stdout.off('error', outputClosed);
    if (keys) {
      stdin.off('data', onKey);
      stdin.setRawMode(false);
      stdin.pause();
    }
    if (screen) {
      stdout.off('resize', redrawNow);
      stdout.write(LEAVE);
    }
  };

  process.on('SIGINT', stop).on('SIGTERM', stop).on('SIGHUP', stop).on('exit', restore);
  stdout.on('error', outputClosed);
  if (screen) {
    stdout.write(ENTER);
    stdout.on('resize', redrawNow);
  }
  if (keys) {
    stdin.setRawMode(true);
    stdin.on('data', onKey);
    stdin.resume();
  }

  let frames = 0;
  let masterPid: number | undefined;
  /** The status of the previous frame: the hand-off latency line shows the interval in between. */
  let previous: MasterStatus | undefined;
  let failure: string | undefined;
  let gone = false;
  void client.closed.then(() => {
    gone = true;
    wake?.();
  });
  try {
    while (!stopped && !gone) {
      const started = Date.now();
      const reply = await client.request<'status'>({ command: 'status' }, 5000).catch(() => undefined);
      if (reply === undefined) {
        gone = true;
        break;
      }
      if (!reply.ok) {
        failure = reply.error;
        break;
      }
      masterPid = reply.status.pid;
      const frame = renderTopFrame(reply.status, new Date(), keys, previous);
      previous = reply.status;
      if (stopped) break;
      stdout.write(screen ? draw(frame, stdout.columns) : `${frame}\n\n`);
      if (options.iterations !== undefined && options.iterations > 0 && ++frames >= options.iterations) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, interval - (Date.now() - started)));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
        if (stopped || gone) wake();
      });
      wake = undefined;
    }
  } finally {
    restore();
  }
  client.close();
  if (failure !== undefined) {
    stderr.write(`handoff: ${failure}\n`);
    return 1;
  }
  if (gone && !stopped) stderr.write(`handoff: the master${masterPid === undefined ? '' : ` (pid ${masterPid})`} has gone away\n`);
  return 0;
}

/** Redraws in place: home, each line cut to the width and its rest cleared, then everything below cleared. */
function draw(frame: string, columns: number | undefined): string {
  const width = columns !== undefined && columns > 0 ? columns : Infinity;
  const lines = frame.split('\n').map((line) => `${line.length > width ? line.slice(0, width) : line}${CLEAR_LINE_END}`);
  return `${HOME}${lines.join('\n')}\n${CLEAR_BELOW}`;
}
