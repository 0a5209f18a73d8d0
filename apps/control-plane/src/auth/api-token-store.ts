/**
 * Where tokens minted through the API are kept (as SHA-256 hashes only): the embedded database, or
 * Consul KV so that a token minted through one replica works on every replica. Lookups are
 * synchronous (every request authenticates); with Consul they read an in-memory mirror that a
 * blocking query keeps current, so a revocation reaches every replica within one round trip and
 * tokens keep working while Consul is down. Either store tells its listeners of every token that
 * goes (revoked here, or on another replica), so that sessions it authenticated end at once.
 */
import { Logger } from '@nestjs/common';
import type Database from 'better-sqlite3';
import type { ConsulClient, KvEntry } from '../consul/consul-client';
import { follow } from '../consul/follow';
import type { Role } from './roles';

export interface ApiTokenRecord {
  id: string;
  name: string;
  role: Role;
  /** Hex SHA-256 of the token. */
  hash: string;
  createdAt: string;
  createdBy: string;
  /** RFC 3339; absent on tokens minted before tokens expired, which never do. */
  expiresAt?: string;
}

export interface ApiTokenStore {
  byHash(hash: string): ApiTokenRecord | undefined;
  /** In creation order. */
  all(): ApiTokenRecord[];
  insert(record: ApiTokenRecord): Promise<void>;
  /** The token removed; undefined when no token has this id. */
  remove(id: string): Promise<ApiTokenRecord | undefined>;
  /** Calls `listener` with every token removed from now on, here or (Consul) on another replica. */
  onRemoved(listener: (record: ApiTokenRecord) => void): () => void;
  close(): Promise<void>;
}

interface Row {
  id: string;
  name: string;
  role: Role;
  hash: string;
  created_at: string;
  created_by: string;
  expires_at: string | null;
}

const fromRow = (row: Row): ApiTokenRecord => ({
  id: row.id,
  name: row.name,
  role: row.role,
  hash: row.hash,
  createdAt: row.created_at,
  createdBy: row.created_by,
  ...(row.expires_at !== null ? { expiresAt: row.expires_at } : {}),
});

/** Listeners of removed tokens, for either store. */
class RemovalListeners {
  private readonly listeners = new Set<(record: ApiTokenRecord) => void>();

  add(listener: (record: ApiTokenRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(record: ApiTokenRecord): void {
    for (const listener of this.listeners) listener(record);
  }
}

export class SqliteApiTokenStore implements ApiTokenStore {
  private readonly statements;
  private readonly removals = new RemovalListeners();

  constructor(db: Database.Database) {
    db.exec(
      'CREATE TABLE IF NOT EXISTS tokens (id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL, created_by TEXT NOT NULL, expires_at TEXT)',
    );
    // A database from before tokens expired: its tokens keep working, without an expiry.
    const columns = db.prepare<[], { name: string }>('PRAGMA table_info(tokens)').all();
    if (!columns.some((column) => column.name === 'expires_at')) db.exec('ALTER TABLE tokens ADD COLUMN expires_at TEXT');
    this.statements = {
      byHash: db.prepare<[string], Row>('SELECT * FROM tokens WHERE hash = ?'),
      byId: db.prepare<[string], Row>('SELECT * FROM tokens WHERE id = ?'),
      all: db.prepare<[], Row>('SELECT * FROM tokens ORDER BY created_at, name'),
      insert: db.prepare<[string, string, string, string, string, string, string | null]>(
        'INSERT INTO tokens (id, name, role, hash, created_at, created_by, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      remove: db.prepare<[string]>('DELETE FROM tokens WHERE id = ?'),
    };
  }

  byHash(hash: string): ApiTokenRecord | undefined {
    const row = this.statements.byHash.get(hash);
    return row ? fromRow(row) : undefined;
  }

  all(): ApiTokenRecord[] {
    return this.statements.all.all().map(fromRow);
  }

  async insert(record: ApiTokenRecord): Promise<void> {
    this.statements.insert.run(record.id, record.name, record.role, record.hash, record.createdAt, record.createdBy, record.expiresAt ?? null);
  }

  async remove(id: string): Promise<ApiTokenRecord | undefined> {
    const row = this.statements.byId.get(id);
    if (!row || this.statements.remove.run(id).changes === 0) return undefined;
    const record = fromRow(row);
    this.removals.emit(record);
    return record;
  }

  onRemoved(listener: (record: ApiTokenRecord) => void): () => void {
    return this.removals.add(listener);
  }

  async close(): Promise<void> {}
}

export class ConsulApiTokenStore implements ApiTokenStore {
  private readonly logger = new Logger('api-tokens');
  private readonly byId = new Map<string, ApiTokenRecord>();
  /** Every request authenticates: a map by hash, rebuilt when the tokens change, not a scan per request. */
  private hashes = new Map<string, ApiTokenRecord>();
  private readonly ownInserts = new Map<string, ApiTokenRecord>();
  private readonly ownRemovals = new Set<string>();
  private readonly removals = new RemovalListeners();
  private readonly stop = new AbortController();
  private watching: Promise<void> | undefined;

  private constructor(private readonly consul: ConsulClient) {}

  /**
   * Loads the tokens, then keeps the mirror current. Fails (ConsulAccessDeniedError) when the ACL
   * token may not read every key under the prefix, rather than start with a mirror missing tokens.
   */
  static async open(consul: ConsulClient): Promise<ConsulApiTokenStore> {
    const store = new ConsulApiTokenStore(consul);
    const { value, index } = await consul.kvList(store.prefix);
    store.replace(tokenRecords(value));
    store.watching = store.watch(index);
    return store;
  }

  private get prefix(): string {
    return this.consul.key('tokens') + '/';
  }

  byHash(hash: string): ApiTokenRecord | undefined {
    return this.hashes.get(hash);
  }

  all(): ApiTokenRecord[] {
    return [...this.byId.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.name.localeCompare(b.name));
  }

  async insert(record: ApiTokenRecord): Promise<void> {
    await this.consul.kvSet(this.prefix + record.id, JSON.stringify(record), { cas: 0 });
    this.byId.set(record.id, record);
    this.ownInserts.set(record.id, record);
    this.indexHashes();
  }

  async remove(id: string): Promise<ApiTokenRecord | undefined> {
    const { value } = await this.consul.kvGet(this.prefix + id);
    const [stored] = value ? tokenRecords([value]) : [];
    if (!stored) return undefined;
    await this.consul.kvDelete(this.prefix + id);
    const record = this.byId.get(id) ?? stored;
    this.byId.delete(id);
    this.ownInserts.delete(id);
    this.ownRemovals.add(id);
    this.indexHashes();
    this.removals.emit(record);
    return record;
  }

  onRemoved(listener: (record: ApiTokenRecord) => void): () => void {
    return this.removals.add(listener);
  }

  async close(): Promise<void> {
    this.stop.abort();
    await this.watching;
  }

  /**
   * Takes Consul's list, except for this replica's own writes that the list does not show yet (a
   * watch answer already in flight when the write was made).
   */
  private replace(records: ApiTokenRecord[]): void {
    const before = [...this.byId.values()];
    this.byId.clear();
    for (const record of records) this.byId.set(record.id, record);
    for (const [id, record] of this.ownInserts) {
      if (this.byId.has(id)) this.ownInserts.delete(id);
      else this.byId.set(id, record);
    }
    for (const id of this.ownRemovals) {
      if (this.byId.has(id)) this.byId.delete(id);
      else this.ownRemovals.delete(id);
    }
    this.indexHashes();
    // Revoked on another replica (or deleted in Consul by hand).
    for (const record of before) if (!this.byId.has(record.id)) this.removals.emit(record);
  }

  private indexHashes(): void {
    this.hashes = new Map([...this.byId.values()].map((record) => [record.hash, record]));
  }

  private watch(fromIndex: number): Promise<void> {
    return follow(
      (blocking) => this.consul.kvList(this.prefix, blocking),
      (entries) => this.replace(tokenRecords(entries)),
      {
        signal: this.stop.signal,
        fromIndex,
        // Tokens keep authenticating from the mirror meanwhile; minting and revoking answer 503.
        onFailure: (error, failures) => failures === 1 && this.logger.warn(`cannot watch API tokens in Consul: ${error.message}`),
      },
    );
  }
}

/** The records among the keys under the prefix; a key without a value (a "folder" the Consul UI made) is none. */
function tokenRecords(entries: KvEntry[]): ApiTokenRecord[] {
  return entries.filter((entry) => entry.Value !== null).map((entry) => JSON.parse(entry.Value!) as ApiTokenRecord);
}
