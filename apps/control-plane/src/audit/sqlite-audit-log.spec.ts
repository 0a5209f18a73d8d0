import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openEmbeddedDatabase, SqliteResourceStore } from '../store/sqlite-resource-store';
import { describeAuditLogContract } from './audit-log.contract';
import { SqliteAuditLog } from './sqlite-audit-log';

describeAuditLogContract('embedded SQLite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'portolan-audit-'));
  const file = join(dir, 'portolan.db');
  let db: Database.Database | undefined;
  let log: SqliteAuditLog | undefined;
  const close = async () => {
    await log?.close();
    // The log leaves the database to its owner; the file is locked until it is closed.
    db?.close();
  };
  return {
    open: async (options) => {
      await close();
      db = openEmbeddedDatabase(file);
      log = new SqliteAuditLog(db, options);
      return log;
    },
    cleanup: async () => {
      await close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('SqliteAuditLog in the embedded database', () => {
  it('lives beside the resource store in one database, closing without closing it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portolan-audit-'));
    const db = openEmbeddedDatabase(join(dir, 'portolan.db'));
    try {
      const store = new SqliteResourceStore(db);
      const log = new SqliteAuditLog(db);
      await log.record({ actor: 'alice', action: 'delete', method: 'DELETE', path: '/v1/tokens/x', object: { kind: 'Token' }, outcome: { status: 'Failure', code: 404, reason: 'NotFound' }, dryRun: false });
      await log.close();
      expect(db.open).toBe(true);
      expect(await store.revision()).toBe(0);
      expect((await new SqliteAuditLog(db).list({})).items).toHaveLength(1);
      await store.close();
    } finally {
      if (db.open) db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
