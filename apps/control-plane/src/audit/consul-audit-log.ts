/**
 * The audit log on Consul KV, for several control-plane replicas: every replica records the
 * requests it serves, and every replica lists every replica's entries.
 *
 * Layout under the prefix:
 *   audit/<YYYY-MM-DD>/<id>    one entry as JSON, under the UTC day of its time
 *
 * An id is `<ms since the epoch, 15 digits>-<writer>-<sequence, 10 digits>`: the time the entry was
 * stamped with, this log's random writer id, and its own counter. Ids are unique without a shared
 * counter (every replica records, unlike the event journal, where only the leader does: a counter
 * would make replicas contend on every write) and sort by time, so newest first is reverse key
 * order. Entries of one replica keep their order; entries of two replicas within the same
 * millisecond, or across a clock skew, are ordered by their times.
 *
 * Writes are batched: entries recorded while a transaction is in flight go together in the next one
 * (up to 64, Consul's limit per transaction), so a burst of API writes costs a few Consul writes,
 * not one each. `list` waits for this replica's pending entries first, so an admin reading the log
 * through the replica that served a write sees it.
 *
 * Day folders keep reads and trims from walking every key: a page lists the days (a few hundred at
 * most: one per day of retention) and then the keys of the newest days until it is full; the age
 * trim deletes whole days at once (one delete-tree each). The count trim lists the keys of the days
 * it keeps, newest first, once every `maxEntries / 10` records at most.
 */
import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { TXN_MAX_OPS, type ConsulClient, type KvEntry, type TxnOperation } from '../consul/consul-client';
import {
  AuditRetention,
  auditEntryMatches,
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

const ID = /^(\d{15})-[0-9a-f]{8}-\d{10}$/;
const DAY = /^\d{4}-\d{2}-\d{2}$/;
/** Transactions of reads sent at once while listing: 256 entries a round. */
const PARALLEL_READS = 4;

const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const msOfId = (id: string) => Number(ID.exec(id)![1]);

interface Pending {
  entry: AuditEntry;
  resolve: (entry: AuditEntry) => void;
  reject: (error: Error) => void;
}

export class ConsulAuditLog implements AuditLog {
  private readonly logger = new Logger('audit');
  private readonly retention: AuditRetention;
  /** Tells this log's ids from other replicas' (and from its own before a restart). */
  private readonly writer = randomBytes(4).toString('hex');
  private sequence = 0;
  private pending: Pending[] = [];
  /** The batch being written and the ones queued behind it; settled when all are. */
  private flushing: Promise<void> | undefined;

  private constructor(
    private readonly consul: ConsulClient,
    options: AuditLogOptions,
  ) {
    this.retention = new AuditRetention(options);
  }

  /**
   * Fails (ConsulAccessDeniedError) when the token may not list the log, rather than at the first
   * admin's read. Nothing runs in the background; the ConsulClient stays the caller's to close.
   */
  static async open(consul: ConsulClient, options: AuditLogOptions = {}): Promise<ConsulAuditLog> {
    const log = new ConsulAuditLog(consul, options);
    await log.days();
    return log;
  }

  private get prefix(): string {
    return this.consul.key('audit') + '/';
  }

  private entryKey(id: string): string {
    return `${this.prefix}${dayOf(msOfId(id))}/${id}`;
  }

  record(input: NewAuditEntry): Promise<AuditEntry> {
    const nowMs = this.retention.now();
    const id = `${String(nowMs).padStart(15, '0')}-${this.writer}-${String(++this.sequence).padStart(10, '0')}`;
    const entry = stampAuditEntry(input, id, nowMs);
    return new Promise((resolve, reject) => {
      this.pending.push({ entry, resolve, reject });
      this.flushing ??= this.flush();
    });
  }

  async list(query: AuditQuery): Promise<AuditPage> {
    const resolved = resolveAuditQuery(query, this.retention.oldestKeptMs(), ID);
    await this.settled();
    const firstDay = dayOf(resolved.sinceMs);
    const lastDay = resolved.beforeId === undefined ? undefined : dayOf(msOfId(resolved.beforeId));
    const found: AuditEntry[] = [];
    for (const day of (await this.days()).reverse()) {
      if (found.length > resolved.limit || day < firstDay) break;
      if (lastDay !== undefined && day > lastDay) continue;
      const ids = (await this.idsOf(day))
        .filter((id) => (resolved.beforeId === undefined || id < resolved.beforeId) && msOfId(id) >= resolved.sinceMs)
        .reverse();
      const perRound = TXN_MAX_OPS * PARALLEL_READS;
      for (let start = 0; start < ids.length && found.length <= resolved.limit; start += perRound) {
        const round = ids.slice(start, start + perRound);
        const batches = await Promise.all(
          Array.from({ length: Math.ceil(round.length / TXN_MAX_OPS) }, (_, i) => this.readEntries(round.slice(i * TXN_MAX_OPS, (i + 1) * TXN_MAX_OPS))),
        );
        for (const entry of batches.flat()) {
          if (found.length > resolved.limit) break;
          if (auditEntryMatches(entry, resolved)) found.push(entry);
        }
      }
    }
    return auditPage(found, resolved.limit);
  }

  async close(): Promise<void> {
    await this.settled();
  }

  /** Until every entry recorded so far is written (or failed). */
  private async settled(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  /**
   * Writes the pending entries, a transaction at a time, until none are left. The first batch waits
   * for the records made in the same turn of the event loop (a burst), later ones take what queued
   * while the one before was in flight.
   */
  private async flush(): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, TXN_MAX_OPS);
      try {
        const result = await this.consul.txn(batch.map(({ entry }): TxnOperation => ({ Verb: 'set', Key: this.entryKey(entry.id), Value: JSON.stringify(entry) })));
        if (!result.ok) throw new Error(`Consul refused the audit entries: ${result.errors.map((error) => error.What).join('; ')}`);
        for (const { entry, resolve } of batch) resolve(entry);
      } catch (error) {
        for (const { reject } of batch) reject(error as Error);
        continue;
      }
      if (this.retention.recorded(batch.length)) await this.trimKeepingRecords();
    }
    this.flushing = undefined;
  }

  /** The days that have entries, oldest first. */
  private async days(): Promise<string[]> {
    const folders = await this.consul.kvKeys(this.prefix, { separator: '/' });
    return folders
      .filter((key) => key.endsWith('/'))
      .map((key) => key.slice(this.prefix.length, -1))
      .filter((day) => DAY.test(day))
      .sort();
  }

  /** The ids stored under a day, oldest first. */
  private async idsOf(day: string): Promise<string[]> {
    const dayPrefix = `${this.prefix}${day}/`;
    return (await this.consul.kvKeys(dayPrefix))
      .map((key) => key.slice(dayPrefix.length))
      .filter((id) => ID.test(id))
      .sort();
  }

  /**
   * The entries with these ids, in their order, in one transaction. get-tree rather than get: a
   * transaction's get fails on a missing key, and a trim may have removed one since the listing.
   */
  private async readEntries(ids: string[]): Promise<AuditEntry[]> {
    if (ids.length === 0) return [];
    const keys = ids.map((id) => this.entryKey(id));
    const result = await this.consul.txn(keys.map((key): TxnOperation => ({ Verb: 'get-tree', Key: key })));
    if (!result.ok) throw new Error(`reading audit entries failed: ${result.errors.map((error) => error.What).join('; ')}`);
    const byKey = new Map(result.entries.map((entry: KvEntry) => [entry.Key, entry]));
    return keys.flatMap((key) => {
      const value = byKey.get(key)?.Value;
      return value ? [JSON.parse(value) as AuditEntry] : [];
    });
  }

  /** The entries are stored by now: a trim that fails must not fail their records. The next record tries again. */
  private async trimKeepingRecords(): Promise<void> {
    try {
      await this.trim();
    } catch (error) {
      this.logger.warn(`cannot remove old audit entries yet: ${(error as Error).message}`);
    }
  }

  /** Removes the days past the age limit, the entries before it on its day, and the oldest entries past `maxEntries`. */
  private async trim(): Promise<void> {
    const oldestKeptMs = this.retention.oldestKeptMs();
    const firstKeptDay = dayOf(oldestKeptMs);
    const days = await this.days();
    const doomedDays = days.filter((day) => day < firstKeptDay);
    const doomedIds: string[] = [];
    let kept = 0;
    for (const day of days.filter((candidate) => candidate >= firstKeptDay).reverse()) {
      if (kept === this.retention.maxEntries) {
        doomedDays.push(day);
        continue;
      }
      // Newest first; ids start with their time, so the entries past the age limit are the tail.
      const ids = (await this.idsOf(day)).reverse();
      const pastAge = ids.findIndex((id) => msOfId(id) < oldestKeptMs);
      const keep = Math.min(pastAge === -1 ? ids.length : pastAge, this.retention.maxEntries - kept);
      kept += keep;
      doomedIds.push(...ids.slice(keep));
    }
    const operations = [
      ...doomedDays.map((day): TxnOperation => ({ Verb: 'delete-tree', Key: `${this.prefix}${day}/` })),
      ...doomedIds.map((id): TxnOperation => ({ Verb: 'delete', Key: this.entryKey(id) })),
    ];
    for (let start = 0; start < operations.length; start += TXN_MAX_OPS) {
      const result = await this.consul.txn(operations.slice(start, start + TXN_MAX_OPS));
      if (!result.ok) throw new Error(`Consul refused to remove old audit entries: ${result.errors.map((error) => error.What).join('; ')}`);
    }
    this.retention.trimmed();
  }
}
