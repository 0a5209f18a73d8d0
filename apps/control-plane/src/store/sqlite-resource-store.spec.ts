import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeResourceStoreContract } from './resource-store.contract';
import { EmbeddedDatabaseError, openEmbeddedDatabase, SqliteResourceStore } from './sqlite-resource-store';

describeResourceStoreContract('embedded SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'portolan-store-'));
  const file = join(dir, 'portolan.db');
  let store = new SqliteResourceStore(openEmbeddedDatabase(file));
  return {
    store,
    reopen: async () => {
      await store.close();
      store = new SqliteResourceStore(openEmbeddedDatabase(file));
      return store;
    },
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('embedded SQLite database file', () => {
  it('refuses a second process-level open of the same data directory with a clear message', () => {
    const dir = mkdtempSync(join(tmpdir(), 'portolan-lock-'));
    const first = openEmbeddedDatabase(join(dir, 'portolan.db'));
    try {
      expect(() => openEmbeddedDatabase(join(dir, 'portolan.db'))).toThrow(/another control plane is already using this data directory/);
    } finally {
      first.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a file that is not a database instead of starting empty', () => {
    const dir = mkdtempSync(join(tmpdir(), 'portolan-corrupt-'));
    writeFileSync(join(dir, 'portolan.db'), 'this is not sqlite '.repeat(100));
    try {
      expect(() => openEmbeddedDatabase(join(dir, 'portolan.db'))).toThrow(EmbeddedDatabaseError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
