/**
 * The event journal on Consul KV, for several control-plane replicas.
 *
 * Layout under the prefix:
 *   events/sequence                         the last event id handed out, a decimal counter
 *   events/log/<id, 16 digits>              one event as JSON
 *   controller-status/<kind>/<ns>/<name>    the status a controller keeps of an object, as JSON
 *
 * Ids come from the counter, not from the clock (e.g. `<ms>-<random>`): each record is one /v1/txn
 * that check-and-sets the counter on the ModifyIndex read just before and writes the event, so ids
 * are unique and increasing in record order across replicas whatever their clocks say (a new
 * leader whose clock is behind the old one's still records after it) and two replicas recording
 * at once cannot both win an id. Only the leader records, so the CAS practically never retries; it
 * costs one read per record, for a few records a minute.
 *
 * Listing reads the keys under events/log/ (bounded by retention: 10,000 by default) and then the
 * events newest first, a few transactions at a time, until the limit is filled: the newest 100
 * take one round, a filter matching few events reads further. The age trim reads the oldest events
 * until the first one young enough: ids follow record order, and times nearly so.
 */
import { Logger } from '@nestjs/common';
import type { MeshEvent } from '@portolan/api';
import { TXN_MAX_OPS, type ConsulClient, type KvEntry, type TxnOperation } from '../consul/consul-client';
import {
  EventListeners,
  EventRetention,
  eventMatches,
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

/** A record retried this often without winning the counter gives up (another replica recording non-stop). */
const MAX_RECORD_ATTEMPTS = 50;
/** Transactions of reads sent at once while listing: 256 events a round. */
const PARALLEL_READS = 4;
const EVENT_ID = /^\d{16}$/;

export class EventJournalContentionError extends Error {
  readonly code = 'PORTOLAN_EVENT_JOURNAL_CONTENTION';
  constructor(event: NewMeshEvent) {
    super(`event ${event.reason} about ${event.regarding.kind} ${event.regarding.namespace}/${event.regarding.name} was not recorded: other replicas kept winning the next id for ${MAX_RECORD_ATTEMPTS} attempts`);
  }
}

export class ConsulEventJournal implements EventJournal {
  private readonly logger = new Logger('event-journal');
  private readonly retention: EventRetention;
  private readonly listeners = new EventListeners();

  private constructor(
    private readonly consul: ConsulClient,
    options: EventJournalOptions,
  ) {
    this.retention = new EventRetention(options);
  }

  /**
   * Creates the id counter the first time a prefix is used, starting after any event already
   * there (a counter deleted by hand must not hand out ids again). Fails (ConsulAccessDeniedError)
   * when the token may not read or write the journal, rather than fail at the first action.
   */
  static async open(consul: ConsulClient, options: EventJournalOptions = {}): Promise<ConsulEventJournal> {
    const journal = new ConsulEventJournal(consul, options);
    const newest = (await journal.eventKeys()).at(-1);
    await consul.kvSet(journal.sequenceKey, String(newest ? Number(journal.idOf(newest)) : 0), { cas: 0 });
    return journal;
  }

  private get sequenceKey(): string {
    return this.consul.key('events', 'sequence');
  }

  private get logPrefix(): string {
    return this.consul.key('events', 'log') + '/';
  }

  private eventKey(id: string): string {
    return this.logPrefix + id;
  }

  private idOf(key: string): string {
    return key.slice(this.logPrefix.length);
  }

  private statusKey(key: EventSubject): string {
    return this.consul.key('controller-status', key.kind, key.namespace, key.name);
  }

  async record(input: NewMeshEvent): Promise<MeshEvent> {
    const nowMs = this.retention.now();
    let event: MeshEvent | undefined;
    for (let attempt = 0; !event; attempt++) {
      if (attempt === MAX_RECORD_ATTEMPTS) throw new EventJournalContentionError(input);
      const { value: sequence } = await this.consul.kvGet(this.sequenceKey);
      const candidate = stampEvent(input, formatEventId(Number(sequence?.Value ?? 0) + 1), nowMs);
      const result = await this.consul.txn([
        { Verb: 'cas', Key: this.sequenceKey, Value: String(Number(candidate.id)), Index: sequence?.ModifyIndex ?? 0 },
        // Index 0: only if absent, so an event is never overwritten, even by a counter set back by hand.
        { Verb: 'cas', Key: this.eventKey(candidate.id), Value: JSON.stringify(candidate), Index: 0 },
      ]);
      if (result.ok) event = candidate;
      // Only the event's key was taken: the counter is behind the events (set back by hand).
      else if (result.errors.every((error) => error.OpIndex === 1)) await this.advanceSequence(sequence?.ModifyIndex ?? 0);
    }
    if (this.retention.recorded()) await this.trimKeepingRecord();
    this.listeners.emit(event);
    return event;
  }

  async list(query: EventQuery): Promise<MeshEvent[]> {
    const resolved = resolveEventQuery(query, this.retention.oldestKeptMs());
    const keys = (await this.eventKeys()).reverse();
    const found: MeshEvent[] = [];
    const perRound = TXN_MAX_OPS * PARALLEL_READS;
    for (let start = 0; start < keys.length && found.length < resolved.limit; start += perRound) {
      const round = keys.slice(start, start + perRound);
      const batches = await Promise.all(Array.from({ length: Math.ceil(round.length / TXN_MAX_OPS) }, (_, i) => this.readEvents(round.slice(i * TXN_MAX_OPS, (i + 1) * TXN_MAX_OPS))));
      for (const event of batches.flat()) {
        if (found.length === resolved.limit) break;
        if (eventMatches(event, resolved)) found.push(event);
      }
    }
    return found;
  }

  async putStatus(key: EventSubject, status: unknown): Promise<void> {
    await this.consul.kvSet(this.statusKey(key), statusJson(key, status));
  }

  async status(key: EventSubject): Promise<unknown | undefined> {
    const { value } = await this.consul.kvGet(this.statusKey(key));
    return value?.Value ? (JSON.parse(value.Value) as unknown) : undefined;
  }

  async deleteStatus(key: EventSubject): Promise<void> {
    await this.consul.kvDelete(this.statusKey(key));
  }

  onEvent(listener: (event: MeshEvent) => void): () => void {
    return this.listeners.add(listener);
  }

  /** Nothing runs in the background; the ConsulClient stays the caller's to close. */
  async close(): Promise<void> {
    this.listeners.clear();
  }

  /** The keys of the stored events, oldest first (fixed-width ids: string order is id order). */
  private async eventKeys(): Promise<string[]> {
    return (await this.consul.kvKeys(this.logPrefix)).filter((key) => EVENT_ID.test(this.idOf(key))).sort();
  }

  /**
   * The events under these keys, in the keys' order, in one transaction. get-tree rather than get:
   * a transaction's get fails on a missing key, and a trim may have removed one since the listing.
   */
  private async readEvents(keys: string[]): Promise<MeshEvent[]> {
    if (keys.length === 0) return [];
    const result = await this.consul.txn(keys.map((key): TxnOperation => ({ Verb: 'get-tree', Key: key })));
    if (!result.ok) throw new Error(`reading events failed: ${result.errors.map((error) => error.What).join('; ')}`);
    const byKey = new Map(result.entries.map((entry: KvEntry) => [entry.Key, entry]));
    return keys.flatMap((key) => {
      const value = byKey.get(key)?.Value;
      return value ? [JSON.parse(value) as MeshEvent] : [];
    });
  }

  /** Moves the counter to the newest stored event, unless another replica moved it first. */
  private async advanceSequence(readAtIndex: number): Promise<void> {
    const newest = (await this.eventKeys()).at(-1);
    if (newest) await this.consul.kvSet(this.sequenceKey, String(Number(this.idOf(newest))), { cas: readAtIndex });
  }

  /**
   * The event is stored by now: a trim that fails (Consul unreachable just after the record) must
   * not make the controller think otherwise and record it again. The next record tries again.
   */
  private async trimKeepingRecord(): Promise<void> {
    try {
      await this.trim();
    } catch (error) {
      this.logger.warn(`cannot remove old events yet: ${(error as Error).message}`);
    }
  }

  /** Removes the oldest events past `maxEvents`, then those past the age limit. */
  private async trim(): Promise<void> {
    const keys = await this.eventKeys();
    const overCount = Math.max(0, keys.length - this.retention.maxEvents);
    const doomed = keys.slice(0, overCount);
    const oldestKeptMs = this.retention.oldestKeptMs();
    aging: for (let start = overCount; start < keys.length; start += TXN_MAX_OPS) {
      for (const event of await this.readEvents(keys.slice(start, start + TXN_MAX_OPS))) {
        if (Date.parse(event.time) >= oldestKeptMs) break aging;
        doomed.push(this.eventKey(event.id));
      }
    }
    for (let start = 0; start < doomed.length; start += TXN_MAX_OPS) {
      const result = await this.consul.txn(doomed.slice(start, start + TXN_MAX_OPS).map((key): TxnOperation => ({ Verb: 'delete', Key: key })));
      if (!result.ok) throw new Error(`Consul refused to remove old events: ${result.errors.map((error) => error.What).join('; ')}`);
    }
    this.retention.trimmed();
  }
}
