#!/usr/bin/env node
// The first compaction of a long-lived embedded store: O objects written V times each (one change
// record per write), then one compaction keeping each object's newest 10 changes. It measures the
// compaction's time and the longest the event loop was held meanwhile (heartbeats and the API wait
// that long). The writes use synchronous=OFF to set the scene quickly; the control plane runs FULL.
// Run after `npm run build`:   node tools/bench/compaction.bench.mjs [objects=1000] [versions=100]
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const require = createRequire(import.meta.url);
const { openEmbeddedDatabase, SqliteResourceStore } = require('../../apps/control-plane/dist/store/sqlite-resource-store.js');

const [objects = 1_000, versions = 100] = process.argv.slice(2).map(Number);
const dir = mkdtempSync(join(tmpdir(), 'portolan-compaction-bench-'));
try {
  const db = openEmbeddedDatabase(join(dir, 'portolan.db'));
  db.pragma('synchronous = OFF');
  const store = new SqliteResourceStore(db);
  const service = (name, port) => ({ apiVersion: 'mesh.portolan.dev/v1alpha1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { ports: [{ port }] } });
  for (let o = 0; o < objects; o++) await store.create(service(`svc-${o}`, 1), { actor: 'bench' });
  for (let v = 2; v <= versions; v++) for (let o = 0; o < objects; o++) await store.update(service(`svc-${o}`, v), { actor: 'bench' });
  const revision = await store.revision();
  let longestHold = 0;
  let last = performance.now();
  const probe = setInterval(() => {
    const now = performance.now();
    longestHold = Math.max(longestHold, now - last);
    last = now;
  }, 1);
  const started = performance.now();
  const { removed } = await store.compact(revision, 10);
  const ms = performance.now() - started;
  clearInterval(probe);
  console.log(`compaction of ${revision} changes (${objects} objects x ${versions}), node ${process.version}: removed ${removed} in ${ms.toFixed(0)} ms; event loop held at most ${longestHold.toFixed(0)} ms`);
  await store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
