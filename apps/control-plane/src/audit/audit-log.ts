/**
 * The audit log: one entry for every write through the API and every token action, saying who did
 * it (actor and role), from where (source address, user agent), what (action, object, dry run,
 * field manager), when, with what outcome (success, or the refusal's code and reason) and under
 * which trace. Admins read it (`GET /v1/audit`); docs/auth.md, "Audit log", says what is recorded
 * and what is not.
 *
 * Two backends, like the other edges: the embedded database (sqlite-audit-log.ts) and Consul KV
 * (consul-audit-log.ts), so that every replica sees every replica's entries. What they share is
 * here: the entry, the query and its paging token, and retention.
 *
 * Retention is bounded both ways (at most `maxEntries`, nothing older than `maxAgeMs`) without a
 * full scan on every record: a log trims after the first record it makes once opened and then
 * every `maxEntries / 10` records (at most every 100). Reads never show an entry past `maxAgeMs`,
 * trimmed yet or not.
 */
import type { Role } from '../auth/roles';

/** What an entry is about: the object written, as the API names it. */
export interface AuditObject {
  kind: string;
  namespace?: string;
  name?: string;
  /** `status` for writes to the status subresource. */
  subresource?: string;
  /** The object's resourceVersion after the write, when the write committed one. */
  resourceVersion?: string;
}

/** Success, or the refusal as the client received it (a Kubernetes Status's code, reason and message). */
export interface AuditOutcome {
  status: 'Success' | 'Failure';
  code: number;
  reason?: string;
  message?: string;
}

export interface AuditEntry {
  /** Increasing in the order entries were stored (on Consul, in the order of the replicas' clocks). */
  id: string;
  /** RFC 3339: when the outcome was decided. */
  time: string;
  /**
   * The principal as history and logs name it (`alice`, `kubernetes:jane`, `gateway/default/gw-1`,
   * `bootstrap`); absent when authentication failed.
   */
  actor?: string;
  /** The role of a bearer token's principal; absent for Kubernetes users (RBAC decides), nodes and the bootstrap token. */
  role?: Role;
  /** The TCP peer's address (a proxy's, behind one: X-Forwarded-For is the client's to write). */
  sourceAddress?: string;
  userAgent?: string;
  /** The verb: create, update, patch, apply, delete, rollback, drain, undrain, drill, token.create, gateway.register, … */
  action: string;
  method: string;
  /** The request's path, without its query. */
  path: string;
  object: AuditObject;
  outcome: AuditOutcome;
  dryRun: boolean;
  /** The field manager a write named (server-side apply's owner of the fields it set). */
  fieldManager?: string;
  /** Token actions: the token's id, name and role, never its value. */
  token?: { id?: string; name?: string; role?: string };
  /** Agent actions: the node's registration id. */
  node?: { id: string };
  /** A failover drill started: its id (GET /v1/zones/drills/{id}). */
  drill?: { id: string };
  /** The trace of the request (the control plane's own span; its log lines carry it too). */
  traceId?: string;
}

/** What the recorder hands to `record`: the log gives it its id and time. */
export type NewAuditEntry = Omit<AuditEntry, 'id' | 'time'>;

export interface AuditQuery {
  actor?: string;
  action?: string;
  kind?: string;
  namespace?: string;
  name?: string;
  /** RFC 3339: only entries at or after this time. */
  since?: string;
  /** Default 100, at most 1000. */
  limit?: number;
  /** The `continue` of the page before: the entries older than its last one. */
  continue?: string;
}

export interface AuditPage {
  /** Newest first. */
  items: AuditEntry[];
  /** Set when older entries match: pass it as the next query's `continue`. */
  continue?: string;
}

export interface AuditLog {
  /** Stores the entry with an id and the time of the log's clock, and returns it as stored. */
  record(entry: NewAuditEntry): Promise<AuditEntry>;
  /** Newest first; AuditQueryError naming the parameter for a limit, `since` or `continue` it cannot take. */
  list(query: AuditQuery): Promise<AuditPage>;
  close(): Promise<void>;
}

export const AUDIT_LOG = Symbol('AuditLog');

export const DEFAULT_AUDIT_LIMIT = 100;
export const MAX_AUDIT_LIMIT = 1000;
export const DEFAULT_MAX_AUDIT_ENTRIES = 100_000;
export const DEFAULT_MAX_AUDIT_AGE_MS = 90 * 24 * 3_600_000;
/** Records between two trims when `maxEntries` is large; smaller limits trim more often (10% of them). */
const MAX_RECORDS_BETWEEN_TRIMS = 100;

export interface AuditLogOptions {
  /** Entries kept at most; default 100,000. */
  maxEntries?: number;
  /** Entries older than this are removed; default 90 days. */
  maxAgeMs?: number;
  /** The clock that stamps entries and ages them (tests move it). */
  now?: () => number;
}

/** A query parameter the log cannot take; the API answers it with a 400 naming `parameter`. */
export class AuditQueryError extends Error {
  readonly code = 'PORTOLAN_AUDIT_QUERY';
  constructor(
    readonly parameter: 'limit' | 'since' | 'continue',
    readonly reason: string,
  ) {
    super(`${parameter}: ${reason}`);
  }
}

/** The entry as stored: its id and time, and no key for an optional field it does not have. */
export function stampAuditEntry(input: NewAuditEntry, id: string, nowMs: number): AuditEntry {
  const entry = { id, time: new Date(nowMs).toISOString(), ...input } as AuditEntry;
  for (const key of Object.keys(entry) as Array<keyof AuditEntry>) if (entry[key] === undefined) delete entry[key];
  return entry;
}

/** A query with its defaults applied and its times as milliseconds. */
export interface ResolvedAuditQuery {
  actor?: string;
  action?: string;
  kind?: string;
  namespace?: string;
  name?: string;
  /** The later of `since` and the retention's age limit. */
  sinceMs: number;
  limit: number;
  /** Only entries whose id is before this one (the last of the previous page). */
  beforeId?: string;
}

/**
 * The continue token: the last id of a page, base64url so that clients treat it as opaque (the ids
 * of the two backends look different, and may change).
 */
export function continueToken(lastId: string): string {
  return Buffer.from(lastId, 'utf8').toString('base64url');
}

export function resolveAuditQuery(query: AuditQuery, oldestKeptMs: number, idPattern: RegExp): ResolvedAuditQuery {
  const limit = query.limit ?? DEFAULT_AUDIT_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_AUDIT_LIMIT) throw new AuditQueryError('limit', `${limit} is not a whole number from 1 to ${MAX_AUDIT_LIMIT}`);
  const sinceMs = query.since === undefined ? -Infinity : Date.parse(query.since);
  if (Number.isNaN(sinceMs)) throw new AuditQueryError('since', `"${query.since}" is not an RFC 3339 time`);
  let beforeId: string | undefined;
  if (query.continue !== undefined) {
    beforeId = Buffer.from(query.continue, 'base64url').toString('utf8');
    if (!idPattern.test(beforeId) || continueToken(beforeId) !== query.continue) {
      throw new AuditQueryError('continue', 'not a continue token of this audit log: pass the `continue` of the page before, unchanged');
    }
  }
  const { actor, action, kind, namespace, name } = query;
  return { actor, action, kind, namespace, name, sinceMs: Math.max(sinceMs, oldestKeptMs), limit, ...(beforeId !== undefined ? { beforeId } : {}) };
}

export function auditEntryMatches(entry: AuditEntry, query: ResolvedAuditQuery): boolean {
  return (
    (query.actor === undefined || entry.actor === query.actor) &&
    (query.action === undefined || entry.action === query.action) &&
    (query.kind === undefined || entry.object.kind === query.kind) &&
    (query.namespace === undefined || entry.object.namespace === query.namespace) &&
    (query.name === undefined || entry.object.name === query.name) &&
    Date.parse(entry.time) >= query.sinceMs
  );
}

/** A page from up to `limit + 1` matching entries, newest first: the extra one only says that there are more. */
export function auditPage(matching: AuditEntry[], limit: number): AuditPage {
  if (matching.length <= limit) return { items: matching };
  const items = matching.slice(0, limit);
  return { items, continue: continueToken(items[items.length - 1].id) };
}

/** The retention bounds, the clock, and when the next trim is due. */
export class AuditRetention {
  readonly maxEntries: number;
  readonly maxAgeMs: number;
  readonly now: () => number;
  private readonly recordsBetweenTrims: number;
  /** Starts due: the first record after opening trims what piled up (or a lowered limit left). */
  private recordsSinceTrim: number;

  constructor(options: AuditLogOptions = {}) {
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_AUDIT_ENTRIES;
    this.maxAgeMs = options.maxAgeMs ?? DEFAULT_MAX_AUDIT_AGE_MS;
    this.now = options.now ?? Date.now;
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 1) throw new RangeError(`maxEntries ${this.maxEntries} is not a positive whole number`);
    if (!(this.maxAgeMs > 0)) throw new RangeError(`maxAgeMs ${this.maxAgeMs} is not positive`);
    this.recordsBetweenTrims = Math.max(1, Math.min(MAX_RECORDS_BETWEEN_TRIMS, Math.floor(this.maxEntries / 10)));
    this.recordsSinceTrim = this.recordsBetweenTrims - 1;
  }

  /** Counts records; true when the log should trim after them. */
  recorded(count = 1): boolean {
    this.recordsSinceTrim += count;
    return this.recordsSinceTrim >= this.recordsBetweenTrims;
  }

  /** A trim went through; one that failed leaves the next record due to try again. */
  trimmed(): void {
    this.recordsSinceTrim = 0;
  }

  /** Entries before this time are past the age limit. */
  oldestKeptMs(): number {
    return this.now() - this.maxAgeMs;
  }
}
