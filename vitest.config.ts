import { defineConfig } from 'vitest/config';

// Tests start real masters and workers: on a 2-core machine, running test
// files one at a time keeps them from starving each other of CPU.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 20_000,
    reporters: process.env.CI ? ['default'] : ['default'],
  },
});
