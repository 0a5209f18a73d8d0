import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedNodeRegistry } from './embedded-node-registry';
import { describeNodeRegistryContract } from './node-registry.contract';

const settings = { heartbeatIntervalMs: 2_000, ttlMs: 6_000, removeAfterMs: 60_000 };

describeNodeRegistryContract('embedded', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'portolan-registry-'));
  let now = 1_000_000;
  const clock = () => now;
  let db = new Database(join(dir, 'portolan.db'));
  const open = () => new EmbeddedNodeRegistry(db, { settings, clock, sweepIntervalMs: 3_600_000 });
  let registry = open();
  const harness = {
    registry,
    settings,
    advance: async (ms: number) => {
      now += ms;
      registry.sweep();
    },
    reopen: async () => {
      await registry.close();
      db.close();
      db = new Database(join(dir, 'portolan.db'));
      registry = open();
      return registry;
    },
    cleanup: async () => {
      await registry.close();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return harness;
});
