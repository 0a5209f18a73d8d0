/**
 * The event journal in the embedded database (one process), next to the resource store's tables.
 *
 * Ids are the row's AUTOINCREMENT key, zero-padded: AUTOINCREMENT, not a plain rowid, because
 * retention can delete every event (all past the age limit) and a plain rowid would then start
 * over at 1, handing out ids that are not increasing. The columns the query filters on are kept
 * beside the event's JSON; with at most `maxEvents` rows (10,000 by default), a newest-first walk
 * of the primary key answers every query, so there is no index per filter, only one on time for
 * the age trim.
 */
import type Database from 'better-sqlite3';
import type { MeshEvent } from '@portolan/api';
import {
  EventListeners,
  EventRetention,
  formatEventId,
  resolveEventQuery,
  stampEvent,
  statusJson,
  type EventJournal,
  type EventJournalOptions,
  type EventQuery,
  type EventSubject,
  type NewMeshEvent,
} from './event-journal';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS mesh_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time_ms INTEGER NOT NULL,
  kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
  reason TEXT NOT NULL, source TEXT NOT NULL,
  body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS mesh_events_by_time ON mesh_events (time_ms);
CREATE TABLE IF NOT EXISTS controller_status (
  kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
  body TEXT NOT NULL,
  PRIMARY KEY (kind, namespace, name));
`;

interface EventRow {
  id: number;
  /** The event without its id (the row's key). */
  body: string;
}

interface ListParameters {
  kind: string | null;
  namespace: string | null;
  name: string | null;
  reason: string | null;
  source: string | null;
  sinceMs: number;
  limit: number;
}

const fromRow = (row: EventRow): MeshEvent => ({ id: formatEventId(row.id), ...(JSON.parse(row.body) as Omit<MeshEvent, 'id'>) });

export class SqliteEventJournal implements EventJournal {
  private readonly retention: EventRetention;
  private readonly listeners = new EventListeners();
  private readonly statements;
  /** Both trims in one transaction: one write to disk, not two. */
  private readonly trimTransaction;

  /** Creates its tables in `db` when missing; `db` stays the caller's to close. */
  constructor(db: Database.Database, options: EventJournalOptions = {}) {
    this.retention = new EventRetention(options);
    db.exec(SCHEMA);
    this.statements = {
      insert: db.prepare<[number, string, string, string, string, string, string]>(
        'INSERT INTO mesh_events (time_ms, kind, namespace, name, reason, source, body) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      list: db.prepare<ListParameters, EventRow>(
        `SELECT id, body FROM mesh_events
         WHERE (@kind IS NULL OR kind = @kind) AND (@namespace IS NULL OR namespace = @namespace) AND (@name IS NULL OR name = @name)
           AND (@reason IS NULL OR reason = @reason) AND (@source IS NULL OR source = @source) AND time_ms >= @sinceMs
         ORDER BY id DESC LIMIT @limit`,
      ),
      trimByAge: db.prepare<[number]>('DELETE FROM mesh_events WHERE time_ms < ?'),
      // Everything up to the newest event past the first `maxEvents`; nothing when there are fewer.
      trimByCount: db.prepare<[number]>('DELETE FROM mesh_events WHERE id <= (SELECT id FROM mesh_events ORDER BY id DESC LIMIT 1 OFFSET ?)'),
      putStatus: db.prepare<[string, string, string, string]>(
        'INSERT INTO controller_status (kind, namespace, name, body) VALUES (?, ?, ?, ?) ON CONFLICT (kind, namespace, name) DO UPDATE SET body = excluded.body',
      ),
      status: db.prepare<[string, string, string], { body: string }>('SELECT body FROM controller_status WHERE kind = ? AND namespace = ? AND name = ?'),
      deleteStatus: db.prepare<[string, string, string]>('DELETE FROM controller_status WHERE kind = ? AND namespace = ? AND name = ?'),
    };
    this.trimTransaction = db.transaction((oldestKeptMs: number, maxEvents: number) => {
      this.statements.trimByAge.run(oldestKeptMs);
      this.statements.trimByCount.run(maxEvents);
    });
  }

  async record(input: NewMeshEvent): Promise<MeshEvent> {
    // Stamped before the insert to validate the time; the id is the row's, known after it.
    const unnumbered = stampEvent(input, '', this.retention.now());
    const { kind, namespace, name } = unnumbered.regarding;
    const body = JSON.stringify({ ...unnumbered, id: undefined });
    const { lastInsertRowid } = this.statements.insert.run(Date.parse(unnumbered.time), kind, namespace, name, unnumbered.reason, unnumbered.source, body);
    const event = { ...unnumbered, id: formatEventId(Number(lastInsertRowid)) };
    if (this.retention.recorded()) this.trim();
    this.listeners.emit(event);
    return event;
  }

  async list(query: EventQuery): Promise<MeshEvent[]> {
    const resolved = resolveEventQuery(query, this.retention.oldestKeptMs());
    return this.statements.list
      .all({
        kind: resolved.kind ?? null,
        namespace: resolved.namespace ?? null,
        name: resolved.name ?? null,
        reason: resolved.reason ?? null,
        source: resolved.source ?? null,
        sinceMs: resolved.sinceMs,
        limit: resolved.limit,
      })
      .map(fromRow);
  }

  async putStatus(key: EventSubject, status: unknown): Promise<void> {
    this.statements.putStatus.run(key.kind, key.namespace, key.name, statusJson(key, status));
  }

  async status(key: EventSubject): Promise<unknown | undefined> {
    const row = this.statements.status.get(key.kind, key.namespace, key.name);
    return row ? (JSON.parse(row.body) as unknown) : undefined;
  }

  async deleteStatus(key: EventSubject): Promise<void> {
    this.statements.deleteStatus.run(key.kind, key.namespace, key.name);
  }

  onEvent(listener: (event: MeshEvent) => void): () => void {
    return this.listeners.add(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }

  private trim(): void {
    this.trimTransaction.immediate(this.retention.oldestKeptMs(), this.retention.maxEvents);
    this.retention.trimmed();
  }
}
