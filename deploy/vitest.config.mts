import { defineConfig } from 'vitest/config';

// `kubectl kustomize` and promtool run as child processes; a loaded 2-core CI machine needs more than the default 5 s.
export default defineConfig({ test: { environment: 'node', include: ['test/**/*.spec.ts'], testTimeout: 30_000 } });
