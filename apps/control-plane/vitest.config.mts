import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    environment: 'node',
    include: ['src/**/*.spec.ts', 'test/**/*.spec.ts'],
    // End-to-end specs start real servers and the real kubectl, and spend most of their time
    // waiting on them: two files at a time (Vitest's default here is one, a core less than the
    // machine has) cuts the suite's wall time on a 2-core machine.
    maxWorkers: 2,
    // Give them room on a 2-core machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
