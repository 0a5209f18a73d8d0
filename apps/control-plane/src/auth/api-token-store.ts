/**
 * Where tokens minted through the API are kept (as SHA-256 hashes only): the embedded database, or
 * Consul KV so that a token minted through one replica works on every replica. Lookups are
 * synchronous (every request authenticates); with Consul they read an in-memory mirror that a
 * blocking query keeps current, so a revocation reaches every replica within one round trip and
 * tokens keep working while Consul is down.
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
}

export interface ApiTokenStore {
  byHash(hash: string): ApiTokenRecord | undefined;
  /** In creation order. */
  all(): ApiTokenRecord[];
  insert(record: ApiTokenRecord): Promise<void>;
  /** False when no token has this id. */
  remove(id: string): Promise<boolean>;
  close(): Promise<void>;
}

interface Row {
  id: string;
  name: string;
  role: Role;
  hash: string;
  created_at: string;
  created_by: string;
}

const fromRow = (row: Row): ApiTokenRecord => ({ id: row.id, name: row.name, role: row.role, hash: row.hash, createdAt: row.created_at, createdBy: row.created_by });

export class SqliteApiTokenStore implements ApiTokenStore {
  private readonly statements;

  constructor(db: Database.Database) {
    db.exec(
      'CREATE TABLE IF NOT EXISTS tokens (id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL, created_by TEXT NOT NULL)',
    );
    this.statements = {
      byHash: db.prepare<[string], Row>('SELECT * FROM tokens WHERE hash = ?'),
      all: db.prepare<[], Row>('SELECT * FROM tokens ORDER BY created_at, name'),
      insert: db.prepare<[string, string, string, string, string, string]>('INSERT INTO tokens (id, name, role, hash, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)'),
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
    this.statements.insert.run(record.id, record.name, record.role, record.hash, record.createdAt, record.createdBy);
  }

  async remove(id: string): Promise<boolean> {
    return this.statements.remove.run(id).changes > 0;
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

  async remove(id: string): Promise<boolean> {
    const { value } = await this.consul.kvGet(this.prefix + id);
    if (!value) return false;
    await this.consul.kvDelete(this.prefix + id);
    this.byId.delete(id);
    this.ownInserts.delete(id);
    this.ownRemovals.add(id);
    this.indexHashes();
    return true;
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
