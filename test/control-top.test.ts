// `handoff ctl top`: plain frames through a pipe, a redrawn screen on a real
// pseudo-terminal (util-linux `script`), quitting on q and Ctrl-C, and
// leaving when the master does.

import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { removeTempDirs, tempDir } from './helpers/control.js';
import { cli, fixture, MasterProcess, startMaster, stopAllMasters, withTimeout } from './helpers/process.js';

afterEach(async () => {
  await stopAllMasters();
  removeTempDirs();
});

async function startControlled(): Promise<{ master: MasterProcess; control: string }> {
  const control = path.join(tempDir(), 'm.sock');
  const { master } = await startMaster([fixture('pid.mjs'), '-w', '2', '--control', control]);
  return { master, control };
}

const frameTitle = /handoff top {2}\d\d:\d\d:\d\d/g;

describe('not a terminal', () => {
  test('--iterations 2: two plain frames, no escape sequences, exit 0', async () => {
    const { master, control } = await startControlled();
    const top = new MasterProcess(['ctl', 'top', '--iterations', '2', '--control', control]);
    expect(await top.exit()).toEqual({ code: 0, signal: null });
    expect(top.stdout).not.toContain('\x1b');
    expect(top.stdout.match(frameTitle)).toHaveLength(2);
    expect(top.stdout).toContain(`master pid ${master.pid}`);
    expect(top.stdout.match(/ listening /g)).toHaveLength(4);
    expect(top.stderr).toBe('');
  });

  test('the master goes away: one line saying so, exit 0', async () => {
    const { master, control } = await startControlled();
    const top = new MasterProcess(['ctl', 'top', '--control', control]);
    await top.waitFor(frameTitle);
    master.signal('SIGTERM');
    expect(await top.exit()).toEqual({ code: 0, signal: null });
    expect(top.stderr).toBe(`handoff: the master (pid ${master.pid}) has gone away\n`);
  });

  test('the reader closes the pipe (top | head): it ends quietly, exit 0', async () => {
    const { control } = await startControlled();
    const top = new MasterProcess(['ctl', 'top', '--control', control]);
    await top.waitFor(frameTitle);
    top.child.stdout?.destroy();
    expect(await top.exit()).toEqual({ code: 0, signal: null });
    expect(top.stderr).toBe('');
  });

  test('SIGINT (Ctrl-C in a pipeline) ends it cleanly', async () => {
    const { control } = await startControlled();
    const top = new MasterProcess(['ctl', 'top', '--control', control]);
    await top.waitFor(frameTitle);
    top.signal('SIGINT');
    expect(await top.exit()).toEqual({ code: 0, signal: null });
  });
});

const hasScript = spawnSync('script', ['--version']).status === 0;

describe.skipIf(!hasScript)('on a terminal (through script(1))', () => {
  /** Runs `handoff ctl top` on a pseudo-terminal; `keys` is typed once the first frame is drawn. */
  async function onTerminal(control: string, keys: string | undefined, extra: string[] = []): Promise<{ code: number | null; output: string }> {
    const command = [process.execPath, cli, 'ctl', 'top', '--control', control, ...extra].map((arg) => `'${arg}'`).join(' ');
    const child = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      output += text;
      if (keys !== undefined && /\x1b\[J/.test(output)) {
        child.stdin.write(keys);
        keys = undefined;
      }
    });
    try {
      const code = await withTimeout(new Promise<number | null>((resolve) => child.once('exit', resolve)), 10_000, `top did not quit\n${output}`);
      return { code, output };
    } finally {
      child.kill('SIGKILL');
    }
  }

  test('draws on the alternate screen in place, and q restores the terminal', async () => {
    const { master, control } = await startControlled();
    const { code, output } = await onTerminal(control, 'q');
    expect(code).toBe(0);
    expect(output.startsWith('\x1b[?1049h\x1b[?25l\x1b[H')).toBe(true); // alternate screen, cursor hidden, home
    expect(output).toContain('(q or Ctrl-C to quit)');
    expect(output).toContain(`master pid ${master.pid}`);
    expect(output.trimEnd().endsWith('\x1b[?25h\x1b[?1049l')).toBe(true); // cursor shown, main screen back
  });

  test('Ctrl-C arrives as a key (stdin is raw) and quits cleanly', async () => {
    const { control } = await startControlled();
    const { code, output } = await onTerminal(control, '\x03');
    expect(code).toBe(0);
    expect(output.trimEnd().endsWith('\x1b[?25h\x1b[?1049l')).toBe(true);
  });

  test('redraws every second', async () => {
    const { control } = await startControlled();
    const { code, output } = await onTerminal(control, undefined, ['--iterations', '3']);
    expect(code).toBe(0);
    expect(output.match(/\x1b\[H/g)).toHaveLength(3);
  });
});
