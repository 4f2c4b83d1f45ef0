// Where a master's control socket lives, and keeping that place private.
//
// --control <path> names the socket; "auto" (what the CLI uses when the flag
// is absent) means the default below, and "off" means none. The programmatic
// createMaster() opens no control socket unless asked to: two masters in one
// process would otherwise both want <pid>.sock.
//
// The default is <runtime dir>/handoff-<uid>/<master pid>.sock, where the
// runtime dir is $XDG_RUNTIME_DIR (a per-user tmpfs on systemd machines) or
// os.tmpdir(). Naming the socket by pid lets several masters of one user
// coexist, and lets `handoff ctl` find "the" master when only one runs. The
// directory is made with mode 0700 and checked to be ours and private, as
// tmux does with /tmp/tmux-<uid>: in a world-writable /tmp anyone could
// otherwise create handoff-<uid> first and watch or replace our sockets.
// Nobody else can reach a socket inside it, even in the instant between
// bind() and chmod(). An explicit --control path is used as given: its
// directory is the user's choice, and the socket itself is made 0600.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HandoffError } from '../errors.js';
import { isRunning } from '../operations/process-stats.js';

/** The longest socket path the kernel takes: sun_path is 108 bytes on Linux, 104 on the BSDs and macOS, with a NUL. */
export const MAX_SOCKET_PATH_BYTES = process.platform === 'linux' ? 107 : 103;

const SOCKET_NAME = /^(\d+)\.sock$/;

export function defaultControlDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env['XDG_RUNTIME_DIR'] || os.tmpdir();
  return path.join(base, `handoff-${process.getuid?.() ?? os.userInfo().username}`);
}

export function defaultControlPath(pid = process.pid, env: NodeJS.ProcessEnv = process.env): string {
  return path.join(defaultControlDir(env), `${pid}.sock`);
}

/** Where the control socket of this master goes, or undefined for none. */
export function resolveControlPath(value: string | undefined): { path: string; isDefault: boolean } | undefined {
  if (value === undefined || value === 'off') return undefined;
  if (value === 'auto') return { path: defaultControlPath(), isDefault: true };
  return { path: path.resolve(value), isDefault: false };
}

/** The pid a default socket's name carries ("1234.sock" → 1234). */
export function pidOfSocket(file: string): number | undefined {
  const match = SOCKET_NAME.exec(path.basename(file));
  return match ? Number(match[1]) : undefined;
}

/** Throws unless the kernel can bind a Unix socket at `file`. */
export function checkSocketPath(file: string): void {
  const bytes = Buffer.byteLength(file);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new HandoffError(
      'ERR_HANDOFF_CONTROL',
      `control socket path ${file} is too long (${bytes} bytes; Unix sockets allow ${MAX_SOCKET_PATH_BYTES}): pass a shorter --control`,
    );
  }
}

/**
 * Makes the default directory (mode 0700) if needed and checks it is ours and
 * private. A directory of ours that others can enter is made private again; one
 * that belongs to someone else, or is a symlink, is refused.
 */
export function prepareDefaultDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EEXIST') {
      throw new HandoffError('ERR_HANDOFF_CONTROL', `cannot create the control directory ${dir}: ${code ?? error} (pass --control <path> elsewhere, or --control off)`);
    }
  }
  const stat = fs.lstatSync(dir);
  const uid = process.getuid?.();
  if (!stat.isDirectory() || (uid !== undefined && stat.uid !== uid)) {
    const what = stat.isSymbolicLink() ? 'a symlink' : !stat.isDirectory() ? 'not a directory' : `owned by uid ${stat.uid}, not ${uid}`;
    throw new HandoffError('ERR_HANDOFF_CONTROL', `control directory ${dir} is ${what}: remove it, or pass --control <path>`);
  }
  if ((stat.mode & 0o077) !== 0) fs.chmodSync(dir, 0o700);
}

/** The default-named sockets in `dir` ("<pid>.sock"), oldest pid first. */
export function listSockets(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((name) => SOCKET_NAME.test(name))
    .sort((a, b) => (pidOfSocket(a) ?? 0) - (pidOfSocket(b) ?? 0))
    .map((name) => path.join(dir, name));
}

/**
 * Removes sockets in the default directory whose master is gone (killed with
 * SIGKILL, it could not remove its own). A pid that runs again, reused by
 * another process, keeps its file; `handoff ctl` probes before it trusts one.
 */
export function removeDeadSockets(dir: string): void {
  for (const file of listSockets(dir)) {
    const pid = pidOfSocket(file);
    if (pid === undefined || pid === process.pid || isRunning(pid)) continue;
    try {
      if (fs.lstatSync(file).isSocket()) fs.unlinkSync(file);
    } catch {
      // gone already, or not ours to remove: either way not worth failing a start for
    }
  }
}
