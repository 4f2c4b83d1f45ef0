// Rewrites the --help block in README.md from the built CLI:
//   node scripts/readme-help.mjs
// test/docs.test.ts fails when the README and --help disagree.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

const help = execFileSync(process.execPath, ['dist/master.js', '--help'], { encoding: 'utf8' });
const readme = fs.readFileSync('README.md', 'utf8');
const updated = readme.replace(/(<!-- help:start[^\n]*\n)```\n[\s\S]*?```\n(<!-- help:end -->)/, `$1\`\`\`\n${help}\`\`\`\n$2`);
fs.writeFileSync('README.md', updated);
