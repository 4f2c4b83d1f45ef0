#!/usr/bin/env node
// docs:check: run the checkable command blocks of the docs and compare what
// they print with the output the docs show. Fails on drift.
//
//   npm run docs:check                       # every file below
//   node scripts/docs-check.mjs docs/tutorial.md --verbose
//   node scripts/docs-check.mjs --jobs=1               # one file at a time (default: 2)
//
// A block is checkable when an HTML comment stands right before its fence
// (blank lines allowed). The comments, and what they do:
//
//   <!-- check -->                      run the ```sh block that follows (bash, in
//                                        the scratch directory); if a plain ``` block
//                                        follows it (only blank lines between), its
//                                        output must match that block, line by line
//                                        (match=subset: every line shown is printed, in any order).
//   <!-- check start [name=t1] [ready="regex"] -->
//                                        start the ```sh block in the background (a
//                                        terminal of its own, "t1" by default) and
//                                        wait until a line of its output matches
//                                        `ready` (default: handoff's ready line); a
//                                        plain block after it is checked as for `output`.
//   <!-- check output [name=t1] -->      the plain block that follows must all be in
//                                        that terminal's output so far (any order: lines
//                                        from several processes interleave); waits for them.
//   <!-- check stop [name=t1] [signal=INT] -->
//                                        send it Ctrl-C (or the signal) and wait for it
//                                        to exit; a plain block that follows must be in
//                                        its output, as for `output`.
//   <!-- check wait [name=t1] -->        the same, without a signal: it exits by itself.
//
// Every wait is bounded (timeout=<seconds> on any comment; 20 s by default),
// and whatever is still running at the end of a file is killed.
//
// The comparison ignores what differs from run to run, in both the docs and
// the output (see normalize()): pids, ports, times and timestamps, fd numbers,
// paths under the scratch directory, runs of spaces, and the sampled columns of
// `handoff ctl status` (UPTIME, ACTIVE, REQ/S, RSS, CPU, ELU, DELAY). In the docs, `<…>` in a
// line matches any text, `<n>` any number, and a line that is only `…` matches
// any number of lines.
//
// Each file runs in a fresh scratch directory (mktemp) holding links to the
// checkout's dist/, examples/, scripts/ and node_modules/, with XDG_RUNTIME_DIR
// and TMPDIR inside it, so that `handoff ctl` finds only the masters of this
// run, and on free ports instead of the ports the docs use (3000 for a master,
// 3001 for an app's second port, 9100 for --metrics: each after ":", "PORT=",
// "--port " or "--metrics " in a command is rewritten to a free port of its
// own), so that it never meets another master on the machine.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DEFAULT_FILES = ['docs/tutorial.md', 'examples/README.md', 'examples/lost-connection/README.md', 'docs/exercises.md', 'docs/operations.md'];
const DEFAULT_TIMEOUT_S = 20;
const args = process.argv.slice(2);
const verbose = args.includes('--verbose');
const files = args.filter((a) => !a.startsWith('--'));

// ---- parsing ------------------------------------------------------------------

/** The directives of a markdown file, each with the fenced block it applies to and the output block after it. */
export function parseDirectives(text) {
  const lines = text.split('\n');
  const directives = [];
  const fenceAt = (from) => {
    let i = from;
    while (i < lines.length && lines[i].trim() === '') i++;
    if (i >= lines.length || !/^```/.test(lines[i])) return null;
    const lang = lines[i].slice(3).trim();
    const body = [];
    let j = i + 1;
    while (j < lines.length && !/^```\s*$/.test(lines[j])) body.push(lines[j++]);
    return { lang, body, start: i + 1, end: j + 1 };
  };
  for (let i = 0; i < lines.length; i++) {
    const match = /^<!--\s*check\b(.*?)-->\s*$/.exec(lines[i].trim());
    if (!match) continue;
    const attrs = {};
    let kind = 'run';
    for (const token of match[1].matchAll(/(\w+)(?:=("([^"]*)"|\S+))?/g)) {
      if (token[2] === undefined) kind = token[1];
      else attrs[token[1]] = token[3] ?? token[2];
    }
    const block = fenceAt(i + 1);
    const directive = { kind, attrs, line: i + 1, block: null, expected: null };
    if (kind === 'run' || kind === 'start') {
      if (!block || block.lang !== 'sh') throw new Error(`line ${i + 1}: <!-- check ${kind} --> must stand before a \`\`\`sh block`);
      directive.block = block;
      const after = fenceAt(block.end);
      if (after && after.lang === '') directive.expected = after;
    } else if (['output', 'stop', 'wait'].includes(kind)) {
      if (block && block.lang === '') directive.expected = block;
      else if (kind === 'output') throw new Error(`line ${i + 1}: <!-- check output --> must stand before a plain \`\`\` block`);
    } else {
      throw new Error(`line ${i + 1}: unknown directive "${kind}"`);
    }
    directives.push(directive);
  }
  return directives;
}

// ---- comparison ---------------------------------------------------------------

/** A row of `handoff ctl status`: ID PID STATE UPTIME RESTARTS HANDED ACTIVE REQ/S RSS CPU ELU DELAY. */
const CTL_ROW = /^\s*(\d+)\s+(\d+)\s+(\w+)\s+\S+\s+(\d+|<n>)\s+(\d+|<n>)\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s*$/;

/** What differs from run to run, made the same on both sides. */
export function normalize(line, scratch) {
  let s = line.replace(/\r$/, '');
  if (scratch) s = s.split(scratch).join('<scratch>');
  const row = CTL_ROW.exec(s);
  // UPTIME, and ACTIVE, REQ/S, RSS, CPU, ELU, DELAY (as last sampled or reported) vary; the rest must not.
  if (row) return `${row[1]} <pid> ${row[3]} <uptime> ${row[4]} ${row[5]} <sampled>`;
  return s
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<date>')
    .replace(/^Date: .*GMT$/, 'Date: <date>')
    .replace(/^(Content-Length:) \d+$/i, '$1 <num>') // bodies that carry a pid
    .replace(/^trace +\d+\.\d+/, 'trace <t>')
    .replace(/\b(master|w\d+)( +)\d+( +)/g, '$1 <pid> ')
    .replace(/\[(master|w\d+) \d+\]/g, '[$1 <pid>]')
    .replace(/\bpids? \d+/g, (m) => m.replace(/\d+/, '<pid>'))
    .replace(/"pid":\d+/g, '"pid":<pid>')
    .replace(/(\b127\.0\.0\.1|\blocalhost|\[::1?\]|::1|::ffff:127\.0\.0\.1):\d+/g, '$1:<port>')
    .replace(/\bport \d+/g, 'port <port>')
    .replace(/\bfd \d+/g, 'fd <num>')
    .replace(/\bafter \d+ ms\b/g, 'after <num> ms')
    .replace(/file:\/\/\/\S*?\/examples\//g, 'file://<checkout>/examples/')
    .replace(/\b\d+\.\d s\b/g, '<s> s')
    .replace(/\buptime \d+[smhd]/g, 'uptime <uptime>')
    .replace(/[ \t]+/g, ' ')
    .trim();
}

function lineMatcher(expected) {
  const escape = (p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const parts = expected.split(/(<…>|<\.\.\.>|<n>)/).map((p) => (p === '<n>' ? '\\d+' : p.startsWith('<') && p.length <= 5 && /<(…|\.\.\.)>/.test(p) ? '.*' : escape(p)));
  return new RegExp(`^${parts.join('')}$`);
}

/** Exact, in order; an expected line `…` matches any number of lines. */
export function matchInOrder(expected, actual) {
  const e = expected.map((l) => (l === '…' ? null : lineMatcher(l)));
  const memo = new Map();
  const go = (i, j) => {
    const key = i * 100000 + j;
    if (memo.has(key)) return memo.get(key);
    let ok;
    if (i === e.length) ok = j === actual.length;
    else if (e[i] === null) ok = go(i + 1, j) || (j < actual.length && go(i, j + 1));
    else ok = j < actual.length && e[i].test(actual[j]) && go(i + 1, j + 1);
    memo.set(key, ok);
    return ok;
  };
  return go(0, 0);
}

/** Every expected line in the output, each matched by a different line, in any order. Returns the lines not found. */
export function missingLines(expected, actual) {
  const left = [...actual];
  const missing = [];
  for (const line of expected) {
    if (line === '…') continue;
    const re = lineMatcher(line);
    const at = left.findIndex((a) => re.test(a));
    if (at === -1) missing.push(line);
    else left.splice(at, 1);
  }
  return missing;
}

const prepare = (text, scratch) =>
  text
    .split('\n')
    .map((l) => normalize(l, scratch))
    .filter((l, i, all) => l !== '' || (i > 0 && i < all.length - 1 && all[i - 1] !== ''));

const trimBlank = (lines) => {
  const out = [...lines];
  while (out.length && out[0] === '') out.shift();
  while (out.length && out[out.length - 1] === '') out.pop();
  return out;
};

// ---- running ------------------------------------------------------------------

/** The ports the docs use: the master's (3000), an app's second port (3001), --metrics (9100). */
const DOC_PORTS = [3000, 3001, 9100];

/** A free port for each of DOC_PORTS, all different: each server stays open until every port is chosen. */
async function freePorts() {
  const servers = await Promise.all(
    DOC_PORTS.map(
      () =>
        new Promise((resolve, reject) => {
          const server = net.createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = new Map(DOC_PORTS.map((port, i) => [port, servers[i].address().port]));
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

function makeScratch() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `handoff-docs-check-${os.userInfo().uid}-`));
  for (const name of ['dist', 'examples', 'scripts', 'node_modules', 'package.json', 'bench']) {
    if (fs.existsSync(path.join(root, name))) fs.symlinkSync(path.join(root, name), path.join(dir, name));
  }
  fs.mkdirSync(path.join(dir, 'run'), { mode: 0o700 });
  fs.mkdirSync(path.join(dir, 'tmp'));
  return dir;
}

/** Each doc port, after ":", "PORT=", "--port " or "--metrics ", becomes its free port. */
const DOC_PORT = new RegExp(`(:|PORT=|--port |--metrics )(${DOC_PORTS.join('|')})\\b`, 'g');
function rewrite(command, ports) {
  return command.replace(DOC_PORT, (_, before, port) => `${before}${ports.get(Number(port))}`);
}

function shell(command, scratch) {
  return spawn('bash', ['-c', command], {
    cwd: scratch,
    detached: true, // its own process group: stopped as a terminal's Ctrl-C would
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      XDG_RUNTIME_DIR: path.join(scratch, 'run'),
      TMPDIR: path.join(scratch, 'tmp'),
      NO_COLOR: '1',
      HANDOFF_SCHEDULER: '',
      HANDOFF_TRANSPORT: process.env.HANDOFF_TRANSPORT ?? '',
    },
  });
}

class Terminal {
  constructor(name, child) {
    this.name = name;
    this.child = child;
    this.output = '';
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    this.done = false;
    this.exited.then(() => (this.done = true));
    const take = (chunk) => {
      this.output += chunk;
      this.onData?.();
    };
    child.stdout.setEncoding('utf8').on('data', take);
    child.stderr.setEncoding('utf8').on('data', take);
  }

  /** Resolves true once test(output) holds, false after ms. */
  until(test, ms) {
    return new Promise((resolve) => {
      const check = () => {
        if (test(this.output)) finish(true);
        else if (this.done) setImmediate(() => finish(test(this.output)));
      };
      const timer = setTimeout(() => finish(test(this.output)), ms);
      const finish = (value) => {
        clearTimeout(timer);
        this.onData = undefined;
        resolve(value);
      };
      this.onData = check;
      check();
    });
  }

  signal(name) {
    try {
      process.kill(-this.child.pid, `SIG${name}`);
    } catch {
      /* already gone */
    }
  }
}

async function runFile(file) {
  const text = fs.readFileSync(path.join(root, file), 'utf8');
  const directives = parseDirectives(text);
  const scratch = makeScratch();
  const ports = await freePorts();
  const terminals = new Map();
  const failures = [];
  const started = Date.now();
  const fail = (d, why) => failures.push(`${file}:${d.line}: ${why}`);
  const expectedOf = (d) => trimBlank(prepare(d.expected.body.join('\n'), scratch));

  for (const d of directives) {
    const timeoutMs = Number(d.attrs.timeout ?? DEFAULT_TIMEOUT_S) * 1000;
    const name = d.attrs.name ?? 't1';
    if (verbose) console.error(`  ${((Date.now() - started) / 1000).toFixed(1)} s  ${file}:${d.line} ${d.kind} ${name}`);
    if (d.kind === 'run') {
      const terminal = new Terminal('run', shell(rewrite(d.block.body.join('\n'), ports), scratch));
      const ok = await Promise.race([terminal.exited.then(() => true), new Promise((r) => setTimeout(r, timeoutMs, false))]);
      if (!ok) {
        terminal.signal('KILL');
        fail(d, `did not finish within ${timeoutMs / 1000} s`);
        continue;
      }
      if (d.expected) {
        const actual = trimBlank(prepare(terminal.output, scratch));
        const expected = expectedOf(d);
        const drift = d.attrs.match === 'subset' ? missingLines(expected, actual).length > 0 : !matchInOrder(expected, actual);
        if (drift) {
          fail(d, `output differs\n    shown:\n${expected.map((l) => `      ${l}`).join('\n')}\n    printed:\n${actual.map((l) => `      ${l}`).join('\n')}`);
        }
      }
    } else if (d.kind === 'start') {
      terminals.get(name)?.signal('KILL');
      const terminal = new Terminal(name, shell(rewrite(d.block.body.join('\n'), ports), scratch));
      terminals.set(name, terminal);
      const ready = new RegExp(d.attrs.ready ?? '^handoff: listening', 'm');
      if (!(await terminal.until((out) => ready.test(out), timeoutMs))) fail(d, `no line matching /${ready.source}/ within ${timeoutMs / 1000} s:\n${terminal.output}`);
      else if (d.expected) {
        // What it printed by the time it was ready, as for `output`.
        const left = missingLines(expectedOf(d), prepare(terminal.output, scratch));
        if (left.length > 0) fail(d, `not in the output of "${name}":\n${left.map((l) => `      ${l}`).join('\n')}`);
      }
    } else {
      const terminal = terminals.get(name);
      if (!terminal) {
        fail(d, `no terminal "${name}" was started`);
        continue;
      }
      if (d.kind === 'stop') terminal.signal(d.attrs.signal ?? 'INT');
      if (d.kind === 'stop' || d.kind === 'wait') {
        const ok = await Promise.race([terminal.exited.then(() => true), new Promise((r) => setTimeout(r, timeoutMs, false))]);
        if (!ok) {
          terminal.signal('KILL');
          fail(d, `"${name}" did not exit within ${timeoutMs / 1000} s`);
        }
        terminals.delete(name);
      }
      if (d.expected) {
        const expected = expectedOf(d);
        const missing = () => missingLines(expected, prepare(terminal.output, scratch));
        await terminal.until(() => missing().length === 0, d.kind === 'output' ? timeoutMs : 0);
        const left = missing();
        if (left.length > 0) fail(d, `not in the output of "${name}":\n${left.map((l) => `      ${l}`).join('\n')}\n    its output:\n${prepare(terminal.output, scratch).map((l) => `      ${l}`).join('\n')}`);
      }
    }
  }
  for (const terminal of terminals.values()) {
    terminal.signal('KILL');
    await Promise.race([terminal.exited, new Promise((r) => setTimeout(r, 2000))]);
  }
  fs.rmSync(scratch, { recursive: true, force: true });
  return { file, directives: directives.length, failures, seconds: (Date.now() - started) / 1000 };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (!fs.existsSync(path.join(root, 'dist/master.js'))) {
    console.error('docs:check: no dist/master.js; run npm run build first');
    process.exit(2);
  }
  if (spawnSync('curl', ['--version']).status !== 0) {
    console.error('docs:check: needs curl');
    process.exit(2);
  }
  // Files run two at a time: each has its own scratch directory, port and
  // runtime dir, and most of a file's time is spent waiting for workers to
  // start, so two lanes halve the wall time without loading a small machine.
  const jobsArg = args.find((a) => a.startsWith('--jobs='));
  const jobs = Math.max(1, Number(jobsArg?.slice('--jobs='.length)) || 2);
  const queue = [...(files.length ? files : DEFAULT_FILES)];
  const results = new Map();
  const order = [...queue];
  const lane = async () => {
    for (let file = queue.shift(); file !== undefined; file = queue.shift()) results.set(file, await runFile(file));
  };
  const began = Date.now();
  await Promise.all(Array.from({ length: jobs }, lane));
  let failed = 0;
  for (const file of order) {
    const result = results.get(file);
    failed += result.failures.length;
    console.log(`docs:check ${result.file}: ${result.directives} checked blocks, ${result.failures.length} failed (${result.seconds.toFixed(1)} s)`);
    for (const failure of result.failures) console.log(`  FAIL ${failure}`);
  }
  console.log(`docs:check: ${failed === 0 ? 'no drift' : `${failed} block(s) drifted`} (${((Date.now() - began) / 1000).toFixed(1)} s, ${jobs} at a time)`);
  process.exit(failed === 0 ? 0 : 1);
}
