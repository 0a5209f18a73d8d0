/**
 * The dashboard is served by the control plane under /ui/ (apps/control-plane/src/dashboard); in
 * development, `npm run dev` here proxies the API to a running control plane
 * (PORTOLAN_API_URL, default https://127.0.0.1:7443, self-signed: certificate not checked).
 *
 * Tests: component tests (`src/**\/*.spec.ts(x)`) run in jsdom; the end-to-end tests
 * (`e2e/*.e2e.spec.ts`) drive the built dashboard in real Chromium against the local mesh.
 */
import react from '@vitejs/plugin-react';
import { defaultClientConditions } from 'vite';
import { defineConfig } from 'vitest/config';

const apiUrl = process.env.PORTOLAN_API_URL ?? 'https://127.0.0.1:7443';
const apiPrefixes = ['/apis', '/api', '/v1', '/observability', '/version', '/openapi'];

export default defineConfig({
  base: '/ui/',
  plugins: [react()],
  resolve: { conditions: ['development', ...defaultClientConditions] },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    // The YAML editor is its own chunk: the policy pages are lazy (src/app/router.tsx).
    chunkSizeWarningLimit: 1024,
  },
  server: {
    // The control plane refuses a live-feed upgrade whose Origin is not its own (docs/dashboard.md): the proxy speaks as it.
    proxy: Object.fromEntries(apiPrefixes.map((prefix) => [prefix, { target: apiUrl, secure: false, ws: prefix === '/v1', changeOrigin: true, headers: { origin: new URL(apiUrl).origin } }])),
  },
  test: {
    projects: [
      // One jsdom per worker rather than per file (48 s → 10 s here): the setup unmounts after each
      // test and stubbed globals (fetch, WebSocket) are restored after each test.
      {
        extends: true,
        test: { name: 'components', include: ['src/**/*.spec.ts', 'src/**/*.spec.tsx'], environment: 'jsdom', setupFiles: ['src/testing/setup.ts'], isolate: false, unstubGlobals: true },
      },
      // Only the end-to-end tests need Chromium: its setup (installing it when missing) runs for them alone.
      { extends: true, test: { name: 'e2e', include: ['e2e/**/*.e2e.spec.ts'], environment: 'node', globalSetup: ['e2e/chromium-setup.ts'], testTimeout: 60_000, hookTimeout: 200_000 } },
    ],
  },
});
