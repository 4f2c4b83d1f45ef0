// handoff's version, read once from package.json (dist/ sits next to it).
import { createRequire } from 'node:module';

export const VERSION = (createRequire(import.meta.url)('../package.json') as { version: string }).version;
