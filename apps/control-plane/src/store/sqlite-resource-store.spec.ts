import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

  it('refuses a database with a damaged page, naming the file and leaving every byte as it was', () => {
    const dir = mkdtempSync(join(tmpdir(), 'portolan-damaged-'));
    const file = join(dir, 'portolan.db');
    try {
      const db = openEmbeddedDatabase(file);
      const insert = db.prepare("INSERT INTO resources (kind, namespace, name, revision, body) VALUES ('Service', 'default', ?, ?, ?)");
      for (let i = 0; i < 500; i++) insert.run(`svc-${i}`, i + 1, JSON.stringify({ padding: 'x'.repeat(200) }));
      db.close();
      // Page 1 (the schema) stays intact, so SQLite opens the file; a page in the middle does not.
      const bytes = readFileSync(file);
      bytes.fill(0xab, 20 * 4096, 21 * 4096);
      writeFileSync(file, bytes);
      // Before the start-time check this opened, and the damage surfaced in whichever request read that page.
      expect(() => openEmbeddedDatabase(file)).toThrow(new RegExp(`cannot open the embedded store ${file}: .*left as it is: restore it from a backup, or move portolan.db`));
      expect(readFileSync(file).equals(bytes)).toBe(true);
    } finally {
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
