import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    environment: 'node',
    include: ['src/**/*.spec.ts', 'test/**/*.spec.ts'],
    // System tests run a control plane and several gateways each, and spend most of their time
    // waiting (TTLs, windows, outages): two files at a time halves the suite's wall time on a
    // 2-core machine and leaves the CPU half idle still. More would starve the timing-bound ones.
    maxWorkers: 2,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
