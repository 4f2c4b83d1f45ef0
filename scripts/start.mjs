// `npm start`: builds dist/ if it is missing or older than src/, then runs the
// master on the bundled example. Extra arguments go to the master:
//   npm start -- --workers 4 --scheduler shared
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const entry = path.join(root, 'dist/master.js');

function newest(dir) {
  let latest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(full) : fs.statSync(full).mtimeMs);
  }
  return latest;
}

if (!fs.existsSync(entry) || fs.statSync(entry).mtimeMs < newest(path.join(root, 'src'))) {
  process.stderr.write('building dist/ ...\n');
  const build = spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', root], { stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 1);
}

const args = process.argv.slice(2);
const master = spawn(process.execPath, [entry, path.join(root, 'examples/hello.js'), ...args], { stdio: 'inherit' });
// Ctrl-C reaches the master through the terminal's process group; SIGTERM we pass on.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => master.kill('SIGTERM'));
master.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
