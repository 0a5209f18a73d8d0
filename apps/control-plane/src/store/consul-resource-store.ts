/**
 * The resource store on Consul KV, for several control-plane replicas (PORTOLAN_STORE=consul).
 *
 * Layout under the prefix (see docs/adr/0006-consul-backend.md):
 *   revision                           the mesh revision, a decimal counter
 *   resources/<kind>/<ns>/<name>       the object as JSON; its resourceVersion is the revision that wrote it
 *   log/<revision, 16 digits>          the change record of that revision (type, actor, time, before, after)
 *   history/<kind>/<ns>/<name>/<rev>   empty markers: which log entries belong to one object
 *   compacted                          {"revision", "keepPerObject"} of the last compaction
 *
 * Every write is one /v1/txn that check-and-sets the revision key AND the object key on the
 * ModifyIndex read just before, and writes the log entry: two replicas can never overwrite each
 * other, the revision goes up by exactly one per write across all replicas, and a change is in the
 * log the moment the revision says it exists. That is why resourceVersion is the revision rather
 * than the object's raw ModifyIndex: the same number means the same thing on the embedded store,
 * and gateways compare revisions across kinds. The ModifyIndex is what the CAS checks.
 *
 * Change feed: one blocking query on the revision key per store (it returns within one round trip
 * of any write by any replica), then the new log entries in batched transactions. A replica that
 * restarts resumes from the revision it asks for, because the log is in Consul, not in memory.
 *
 * Compaction (run by the leader) records the compacted revision with a CAS, so it never goes
 * backwards, and only then deletes log entries with their history markers, both in the same
 * transaction, so a log entry that is missing was always compacted. A feed that finds the entries
 * it has not read yet compacted (its replica was cut off for longer than the retention) cannot
 * replay them: it ends its watches (`onExpired`) and goes on from the current revision.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Resource } from '@portolan/api';
import { ConsulAccessDeniedError, TXN_MAX_OPS, type ConsulClient, type KvEntry, type TxnOperation } from '../consul/consul-client';
import { follow } from '../consul/follow';
import {
  checkPrecondition,
  StoreRevisionCompactedError,
  writeIntent,
  type Change,
  type CompactionResult,
  type CompactionState,
  type ListResult,
  type ObjectKey,
  type ResourceStore,
  type Unsubscribe,
  type WriteIntent,
  type WriteOptions,
} from './resource-store';

/**
 * Consul refuses transactions over 512 KiB by default (txn_max_req_len). One write carries the
 * object and a log entry with before and after, all base64-encoded (4/3): three copies of 96 KiB
 * come to 384 KiB encoded, which leaves room for keys and JSON around them.
 */
export const CONSUL_MAX_OBJECT_BYTES = 96 * 1024;
/** Change records kept in memory for watches that start close to now. */
const RECENT_CHANGES = 1_000;
/** A write retried this often without winning the revision CAS gives up (extreme contention). */
const MAX_WRITE_ATTEMPTS = 200;

export class StoreObjectTooLargeError extends Error {
  readonly code = 'PORTOLAN_STORE_TOO_LARGE';
  constructor(readonly key: ObjectKey, readonly bytes: number) {
    super(`${key.kind} ${key.namespace}/${key.name} is ${bytes} bytes; the Consul store keeps objects up to ${CONSUL_MAX_OBJECT_BYTES} bytes`);
  }
}

export class StoreContentionError extends Error {
  readonly code = 'PORTOLAN_STORE_CONTENTION';
  constructor(readonly key: ObjectKey) {
    super(`${key.kind} ${key.namespace}/${key.name} was not written: other replicas kept winning the revision for ${MAX_WRITE_ATTEMPTS} attempts; try again`);
  }
}

const pad = (revision: number) => String(revision).padStart(16, '0');

/** One watch: its listener, behind the filter that keeps it gap-free and repeat-free. */
interface Subscriber {
  deliver: (change: Change) => void;
  onExpired?: (error: StoreRevisionCompactedError) => void;
}

/** A history read retries this often when compactions keep removing what it listed. */
const MAX_HISTORY_ATTEMPTS = 3;

export interface ConsulStoreOptions {
  /** Called when the change feed loses or regains Consul (for logs). */
  onAvailability?: (available: boolean, error?: Error) => void;
  /** Called when the revision in Consul went below what this replica had seen (a restored snapshot). */
  onRevisionRewound?: (seen: number, now: number) => void;
}

export class ConsulResourceStore implements ResourceStore {
  private readonly subscribers = new Set<Subscriber>();
  private readonly recent: Change[] = [];
  /** The highest revision whose change has been handed to listeners (and `recent`). */
  private feedRevision = -1;
  private feed: Promise<void> | undefined;
  private feedReady: Promise<void> | undefined;
  private readonly stop = new AbortController();
  private lastCompactionSeen: CompactionState | undefined;

  private constructor(
    private readonly consul: ConsulClient,
    private readonly options: ConsulStoreOptions,
  ) {}

  /** Opens the store, creating the revision counter the first time a prefix is used. */
  static async open(consul: ConsulClient, options: ConsulStoreOptions = {}): Promise<ConsulResourceStore> {
    const store = new ConsulResourceStore(consul, options);
    await consul.kvSet(store.revisionKey, '0', { cas: 0 });
    return store;
  }

  private get revisionKey(): string {
    return this.consul.key('revision');
  }

  private get compactedKey(): string {
    return this.consul.key('compacted');
  }

  private objectKey(key: ObjectKey): string {
    return this.consul.key('resources', key.kind, key.namespace, key.name);
  }

  async get(key: ObjectKey): Promise<Resource | undefined> {
    const { value } = await this.consul.kvGet(this.objectKey(key));
    return value?.Value ? (JSON.parse(value.Value) as Resource) : undefined;
  }

  async list(filter: { kind?: string; namespace?: string }): Promise<ListResult> {
    const tree = filter.kind
      ? this.consul.key('resources', filter.kind, ...(filter.namespace ? [filter.namespace] : [])) + '/'
      : this.consul.key('resources') + '/';
    // One transaction: the objects and the revision they are consistent with.
    const result = await this.consul.txn([
      { Verb: 'get', Key: this.revisionKey },
      { Verb: 'get-tree', Key: tree },
    ]);
    if (!result.ok) throw new Error(`reading ${tree} failed: ${result.errors.map((error) => error.What).join('; ')}`);
    const revisionEntry = this.resultOf(result.entries, this.revisionKey);
    const items = result.entries
      .filter((entry) => entry.Key.startsWith(tree) && entry.Value)
      .map((entry) => JSON.parse(entry.Value!) as Resource)
      .filter((resource) => !filter.namespace || resource.metadata.namespace === filter.namespace)
      .sort(
        (a, b) =>
          (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') ||
          a.metadata.name.localeCompare(b.metadata.name) ||
          a.kind.localeCompare(b.kind),
      );
    return { items, revision: Number(revisionEntry.Value) };
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
    const { value } = await this.consul.kvGet(this.revisionKey);
    return Number(value?.Value ?? 0);
  }

  async history(key: ObjectKey): Promise<Change[]> {
    const prefix = this.consul.key('history', key.kind, key.namespace, key.name) + '/';
    for (let attempt = 1; ; attempt++) {
      const revisions = (await this.consul.kvKeys(prefix)).map((marker) => Number(marker.slice(prefix.length))).sort((a, b) => a - b);
      try {
        return await this.readLog(revisions);
      } catch (error) {
        // A compaction removed some between the listing and the reading (marker and entry together): list again.
        if (!(error instanceof StoreRevisionCompactedError) || attempt >= MAX_HISTORY_ATTEMPTS) throw error;
      }
    }
  }

  async watch(fromRevision: number, listener: (change: Change) => void, onExpired?: (error: StoreRevisionCompactedError) => void): Promise<Unsubscribe> {
    // While Consul is down, the last compaction seen: a watch from a recent revision still catches up from memory.
    const { compactedRevision } = await this.compaction().catch((error: Error) => {
      if (this.lastCompactionSeen) return this.lastCompactionSeen;
      throw error;
    });
    if (fromRevision < compactedRevision) throw new StoreRevisionCompactedError(fromRevision, compactedRevision);
    await this.startFeed();
    let cursor = fromRevision;
    const deliver = (change: Change) => {
      if (change.revision <= cursor) return;
      cursor = change.revision;
      listener(change);
    };
    // Catch up to the feed; the last check and the subscription happen in one synchronous step,
    // so no change can fall between the backlog and the live stream.
    while (cursor < this.feedRevision) {
      const oldestRecent = this.recent[0]?.revision ?? Infinity;
      if (oldestRecent <= cursor + 1) {
        for (const change of this.recent) deliver(change);
        continue;
      }
      const upTo = Math.min(this.feedRevision, cursor + TXN_MAX_OPS * 4);
      for (const change of await this.readLog(range(cursor + 1, upTo))) deliver(change);
    }
    const subscriber = { deliver, onExpired };
    this.subscribers.add(subscriber);
    return () => this.subscribers.delete(subscriber);
  }

  async compact(throughRevision: number, keepPerObject: number): Promise<CompactionResult> {
    const through = Math.min(throughRevision, await this.revision());
    const recorded = await this.recordCompaction(through, keepPerObject);
    if (recorded !== through) return { removed: 0, compactedRevision: recorded };
    const doomed = await this.compactableChanges(through, keepPerObject);
    // Each change's log entry and marker go in the same transaction: a marker never outlives its entry.
    const perTransaction = TXN_MAX_OPS / 2;
    for (let start = 0; start < doomed.length; start += perTransaction) {
      const operations: TxnOperation[] = doomed.slice(start, start + perTransaction).flatMap(({ revision, marker }) => [
        { Verb: 'delete', Key: this.consul.key('log', pad(revision)) },
        { Verb: 'delete', Key: marker },
      ]);
      const result = await this.consul.txn(operations);
      if (!result.ok) throw new Error(`Consul refused to delete compacted changes: ${result.errors.map((error) => error.What).join('; ')}`);
    }
    return { removed: doomed.length, compactedRevision: through };
  }

  async compaction(): Promise<CompactionState> {
    const { value } = await this.consul.kvGet(this.compactedKey);
    this.lastCompactionSeen = parseCompaction(value);
    return this.lastCompactionSeen;
  }

  async close(): Promise<void> {
    this.stop.abort();
    this.subscribers.clear();
    await this.feed;
  }

  /**
   * Moves the recorded compacted revision to `through` unless it is already further (another
   * leader, or a lower call); the CAS keeps it from ever going backwards. Answers the recorded one.
   */
  private async recordCompaction(through: number, keepPerObject: number): Promise<number> {
    for (;;) {
      const { value } = await this.consul.kvGet(this.compactedKey);
      const { compactedRevision } = parseCompaction(value);
      if (through < compactedRevision) return compactedRevision;
      const record = JSON.stringify({ revision: through, keepPerObject });
      if (await this.consul.kvSet(this.compactedKey, record, { cas: value?.ModifyIndex ?? 0 })) return through;
    }
  }

  /**
   * The changes up to `through` that are not among the newest `keepPerObject` of their object, and
   * every change of an object deleted at or before `through`, from the markers. An object is gone
   * if it has no key now; one re-created meanwhile has a marker after `through`, so listing the
   * objects before or after the markers gives the same answer.
   */
  private async compactableChanges(through: number, keepPerObject: number): Promise<Array<{ revision: number; marker: string }>> {
    const resources = this.consul.key('resources') + '/';
    const history = this.consul.key('history') + '/';
    const existing = new Set((await this.consul.kvKeys(resources)).map((key) => key.slice(resources.length)));
    const byObject = new Map<string, Array<{ revision: number; marker: string }>>();
    for (const marker of await this.consul.kvKeys(history)) {
      const slash = marker.lastIndexOf('/');
      const object = marker.slice(0, slash);
      let changes = byObject.get(object);
      if (!changes) byObject.set(object, (changes = []));
      changes.push({ revision: Number(marker.slice(slash + 1)), marker });
    }
    return [...byObject]
      .flatMap(([object, changes]) => {
        changes.sort((a, b) => b.revision - a.revision);
        const forgotten = !existing.has(object.slice(history.length)) && changes[0].revision <= through;
        return forgotten ? changes : changes.slice(keepPerObject);
      })
      .filter((change) => change.revision <= through)
      .sort((a, b) => a.revision - b.revision);
  }

  /**
   * One atomic write, retried while only the revision moved (another replica wrote something
   * else).
   */
  private async write({ key, type, decide }: WriteIntent, options: WriteOptions): Promise<Change> {
    const objectKey = this.objectKey(key);
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
      const read = await this.consul.txn([
        { Verb: 'get', Key: this.revisionKey },
        // get-tree, not get: a transaction's `get` fails on a missing key.
        { Verb: 'get-tree', Key: objectKey },
      ]);
      if (!read.ok) throw new Error(`reading ${objectKey} failed: ${read.errors.map((error) => error.What).join('; ')}`);
      const revisionEntry = this.resultOf(read.entries, this.revisionKey);
      const entry: KvEntry | undefined = read.entries.find((candidate) => candidate.Key === objectKey);
      const current = entry?.Value ? (JSON.parse(entry.Value) as Resource) : undefined;
      checkPrecondition(key, current, options);
      const next = decide(current);
      const revision = Number(revisionEntry.Value) + 1;
      const stored = next ? { ...next, metadata: { ...next.metadata, resourceVersion: String(revision) } } : null;
      const body = stored ? JSON.stringify(stored) : '';
      if (Buffer.byteLength(body) > CONSUL_MAX_OBJECT_BYTES) throw new StoreObjectTooLargeError(key, Buffer.byteLength(body));
      const change: Change = { revision, type, key, actor: options.actor, time: new Date().toISOString(), before: current ?? null, after: stored };
      const operations: TxnOperation[] = [
        { Verb: 'cas', Key: this.revisionKey, Value: String(revision), Index: revisionEntry.ModifyIndex },
        stored
          ? { Verb: 'cas', Key: objectKey, Value: body, Index: entry?.ModifyIndex ?? 0 }
          : { Verb: 'delete-cas', Key: objectKey, Index: entry!.ModifyIndex },
        { Verb: 'set', Key: this.consul.key('log', pad(revision)), Value: JSON.stringify(change) },
        { Verb: 'set', Key: this.consul.key('history', key.kind, key.namespace, key.name, pad(revision)), Value: '' },
      ];
      const result = await this.consul.txn(operations);
      if (result.ok) return change;
      // Only a lost CAS (operation 0: the revision, 1: the object) is a race worth retrying.
      const other = result.errors.find((error) => error.OpIndex > 1);
      if (other) throw new Error(`Consul refused the write of ${objectKey}: ${other.What}`);
      // Lost a race: re-read. If the object itself moved, the precondition (or decide) now says so.
      await sleep(Math.random() * Math.min(50, 2 * (attempt + 1)));
    }
    throw new StoreContentionError(key);
  }

  private async readLog(revisions: number[]): Promise<Change[]> {
    const changes: Change[] = [];
    for (let start = 0; start < revisions.length; start += TXN_MAX_OPS) {
      const batch = revisions.slice(start, start + TXN_MAX_OPS);
      const keys = batch.map((revision) => this.consul.key('log', pad(revision)));
      const result = await this.consul.txn(keys.map((key) => ({ Verb: 'get', Key: key })));
      if (!result.ok) {
        // A log entry that is gone was compacted away (Consul's `get` fails with `key "<key>" doesn't
        // exist`, agent/consul/state/txn.go): reading from just before it is too old. Any other
        // failure is not a compaction, and must not end the watches as one.
        if (!result.errors.every((error) => /^key ".*" doesn't exist$/.test(error.What))) {
          throw new Error(`Consul refused to read the change log: ${result.errors.map((error) => error.What).join('; ')}`);
        }
        const missing = batch[result.errors[0].OpIndex];
        throw new StoreRevisionCompactedError(missing - 1, (await this.compaction()).compactedRevision);
      }
      changes.push(...keys.map((key) => JSON.parse(this.resultOf(result.entries, key).Value!) as Change));
    }
    return changes;
  }

  /**
   * The result for `key` of a transaction that `get`s it. A `get` of a missing key fails the whole
   * transaction, so a result that is not there was dropped by Consul because the token may not read
   * it (FilterTxnResults): with no token, Consul does not say it filtered anything.
   */
  private resultOf(entries: KvEntry[], key: string): KvEntry {
    const entry = entries.find((candidate) => candidate.Key === key);
    if (!entry) throw new ConsulAccessDeniedError(this.consul.address, `reading ${key}`, 'Consul left it out of the transaction\'s results, as it does for a key the token may not read');
    return entry;
  }

  /** Starts the change feed once; resolves when it knows the current revision. */
  private startFeed(): Promise<void> {
    if (!this.feedReady) {
      this.feedReady = (async () => {
        const { value, index } = await this.consul.kvGet(this.revisionKey);
        this.feedRevision = Number(value?.Value ?? 0);
        this.feed = this.runFeed(index);
      })();
      this.feedReady.catch(() => (this.feedReady = undefined));
    }
    return this.feedReady;
  }

  private runFeed(fromIndex: number): Promise<void> {
    return follow(
      (blocking) => this.consul.kvGet(this.revisionKey, blocking),
      async (entry) => {
        const revision = Number(entry?.Value ?? 0);
        if (revision < this.feedRevision) {
          // Only a restore of an older Consul snapshot moves the counter back; what was seen after it is gone.
          this.options.onRevisionRewound?.(this.feedRevision, revision);
          this.feedRevision = revision;
          this.recent.length = 0;
        }
        if (revision > this.feedRevision) await this.readFeed(revision);
      },
      {
        signal: this.stop.signal,
        fromIndex,
        onFailure: (error, failures) => failures === 1 && this.options.onAvailability?.(false, error),
        onRecovery: () => this.options.onAvailability?.(true),
      },
    );
  }

  private async readFeed(revision: number): Promise<void> {
    let changes: Change[];
    try {
      changes = await this.readLog(range(this.feedRevision + 1, revision));
    } catch (error) {
      if (!(error instanceof StoreRevisionCompactedError)) throw error;
      await this.expireFeed(new StoreRevisionCompactedError(this.feedRevision, error.oldest));
      return;
    }
    this.publish(changes);
  }

  /**
   * The changes after the feed's revision were compacted before it read them: what its watches
   * missed cannot be replayed. Like kube-apiserver's watch cache ending its watches with 410 Gone,
   * the feed goes on from the current revision and ends every watch; those that gave `onExpired`
   * hear why (and list again), the others just stop receiving.
   */
  private async expireFeed(error: StoreRevisionCompactedError): Promise<void> {
    this.feedRevision = await this.revision();
    this.recent.length = 0;
    const expired = [...this.subscribers];
    this.subscribers.clear();
    for (const subscriber of expired) subscriber.onExpired?.(error);
  }

  private publish(changes: Change[]): void {
    for (const change of changes) {
      if (change.revision <= this.feedRevision) continue;
      this.feedRevision = change.revision;
      this.recent.push(change);
      if (this.recent.length > RECENT_CHANGES) this.recent.shift();
      for (const subscriber of [...this.subscribers]) subscriber.deliver(change);
    }
  }
}

function parseCompaction(entry: KvEntry | undefined): CompactionState {
  if (!entry?.Value) return { compactedRevision: 0, keepPerObject: 0 };
  const { revision, keepPerObject } = JSON.parse(entry.Value) as { revision: number; keepPerObject: number };
  return { compactedRevision: revision, keepPerObject };
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, offset) => from + offset);
}
