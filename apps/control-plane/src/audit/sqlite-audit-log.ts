/**
 * The audit log in the embedded database (one process), next to the resource store's tables.
 *
 * An entry is inserted when the request's outcome is decided, before the answer is sent, in its own
 * transaction: with the database's synchronous=FULL it is on disk before the client reads the
 * answer. Ids are the row's AUTOINCREMENT key, zero-padded, so that they keep increasing after
 * retention removed every row. The columns the query filters on are kept beside the entry's JSON;
 * a newest-first walk of the primary key answers every query (at most `maxEntries` rows, 100,000 by
 * default), so the only other index is on time, for the age trim.
 */
import type Database from 'better-sqlite3';
import {
  AuditRetention,
  auditPage,
  resolveAuditQuery,
  stampAuditEntry,
  type AuditEntry,
  type AuditLog,
  type AuditLogOptions,
  type AuditPage,
  type AuditQuery,
  type NewAuditEntry,
} from './audit-log';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS audit_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time_ms INTEGER NOT NULL,
  actor TEXT, action TEXT NOT NULL,
  kind TEXT NOT NULL, namespace TEXT, name TEXT,
  body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_log_by_time ON audit_log (time_ms);
`;

/** The width of an id: string order is number order. */
const ID_DIGITS = 16;
const ID = /^\d{16}$/;

const formatId = (rowId: number | bigint) => String(rowId).padStart(ID_DIGITS, '0');

interface ListParameters {
  actor: string | null;
  action: string | null;
  kind: string | null;
  namespace: string | null;
  name: string | null;
  sinceMs: number;
  beforeId: number;
  limit: number;
}

export class SqliteAuditLog implements AuditLog {
  private readonly retention: AuditRetention;
  private readonly statements;
  /** Both trims in one transaction: one write to disk, not two. */
  private readonly trimTransaction;

  /** Creates its table in `db` when missing; `db` stays the caller's to close. */
  constructor(db: Database.Database, options: AuditLogOptions = {}) {
    this.retention = new AuditRetention(options);
    db.exec(SCHEMA);
    this.statements = {
      insert: db.prepare<[number, string | null, string, string, string | null, string | null, string]>(
        'INSERT INTO audit_log (time_ms, actor, action, kind, namespace, name, body) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      list: db.prepare<ListParameters, { id: number; body: string }>(
        `SELECT id, body FROM audit_log
         WHERE id < @beforeId AND (@actor IS NULL OR actor = @actor) AND (@action IS NULL OR action = @action)
           AND (@kind IS NULL OR kind = @kind) AND (@namespace IS NULL OR namespace = @namespace) AND (@name IS NULL OR name = @name)
           AND time_ms >= @sinceMs
         ORDER BY id DESC LIMIT @limit`,
      ),
      trimByAge: db.prepare<[number]>('DELETE FROM audit_log WHERE time_ms < ?'),
      // Everything up to the newest entry past the first `maxEntries`; nothing when there are fewer.
      trimByCount: db.prepare<[number]>('DELETE FROM audit_log WHERE id <= (SELECT id FROM audit_log ORDER BY id DESC LIMIT 1 OFFSET ?)'),
    };
    this.trimTransaction = db.transaction((oldestKeptMs: number, maxEntries: number) => {
      this.statements.trimByAge.run(oldestKeptMs);
      this.statements.trimByCount.run(maxEntries);
    });
  }

  async record(input: NewAuditEntry): Promise<AuditEntry> {
    const nowMs = this.retention.now();
    // The id is the row's, known after the insert; the body is stored without it.
    const unnumbered = stampAuditEntry(input, '', nowMs);
    const { kind, namespace, name } = unnumbered.object;
    const body = JSON.stringify({ ...unnumbered, id: undefined });
    const { lastInsertRowid } = this.statements.insert.run(nowMs, unnumbered.actor ?? null, unnumbered.action, kind, namespace ?? null, name ?? null, body);
    if (this.retention.recorded()) this.trim();
    return { ...unnumbered, id: formatId(lastInsertRowid) };
  }

  async list(query: AuditQuery): Promise<AuditPage> {
    const resolved = resolveAuditQuery(query, this.retention.oldestKeptMs(), ID);
    const rows = this.statements.list.all({
      actor: resolved.actor ?? null,
      action: resolved.action ?? null,
      kind: resolved.kind ?? null,
      namespace: resolved.namespace ?? null,
      name: resolved.name ?? null,
      sinceMs: resolved.sinceMs,
      beforeId: resolved.beforeId === undefined ? Number.MAX_SAFE_INTEGER : Number(resolved.beforeId),
      limit: resolved.limit + 1,
    });
    return auditPage(
      rows.map((row) => ({ id: formatId(row.id), ...(JSON.parse(row.body) as Omit<AuditEntry, 'id'>) })),
      resolved.limit,
    );
  }

  async close(): Promise<void> {}

  private trim(): void {
    this.trimTransaction.immediate(this.retention.oldestKeptMs(), this.retention.maxEntries);
    this.retention.trimmed();
  }
}
