/**
 * Sessions (api-docs/session, docs/automate/session).
 *
 * TTL: api-docs/session says a session "is invalidated if it is not renewed before the TTL expires"
 * and that sessions "may not be reaped for up to double this TTL"; docs/automate/session calls the
 * TTL "a lower bound for invalidation ... Consul will not expire the session before the TTL is
 * reached, but it is allowed to delay the expiration past the TTL". Consul's servers in fact wait
 * twice the TTL. The double takes the strict end of that contract and invalidates as soon as the TTL
 * has passed without a renewal, so an adapter that only renews thanks to the grace fails here first.
 *
 * Invalidation (expiry or destroy) releases every lock the session holds (Behavior "release") or
 * deletes those keys ("delete"), in one write, and starts the keys' lock-delay: "Consul prevents
 * any of the previously held locks from being re-acquired for the lock-delay interval".
 */
import { randomUUID } from 'node:crypto';
import { blockingRead } from './blocking.js';
import { formatDuration, parseDuration } from './duration.js';
import { field, HttpError, jsonBody, stringField, type ConsulReply, type ConsulRequest } from './http.js';
import { kvDelete, kvForceRelease } from './kv.js';
import { SERF_HEALTH, type ConsulState, type SessionBehavior, type SessionRecord } from './state.js';

/** api-docs/session: TTL "between 10s and 86400s". The lower bound is `minSessionTtlMs` (tests lower it). */
export const MAX_SESSION_TTL_MS = 86_400_000;
/** docs/automate/session: lock-delay "is a time duration, between 0 and 60 seconds"; default 15s. */
export const MAX_LOCK_DELAY_MS = 60_000;
export const DEFAULT_LOCK_DELAY_MS = 15_000;

export function renderSession(session: SessionRecord): Record<string, unknown> {
  return {
    ID: session.id,
    Name: session.name,
    Node: session.node,
    LockDelay: session.lockDelayMs * 1_000_000, // nanoseconds, as Consul reports it
    Behavior: session.behavior,
    TTL: session.ttl,
    NodeChecks: session.nodeChecks,
    ServiceChecks: session.serviceChecks,
    CreateIndex: session.createIndex,
    ModifyIndex: session.createIndex,
  };
}

/**
 * The agent's SessionCreate only decodes the body (a LockDelay it cannot read is a 400); Behavior and
 * TTL are checked by the server's Session.Apply RPC (agent/consul/session_endpoint.go), whose errors
 * the HTTP layer answers as 500s with their text; the node is checked last, when the state store
 * applies the session.
 */
export function createSession(state: ConsulState, request: ConsulRequest): ConsulReply {
  const body = jsonBody(request, { required: false }) ?? {};
  if (typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'Request decode failed: expected an object');
  const lockDelayMs = lockDelay(field(body, 'LockDelay'));

  const behavior = (stringField(body, 'Behavior') || 'release') as SessionBehavior;
  if (behavior !== 'release' && behavior !== 'delete') throw new HttpError(500, `Invalid Behavior setting '${behavior}'`);

  const ttl = stringField(body, 'TTL') ?? '';
  const ttlMs = ttl === '' ? 0 : parseDuration(ttl);
  if (ttlMs === undefined) throw new HttpError(500, `Session TTL '${ttl}' invalid: time: invalid duration "${ttl}"`);
  if (ttlMs !== 0 && (ttlMs < state.options.minSessionTtlMs || ttlMs > MAX_SESSION_TTL_MS)) {
    // Go's %d of a time.Duration: the TTL in nanoseconds.
    throw new HttpError(500, `Invalid Session TTL '${Math.round(ttlMs * 1_000_000)}', must be between [${formatDuration(state.options.minSessionTtlMs)}=${formatDuration(MAX_SESSION_TTL_MS)}]`);
  }

  const node = stringField(body, 'Node') || state.options.nodeName;
  if (node !== state.options.nodeName) throw new HttpError(500, `Missing node registration`);

  const nodeChecks = stringArray(field(body, 'NodeChecks')) ?? stringArray(field(body, 'Checks')) ?? [SERF_HEALTH];
  const serviceChecks = (field(body, 'ServiceChecks') as unknown[] | undefined) ?? null;

  const index = state.nextIndex();
  const session: SessionRecord = {
    id: randomUUID(),
    name: stringField(body, 'Name') ?? '',
    node,
    lockDelayMs,
    behavior,
    ttl: ttlMs === 0 ? '' : ttl,
    ttlMs,
    nodeChecks,
    serviceChecks,
    createIndex: index,
  };
  state.sessions.set(session.id, session);
  armTtl(state, session);
  state.sessionsIndex = index;
  state.commit(index);
  return { body: { ID: session.id } };
}

/** api-docs/session: destroying an unknown or expired session still answers 200 `true` (idempotent). */
export function destroySession(state: ConsulState, request: ConsulRequest): ConsulReply {
  invalidateSession(state, request.route[0]);
  return { body: true };
}

/** api-docs/session renew: "extends the expiration by the TTL"; an unknown or expired session is a 404. */
export function renewSession(state: ConsulState, request: ConsulRequest): ConsulReply {
  const session = state.sessions.get(request.route[0]);
  if (!session) throw new HttpError(404, `Session id '${request.route[0]}' not found`);
  armTtl(state, session); // a renewal is not a raft write: no new index
  return { body: [renderSession(session)], index: state.sessionsIndex };
}

export function sessionInfo(state: ConsulState, request: ConsulRequest): Promise<ConsulReply | undefined> {
  return blockingRead(state, request, () => {
    const session = state.sessions.get(request.route[0]);
    return { body: session ? [renderSession(session)] : [], index: state.sessionsIndex };
  });
}

export function sessionList(state: ConsulState, request: ConsulRequest): Promise<ConsulReply | undefined> {
  const node = request.route[0];
  return blockingRead(state, request, () => ({
    body: [...state.sessions.values()].filter((session) => node === undefined || session.node === node).map(renderSession),
    index: state.sessionsIndex,
  }));
}

/**
 * Invalidates a session: its locks released or deleted and put under lock-delay, and the prepared
 * queries bound to it deleted (api-docs/query `Session`: "automatically remove a prepared query when
 * the given session is invalidated"), all in one write.
 */
export function invalidateSession(state: ConsulState, id: string): void {
  const session = state.sessions.get(id);
  if (!session) return;
  clearTimeout(session.timer);
  const index = state.nextIndex();
  state.sessions.delete(id);
  const delayUntil = Date.now() + session.lockDelayMs;
  for (const entry of [...state.kv.values()]) {
    if (entry.Session !== id) continue;
    if (session.behavior === 'delete') kvDelete(state, index, entry.Key);
    else kvForceRelease(state, index, entry.Key);
    if (session.lockDelayMs > 0) state.lockDelays.set(entry.Key, delayUntil);
  }
  for (const query of [...state.preparedQueries.values()]) {
    if (query.Session !== id) continue;
    state.preparedQueries.delete(query.ID);
    state.preparedQueriesIndex = index;
  }
  state.sessionsIndex = index;
  state.commit(index);
}

export function clearSessionTimers(state: ConsulState): void {
  for (const session of state.sessions.values()) clearTimeout(session.timer);
}

function armTtl(state: ConsulState, session: SessionRecord): void {
  clearTimeout(session.timer);
  if (session.ttlMs === 0) return;
  session.timer = setTimeout(() => invalidateSession(state, session.id), session.ttlMs);
  session.timer.unref();
}

/** LockDelay as a duration string, or a number: below 1000 it means seconds, otherwise nanoseconds (as Consul reads it). */
function lockDelay(raw: unknown): number {
  let ms: number | undefined;
  if (raw === undefined || raw === null || raw === '') ms = DEFAULT_LOCK_DELAY_MS;
  else if (typeof raw === 'number') ms = raw < 1_000 ? raw * 1_000 : raw / 1_000_000;
  else if (typeof raw === 'string') ms = parseDuration(raw);
  if (ms === undefined) throw new HttpError(400, `Request decode failed: time: invalid duration "${String(raw)}"`);
  if (ms < 0 || ms > MAX_LOCK_DELAY_MS) throw new HttpError(400, `Invalid Lock Delay '${String(raw)}', must be between [0s=${formatDuration(MAX_LOCK_DELAY_MS)}]`);
  return ms;
}

function stringArray(value: unknown): string[] | undefined {
  return Array.isArray(value) && value.every((item) => typeof item === 'string') ? value : undefined;
}
