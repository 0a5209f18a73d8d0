import { defineConfig } from 'vitest/config';

// The double runs on real timers: tests shorten TTLs and waits through its options (hundreds of
// milliseconds) and poll for conditions; the timeout leaves room for a slow, loaded machine.
export default defineConfig({ test: { environment: 'node', include: ['src/**/*.spec.ts'], testTimeout: 20_000, hookTimeout: 20_000 } });
