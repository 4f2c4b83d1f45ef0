// Loads the user's script in any of the three forms handoff accepts:
//   (a) a server script that calls listen() (taken by listen-intercept.ts),
//   (b) a module whose default export is a net/http/https Server,
//   (c) a module whose default export is an HTTP request handler (req, res),
//       or an app whose callback() returns one (Koa: module.exports = app).
// .js, .mjs and .cjs load through import(); .ts, .mts and .cts through tsx.

import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Attacher } from './attach.js';

export async function loadScript(file: string, attacher: Attacher): Promise<void> {
  if (/\.[cm]?ts$/.test(file)) await registerTypeScript();
  const namespace = (await import(pathToFileURL(file).href)) as { default?: unknown };
  if (attacher.server !== undefined) return; // (a): it called listen() while loading

  let exported = namespace.default;
  // A CommonJS module compiled from ESM exports { __esModule: true, default: ... }.
  if (isObject(exported) && !(exported instanceof net.Server) && 'default' in exported) exported = exported['default'];

  if (exported instanceof net.Server) {
    attacher.attach(exported, 'server-export');
  } else if (typeof exported === 'function') {
    attacher.attach(http.createServer(exported as http.RequestListener), 'handler-export');
  } else if (isObject(exported) && typeof exported['callback'] === 'function') {
    attacher.attach(http.createServer((exported['callback'] as () => http.RequestListener).call(exported)), 'handler-export');
  } else if (exported !== undefined && !isEmptyObject(exported)) {
    process.stderr.write(`handoff: ${unservable(file, exported)}\n`);
  }
  // Otherwise the script may still call listen() later (after connecting to a
  // database, say); the master's --listen-timeout bounds how long it may take.
}

/** Said once when the default export is none of the forms; the script may still call listen() later. */
function unservable(file: string, exported: unknown): string {
  const what = exported === null ? 'null' : isObject(exported) ? `an object (${exported.constructor?.name ?? 'no prototype'})` : `a ${typeof exported}`;
  return (
    `the default export of ${path.basename(file)} is ${what}, which handoff cannot serve. Accepted: a net/http/https Server, ` +
    'a request handler (req, res) => ..., or an app with a callback() method returning one (Koa); or call listen() yourself. ' +
    'Waiting for a listen() until --listen-timeout.'
  );
}

/** What a CommonJS module that exports nothing looks like through import(). */
function isEmptyObject(value: unknown): boolean {
  return isObject(value) && Object.keys(value).length === 0;
}

/**
 * Both of tsx's hooks: its ESM loader for import(), and its require() hook,
 * because in a CommonJS package (no "type": "module") Node hands a .ts file to
 * the CommonJS loader, which without the hook fails with ERR_REQUIRE_CYCLE_MODULE.
 */
async function registerTypeScript(): Promise<void> {
  try {
    const cjs = (await import('tsx/cjs/api' as string)) as { register: () => unknown };
    cjs.register();
    const esm = (await import('tsx/esm/api' as string)) as { register: () => unknown };
    esm.register();
  } catch (error) {
    throw new Error(`a .ts worker script needs tsx to load it: install it next to handoff (npm install tsx); ${String(error)}`);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
