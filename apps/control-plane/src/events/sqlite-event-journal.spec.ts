import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openEmbeddedDatabase, SqliteResourceStore } from '../store/sqlite-resource-store';
import { describeEventJournalContract } from './event-journal.contract';
import { SqliteEventJournal } from './sqlite-event-journal';

describeEventJournalContract('embedded SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'portolan-events-'));
  const file = join(dir, 'portolan.db');
  let db: Database.Database | undefined;
  let journal: SqliteEventJournal | undefined;
  const close = async () => {
    await journal?.close();
    // The journal leaves the database to its owner; the file is locked until it is closed.
    db?.close();
  };
  return {
    open: async (options) => {
      await close();
      db = openEmbeddedDatabase(file);
      journal = new SqliteEventJournal(db, options);
      return journal;
    },
    cleanup: async () => {
      await close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('SqliteEventJournal in the embedded database', () => {
  it('lives beside the resource store in one database, closing without closing it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portolan-events-'));
    const db = openEmbeddedDatabase(join(dir, 'portolan.db'));
    try {
      const store = new SqliteResourceStore(db);
      const journal = new SqliteEventJournal(db);
      await journal.record({ type: 'Normal', reason: 'ScaledUp', regarding: { kind: 'AutoscalePolicy', namespace: 'shop', name: 'checkout' }, source: 'autoscaler', message: 'scaled' });
      await journal.close();
      expect(db.open).toBe(true);
      expect(await store.revision()).toBe(0);
      expect(await new SqliteEventJournal(db).list({})).toHaveLength(1);
      await store.close();
    } finally {
      if (db.open) db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
