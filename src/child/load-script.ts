// Loads the user's script in any of the three forms handoff accepts:
//   (a) a server script that calls listen() (taken by listen-intercept.ts),
//   (b) a module whose default export is a net/http/https Server,
//   (c) a module whose default export is an HTTP request handler (req, res).
// .js, .mjs and .cjs load through import(); .ts, .mts and .cts through tsx.

import http from 'node:http';
import net from 'node:net';
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
  }
  // Otherwise the script may still call listen() later (after connecting to a
  // database, say); the master's --listen-timeout bounds how long it may take.
}

async function registerTypeScript(): Promise<void> {
  try {
    const tsx = (await import('tsx/esm/api' as string)) as { register: () => unknown };
    tsx.register();
  } catch (error) {
    throw new Error(`a .ts worker script needs tsx to load it: install it next to handoff (npm install tsx); ${String(error)}`);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}
