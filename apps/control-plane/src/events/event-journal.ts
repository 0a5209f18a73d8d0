/**
 * The event journal: where the leader-only controllers (the autoscaler now; failover and automatic
 * rollback later) record every action they take, so operators can see what the mesh did and why
 * (`GET /v1/events`), and where they keep the status they own of an object (an AutoscalePolicy's
 * status), shared by every replica.
 *
 * Two backends, like the other edges: the embedded database (sqlite-event-journal.ts) and Consul
 * KV (consul-event-journal.ts). What they share is here: the query's meaning, retention, how an
 * event is stamped, and the onEvent listeners.
 *
 * Retention is bounded both ways (at most `maxEvents`, nothing older than `maxAgeMs`) without a
 * full scan on every record: the journal trims after the first record it makes once opened and
 * then every `maxEvents / 10` records (at most every 100), so it never holds more than 10% over
 * `maxEvents`. Reads never show an event past `maxAgeMs`, trimmed yet or not.
 */
import { Logger } from '@nestjs/common';
import type { MeshEvent } from '@portolan/api';

export type EventSubject = MeshEvent['regarding'];

/** What a controller hands to `record`: the journal gives it its id, and its time unless the controller did. */
export type NewMeshEvent = Omit<MeshEvent, 'id' | 'time'> & { time?: string };

export interface EventQuery {
  regarding?: { kind?: string; namespace?: string; name?: string };
  reason?: string;
  source?: string;
  /** RFC 3339: only events at or after this time. */
  since?: string;
  /** Default 100, max 1000. */
  limit?: number;
}

export interface EventJournal {
  /** Stores the event (id and time are filled in when absent: id increasing) and returns it as stored. */
  record(event: NewMeshEvent): Promise<MeshEvent>;
  /** Newest first. */
  list(query: EventQuery): Promise<MeshEvent[]>;
  /** Controller-owned status of an object (e.g. an AutoscalePolicy's status), shared by every replica; JSON. */
  putStatus(key: EventSubject, status: unknown): Promise<void>;
  status(key: EventSubject): Promise<unknown | undefined>;
  deleteStatus(key: EventSubject): Promise<void>;
  /** Listener for events recorded through this process (a dashboard feed later). */
  onEvent(listener: (event: MeshEvent) => void): () => void;
  close(): Promise<void>;
}

export const EVENT_JOURNAL = Symbol('EventJournal');

export const DEFAULT_EVENT_LIMIT = 100;
export const MAX_EVENT_LIMIT = 1000;
export const DEFAULT_MAX_EVENTS = 10_000;
export const DEFAULT_MAX_EVENT_AGE_MS = 7 * 24 * 3_600_000;
/** Records between two trims when `maxEvents` is large; smaller limits trim more often (10% of them). */
const MAX_RECORDS_BETWEEN_TRIMS = 100;

export interface EventJournalOptions {
  /** Events kept at most; default 10,000. */
  maxEvents?: number;
  /** Events older than this are removed; default 7 days. */
  maxAgeMs?: number;
  /** The clock that stamps events and ages them (tests move it). */
  now?: () => number;
}

/** The width of an id: string order is number order, as in the store's change log. */
const ID_DIGITS = 16;

export function formatEventId(sequence: number): string {
  return String(sequence).padStart(ID_DIGITS, '0');
}

/** The event as stored: its id, a time (given or now), and no `details` key when it has none. */
export function stampEvent(input: NewMeshEvent, id: string, nowMs: number): MeshEvent {
  const time = input.time ?? new Date(nowMs).toISOString();
  if (Number.isNaN(Date.parse(time))) throw new RangeError(`event time "${time}" is not an RFC 3339 time`);
  const { type, reason, regarding, source, message, details } = input;
  return {
    id,
    time,
    type,
    reason,
    regarding: { kind: regarding.kind, namespace: regarding.namespace, name: regarding.name },
    source,
    message,
    ...(details !== undefined ? { details } : {}),
  };
}

/** A query with its defaults applied and its times as milliseconds; RangeError for a limit or `since` out of bounds. */
export interface ResolvedEventQuery {
  kind?: string;
  namespace?: string;
  name?: string;
  reason?: string;
  source?: string;
  /** The later of `since` and the retention's age limit. */
  sinceMs: number;
  limit: number;
}

export function resolveEventQuery(query: EventQuery, oldestKeptMs: number): ResolvedEventQuery {
  const limit = query.limit ?? DEFAULT_EVENT_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_EVENT_LIMIT) throw new RangeError(`limit ${limit} is not a whole number from 1 to ${MAX_EVENT_LIMIT}`);
  const sinceMs = query.since === undefined ? -Infinity : Date.parse(query.since);
  if (Number.isNaN(sinceMs)) throw new RangeError(`since "${query.since}" is not an RFC 3339 time`);
  const { kind, namespace, name } = query.regarding ?? {};
  return { kind, namespace, name, reason: query.reason, source: query.source, sinceMs: Math.max(sinceMs, oldestKeptMs), limit };
}

export function eventMatches(event: MeshEvent, query: ResolvedEventQuery): boolean {
  return (
    (query.kind === undefined || event.regarding.kind === query.kind) &&
    (query.namespace === undefined || event.regarding.namespace === query.namespace) &&
    (query.name === undefined || event.regarding.name === query.name) &&
    (query.reason === undefined || event.reason === query.reason) &&
    (query.source === undefined || event.source === query.source) &&
    Date.parse(event.time) >= query.sinceMs
  );
}

/** The retention bounds, the clock, and when the next trim is due. */
export class EventRetention {
  readonly maxEvents: number;
  readonly maxAgeMs: number;
  readonly now: () => number;
  private readonly recordsBetweenTrims: number;
  /** Starts due: the first record after opening trims what piled up (or a lowered limit left). */
  private recordsSinceTrim: number;

  constructor(options: EventJournalOptions = {}) {
    this.maxEvents = options.maxEvents ?? DEFAULT_MAX_EVENTS;
    this.maxAgeMs = options.maxAgeMs ?? DEFAULT_MAX_EVENT_AGE_MS;
    this.now = options.now ?? Date.now;
    if (!Number.isInteger(this.maxEvents) || this.maxEvents < 1) throw new RangeError(`maxEvents ${this.maxEvents} is not a positive whole number`);
    if (!(this.maxAgeMs > 0)) throw new RangeError(`maxAgeMs ${this.maxAgeMs} is not positive`);
    this.recordsBetweenTrims = Math.max(1, Math.min(MAX_RECORDS_BETWEEN_TRIMS, Math.floor(this.maxEvents / 10)));
    this.recordsSinceTrim = this.recordsBetweenTrims - 1;
  }

  /** Counts a record; true when the journal should trim after it. */
  recorded(): boolean {
    this.recordsSinceTrim++;
    return this.recordsSinceTrim >= this.recordsBetweenTrims;
  }

  /** A trim went through; one that failed leaves the next record due to try again. */
  trimmed(): void {
    this.recordsSinceTrim = 0;
  }

  /** Events before this time are past the age limit. */
  oldestKeptMs(): number {
    return this.now() - this.maxAgeMs;
  }
}

/** The onEvent listeners: one that throws is logged, and neither fails the record nor stops the others. */
export class EventListeners {
  private readonly logger = new Logger('event-journal');
  private readonly listeners = new Set<(event: MeshEvent) => void>();

  add(listener: (event: MeshEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: MeshEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.logger.warn(`an event listener failed on event ${event.id} (${event.reason}): ${(error as Error).message}`);
      }
    }
  }

  clear(): void {
    this.listeners.clear();
  }
}

/** A status is kept as JSON: refuses what JSON cannot carry (undefined, a function) rather than store nothing. */
export function statusJson(key: EventSubject, status: unknown): string {
  const json = JSON.stringify(status);
  if (json === undefined) throw new TypeError(`the status of ${key.kind} ${key.namespace}/${key.name} is not JSON`);
  return json;
}
