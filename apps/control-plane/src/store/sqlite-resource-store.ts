/**
 * The embedded default store: SQLite in WAL mode with synchronous=FULL, so a write is on disk
 * before it is acknowledged and a kill -9 (or power loss) never loses an acknowledged change.
 * better-sqlite3 is synchronous; each write is one IMMEDIATE transaction, which also makes the
 * resourceVersion check and the revision bump atomic. A watch here never expires (`onExpired` is
 * never called): every change reaches the listeners as it commits, before any compaction can run.
 */
import Database from 'better-sqlite3';
import { EventEmitter } from 'node:events';
import { basename, dirname } from 'node:path';
import type { Resource } from '@portolan/api';
import {
  checkPrecondition,
  StoreRevisionCompactedError,
  writeIntent,
  type Change,
  type ChangeType,
  type CompactionResult,
  type CompactionState,
  type ListResult,
  type ObjectKey,
  type ResourceStore,
  type Unsubscribe,
  type WriteIntent,
  type WriteOptions,
} from './resource-store';

interface ChangeRow {
  revision: number;
  type: ChangeType;
  kind: string;
  namespace: string;
  name: string;
  actor: string;
  time: string;
  before: string | null;
  after: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS resources (
  kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
  revision INTEGER NOT NULL, body TEXT NOT NULL,
  PRIMARY KEY (kind, namespace, name));
CREATE TABLE IF NOT EXISTS changes (
  revision INTEGER PRIMARY KEY, type TEXT NOT NULL,
  kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
  actor TEXT NOT NULL, time TEXT NOT NULL, before TEXT, after TEXT);
CREATE INDEX IF NOT EXISTS changes_by_object ON changes (kind, namespace, name, revision);
INSERT OR IGNORE INTO meta (key, value) VALUES ('revision', '0');
INSERT OR IGNORE INTO meta (key, value) VALUES ('compacted_revision', '0');
INSERT OR IGNORE INTO meta (key, value) VALUES ('compacted_keep_per_object', '0');
`;

/** Revisions per compaction transaction: a few milliseconds of work each. */
const COMPACTION_CHUNK = 2_000;

export class EmbeddedDatabaseError extends Error {
  readonly code = 'PORTOLAN_EMBEDDED_DB';
}

/**
 * What to tell the operator, by what SQLite said. A damaged file is theirs to restore or move
 * away; the control plane never overwrites it or starts empty beside it.
 */
function openFailureHint(file: string, error: unknown): string {
  const code = (error as { code?: string }).code ?? '';
  const reason = (error as Error).message;
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED') || /locked|busy/i.test(reason)) {
    return 'another control plane is already using this data directory (set PORTOLAN_DATA_DIR to use another one)';
  }
  if (code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_PERM') || code.startsWith('SQLITE_AUTH')) {
    return `the control plane cannot write ${dirname(file)}: make the directory and the files in it writable by the user it runs as, or set PORTOLAN_DATA_DIR to a writable directory`;
  }
  return `the file is not a Portolan database or is damaged, and was left as it is: restore it from a backup, or move ${basename(file)} (with any ${basename(file)}-wal and ${basename(file)}-shm beside it) out of the directory to start with an empty store`;
}

/**
 * Opens (creating if needed) the embedded database file, refusing a second process on it, and a
 * damaged file: quick_check reads every page once (milliseconds for a control plane's data), so a
 * damaged page stops the start here instead of failing whichever request reads it first.
 */
export function openEmbeddedDatabase(file: string): Database.Database {
  let db: Database.Database | undefined;
  try {
    // A short busy timeout: a locked file means another control plane, not a moment's contention.
    db = new Database(file, { timeout: 500 });
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    // One control plane per data directory: a second one fails here instead of interleaving writes.
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN IMMEDIATE; COMMIT;');
    const problems = db.pragma('quick_check(5)', { simple: false }) as Array<{ quick_check: string }>;
    if (problems[0]?.quick_check !== 'ok') {
      throw Object.assign(new Error(`quick_check found damage: ${problems.map((row) => row.quick_check).join('; ')}`), { code: 'SQLITE_CORRUPT' });
    }
    db.exec(SCHEMA);
  } catch (error) {
    db?.close();
    throw new EmbeddedDatabaseError(`cannot open the embedded store ${file}: ${(error as Error).message}: ${openFailureHint(file, error)}`);
  }
  return db;
}

export class SqliteResourceStore implements ResourceStore {
  private readonly events = new EventEmitter().setMaxListeners(0);
  private readonly statements;

  constructor(private readonly db: Database.Database) {
    this.statements = {
      get: db.prepare<[string, string, string], { body: string; revision: number }>(
        'SELECT body, revision FROM resources WHERE kind = ? AND namespace = ? AND name = ?',
      ),
      listAll: db.prepare<[], { body: string }>('SELECT body FROM resources ORDER BY namespace, name, kind'),
      listKind: db.prepare<[string], { body: string }>('SELECT body FROM resources WHERE kind = ? ORDER BY namespace, name'),
      listKindNamespace: db.prepare<[string, string], { body: string }>(
        'SELECT body FROM resources WHERE kind = ? AND namespace = ? ORDER BY name',
      ),
      listNamespace: db.prepare<[string], { body: string }>('SELECT body FROM resources WHERE namespace = ? ORDER BY name, kind'),
      revision: db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'revision'"),
      setRevision: db.prepare<[string]>("UPDATE meta SET value = ? WHERE key = 'revision'"),
      upsert: db.prepare<[string, string, string, number, string]>(
        'INSERT INTO resources (kind, namespace, name, revision, body) VALUES (?, ?, ?, ?, ?) ON CONFLICT (kind, namespace, name) DO UPDATE SET revision = excluded.revision, body = excluded.body',
      ),
      remove: db.prepare<[string, string, string]>('DELETE FROM resources WHERE kind = ? AND namespace = ? AND name = ?'),
      insertChange: db.prepare<[number, string, string, string, string, string, string, string | null, string | null]>(
        'INSERT INTO changes (revision, type, kind, namespace, name, actor, time, before, after) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      history: db.prepare<[string, string, string], ChangeRow>(
        'SELECT * FROM changes WHERE kind = ? AND namespace = ? AND name = ? ORDER BY revision',
      ),
      changesSince: db.prepare<[number], ChangeRow>('SELECT * FROM changes WHERE revision > ? ORDER BY revision'),
      compactionState: db.prepare<[], { key: string; value: string }>("SELECT key, value FROM meta WHERE key IN ('compacted_revision', 'compacted_keep_per_object')"),
      setMeta: db.prepare<[string, string]>('UPDATE meta SET value = ? WHERE key = ?'),
      // Per row, through the (kind, namespace, name, revision) index: a change goes when its object has
      // `keep` later changes, or when the object's newest change is a deletion at or before `through`.
      compactRange: db.prepare<{ after: number; upTo: number; through: number; skip: number }>(
        `DELETE FROM changes AS doomed WHERE doomed.revision > @after AND doomed.revision <= @upTo AND (
           (SELECT later.revision FROM changes AS later
             WHERE later.kind = doomed.kind AND later.namespace = doomed.namespace AND later.name = doomed.name AND later.revision > doomed.revision
             ORDER BY later.revision LIMIT 1 OFFSET @skip) IS NOT NULL
           OR (SELECT newest.type = 'DELETED' AND newest.revision <= @through FROM changes AS newest
             WHERE newest.kind = doomed.kind AND newest.namespace = doomed.namespace AND newest.name = doomed.name
             ORDER BY newest.revision DESC LIMIT 1))`,
      ),
      oldestChange: db.prepare<[], { revision: number | null }>('SELECT MIN(revision) AS revision FROM changes'),
    };
  }

  async get(key: ObjectKey): Promise<Resource | undefined> {
    const row = this.statements.get.get(key.kind, key.namespace, key.name);
    return row ? (JSON.parse(row.body) as Resource) : undefined;
  }

  async list(filter: { kind?: string; namespace?: string }): Promise<ListResult> {
    const read = this.db.transaction(() => {
      const { kind, namespace } = filter;
      const rows = kind
        ? namespace
          ? this.statements.listKindNamespace.all(kind, namespace)
          : this.statements.listKind.all(kind)
        : namespace
          ? this.statements.listNamespace.all(namespace)
          : this.statements.listAll.all();
      return { items: rows.map((row) => JSON.parse(row.body) as Resource), revision: this.currentRevision() };
    });
    return read();
  }

  async create(resource: Resource, options: WriteOptions): Promise<Resource> {
    return (await this.write(writeIntent.create(resource), options)).after!;
  }

  async update(resource: Resource, options: WriteOptions): Promise<Resource> {
    return (await this.write(writeIntent.update(resource), options)).after!;
  }

  async delete(key: ObjectKey, options: WriteOptions): Promise<Resource> {
    return (await this.write(writeIntent.delete(key), options)).before!;
  }

  async revision(): Promise<number> {
    return this.currentRevision();
  }

  async history(key: ObjectKey): Promise<Change[]> {
    return this.statements.history.all(key.kind, key.namespace, key.name).map(toChange);
  }

  async watch(fromRevision: number, listener: (change: Change) => void): Promise<Unsubscribe> {
    const { compactedRevision } = this.compactionState();
    if (fromRevision < compactedRevision) throw new StoreRevisionCompactedError(fromRevision, compactedRevision);
    // Synchronous backlog read and subscription: no commit (or compaction) can slip in between the two.
    for (const row of this.statements.changesSince.iterate(fromRevision)) listener(toChange(row));
    this.events.on('change', listener);
    return () => this.events.off('change', listener);
  }

  /**
   * Records the compacted revision first (watches from before it are refused from then on), then
   * deletes in transactions of COMPACTION_CHUNK revisions, yielding between them: better-sqlite3 is
   * synchronous, and the first compaction of a long-lived database must not hold the event loop
   * (heartbeats, the API) for the whole backlog.
   */
  async compact(throughRevision: number, keepPerObject: number): Promise<CompactionResult> {
    const record = this.db.transaction((): number | undefined => {
      const recorded = this.compactionState();
      const through = Math.min(throughRevision, this.currentRevision());
      if (through < recorded.compactedRevision) return undefined;
      this.statements.setMeta.run(String(through), 'compacted_revision');
      this.statements.setMeta.run(String(keepPerObject), 'compacted_keep_per_object');
      return through;
    });
    const through = record.immediate();
    if (through === undefined) return { removed: 0, compactedRevision: this.compactionState().compactedRevision };
    const compactRange = this.db.transaction((after: number, upTo: number) => this.statements.compactRange.run({ after, upTo, through, skip: keepPerObject - 1 }).changes);
    let removed = 0;
    for (let after = (this.statements.oldestChange.get()?.revision ?? through + 1) - 1; after < through; after += COMPACTION_CHUNK) {
      removed += compactRange.immediate(after, Math.min(after + COMPACTION_CHUNK, through));
      await new Promise((resolve) => setImmediate(resolve));
    }
    return { removed, compactedRevision: through };
  }

  async compaction(): Promise<CompactionState> {
    return this.compactionState();
  }

  async close(): Promise<void> {
    this.events.removeAllListeners();
    if (this.db.open) this.db.close();
  }

  private currentRevision(): number {
    return Number(this.statements.revision.get()!.value);
  }

  private compactionState(): CompactionState {
    const values = new Map(this.statements.compactionState.all().map((row) => [row.key, Number(row.value)]));
    return { compactedRevision: values.get('compacted_revision')!, keepPerObject: values.get('compacted_keep_per_object')! };
  }

  /**
   * One atomic write: checks the precondition, bumps the revision, stamps resourceVersion, stores
   * the object and its change record.
   */
  private write({ key, type, decide }: WriteIntent, options: WriteOptions): Change {
    const commit = this.db.transaction((): Change => {
      const row = this.statements.get.get(key.kind, key.namespace, key.name);
      const current = row ? (JSON.parse(row.body) as Resource) : undefined;
      checkPrecondition(key, current, options);
      const next = decide(current);
      const revision = this.currentRevision() + 1;
      this.statements.setRevision.run(String(revision));
      const stored = next ? { ...next, metadata: { ...next.metadata, resourceVersion: String(revision) } } : null;
      if (stored) this.statements.upsert.run(key.kind, key.namespace, key.name, revision, JSON.stringify(stored));
      else this.statements.remove.run(key.kind, key.namespace, key.name);
      const change: Change = { revision, type, key, actor: options.actor, time: new Date().toISOString(), before: current ?? null, after: stored };
      this.statements.insertChange.run(
        revision,
        type,
        key.kind,
        key.namespace,
        key.name,
        change.actor,
        change.time,
        change.before ? JSON.stringify(change.before) : null,
        change.after ? JSON.stringify(change.after) : null,
      );
      return change;
    });
    const change = commit.immediate();
    this.events.emit('change', change);
    return change;
  }
}

function toChange(row: ChangeRow): Change {
  return {
    revision: row.revision,
    type: row.type,
    key: { kind: row.kind, namespace: row.namespace, name: row.name },
    actor: row.actor,
    time: row.time,
    before: row.before ? (JSON.parse(row.before) as Resource) : null,
    after: row.after ? (JSON.parse(row.after) as Resource) : null,
  };
}
