import { defineConfig } from 'vitest/config';

// Tests wait for conditions (expect.poll, 10 s) rather than sleeping; the test timeout leaves room
// for a slow, loaded machine without hiding a hang.
export default defineConfig({ test: { environment: 'node', include: ['src/**/*.spec.ts'], testTimeout: 20_000, hookTimeout: 20_000 } });
