/**
 * The KV store (api-docs/kv) and its lock operations (docs/automate/session, "K/V Integration").
 * The operations work on a KvView so /v1/txn can run them on a copy and keep all or nothing.
 */
import { requireKeyAccess } from './acl.js';
import { blockingRead } from './blocking.js';
import { flag, HttpError, type ConsulReply, type ConsulRequest } from './http.js';
import type { ConsulState, KvEntry, KvView } from './state.js';

/** api-docs/kv: "Values in the KV store cannot be larger than 512kb." */
export const MAX_VALUE_BYTES = 512 * 1024;

/** An operation that Consul refuses with an error (not a plain `false`), e.g. acquiring with an unknown session. */
export class KvOperationError extends Error {}

export function renderEntry(entry: KvEntry, { withValue = true } = {}): Record<string, unknown> {
  return {
    LockIndex: entry.LockIndex,
    Key: entry.Key,
    Flags: entry.Flags,
    Value: withValue && entry.Value !== null ? entry.Value.toString('base64') : null,
    ...(entry.Session ? { Session: entry.Session } : {}),
    CreateIndex: entry.CreateIndex,
    ModifyIndex: entry.ModifyIndex,
  };
}

export function entriesWithPrefix(view: KvView, prefix: string): KvEntry[] {
  return [...view.kv.values()].filter((entry) => entry.Key.startsWith(prefix)).sort((a, b) => (a.Key < b.Key ? -1 : a.Key > b.Key ? 1 : 0));
}

/** X-Consul-Index of one key: its ModifyIndex, or the index of its deletion, or the floor when it never existed. */
export function keyIndex(state: ConsulState, key: string): number {
  return state.kv.get(key)?.ModifyIndex ?? state.tombstones.get(key) ?? state.bootstrapIndex;
}

/** X-Consul-Index of a prefix: the latest ModifyIndex or deletion under it, so deletions wake blocked readers too. */
export function prefixIndex(state: ConsulState, prefix: string): number {
  let index = state.bootstrapIndex;
  for (const entry of state.kv.values()) if (entry.Key.startsWith(prefix)) index = Math.max(index, entry.ModifyIndex);
  for (const [key, deletedAt] of state.tombstones) if (key.startsWith(prefix)) index = Math.max(index, deletedAt);
  return index;
}

// --- operations --------------------------------------------------------------------------------

/** Writes an entry at `index` with the given lock fields, keeping its CreateIndex; the key is no longer a tombstone. */
function writeEntry(view: KvView, index: number, key: string, value: Buffer | null, flags: number, lock: { Session?: string; LockIndex: number }): KvEntry {
  const entry: KvEntry = {
    Key: key,
    Value: value,
    Flags: flags,
    ...(lock.Session ? { Session: lock.Session } : {}),
    LockIndex: lock.LockIndex,
    CreateIndex: view.kv.get(key)?.CreateIndex ?? index,
    ModifyIndex: index,
  };
  view.kv.set(key, entry);
  view.tombstones.delete(key);
  return entry;
}

/** A plain set keeps the lock holder and LockIndex (an update "will proceed normally even if another session has locked the key"). */
export function kvSet(view: KvView, index: number, key: string, value: Buffer | null, flags: number): KvEntry {
  const existing = view.kv.get(key);
  return writeEntry(view, index, key, value, flags, { Session: existing?.Session, LockIndex: existing?.LockIndex ?? 0 });
}

/** api-docs/kv `cas`: 0 sets only if the key does not exist; otherwise only if ModifyIndex matches. */
export function kvCas(view: KvView, index: number, key: string, value: Buffer | null, flags: number, cas: number): KvEntry | undefined {
  const existing = view.kv.get(key);
  if (cas === 0 ? existing !== undefined : existing?.ModifyIndex !== cas) return undefined;
  return kvSet(view, index, key, value, flags);
}

/**
 * api-docs/kv `acquire`: succeeds if no session holds the lock (LockIndex + 1) or the given session
 * already does (contents updated, LockIndex unchanged). The session must be valid. Lock-delay is
 * checked by the caller, before the operation (Consul's pre-apply step).
 */
export function kvLock(
  state: ConsulState,
  view: KvView,
  index: number,
  key: string,
  value: Buffer | null,
  flags: number,
  session: string,
): KvEntry | undefined {
  if (!session) throw new KvOperationError('missing session');
  if (!state.sessions.has(session)) throw new KvOperationError(`invalid session "${session}"`);
  const existing = view.kv.get(key);
  if (existing?.Session && existing.Session !== session) return undefined;
  const lockIndex = existing?.Session === session ? existing.LockIndex : (existing?.LockIndex ?? 0) + 1;
  return writeEntry(view, index, key, value, flags, { Session: session, LockIndex: lockIndex });
}

/** api-docs/kv `release`: the key must be held by this session; LockIndex is kept, Session cleared, contents updated. */
export function kvUnlock(view: KvView, index: number, key: string, value: Buffer | null, flags: number, session: string): KvEntry | undefined {
  if (!session) throw new KvOperationError('missing session');
  const existing = view.kv.get(key);
  if (!existing || existing.Session !== session) return undefined;
  return writeEntry(view, index, key, value, flags, { LockIndex: existing.LockIndex });
}

/** Releases a lock because its session was invalidated: contents kept, Session cleared, ModifyIndex moves. */
export function kvForceRelease(view: KvView, index: number, key: string): void {
  const existing = view.kv.get(key);
  if (!existing) return;
  const { Session: _released, ...rest } = existing;
  view.kv.set(key, { ...rest, ModifyIndex: index });
}

export function kvDelete(view: KvView, index: number, key: string): boolean {
  if (view.kv.delete(key)) view.tombstones.set(key, index);
  return true;
}

export function kvDeleteTree(view: KvView, index: number, prefix: string): boolean {
  for (const entry of entriesWithPrefix(view, prefix)) kvDelete(view, index, entry.Key);
  return true;
}

/** api-docs/kv DELETE `cas`: deletes only if ModifyIndex matches ("a 0 index will not delete the key"). A missing key counts as deleted. */
export function kvDeleteCas(view: KvView, index: number, key: string, cas: number): boolean {
  const existing = view.kv.get(key);
  if (!existing) return true;
  if (existing.ModifyIndex !== cas) return false;
  return kvDelete(view, index, key);
}

export function inLockDelay(state: ConsulState, key: string): boolean {
  const until = state.lockDelays.get(key);
  return until !== undefined && until > Date.now();
}

// --- HTTP --------------------------------------------------------------------------------------

export function kvGet(state: ConsulState, request: ConsulRequest): Promise<ConsulReply | undefined> {
  const key = request.route[0];
  const keys = flag(request, 'keys');
  const recurse = flag(request, 'recurse') || keys;
  const raw = flag(request, 'raw');
  const separator = request.query.separator ?? '';
  if (!recurse) requireKeyAccess(request, 'read', key);

  return blockingRead(state, request, () => {
    if (!recurse) {
      const entry = state.kv.get(key);
      const index = keyIndex(state, key);
      if (!entry) return { status: 404, body: undefined, index };
      if (raw) return { body: entry.Value ?? Buffer.alloc(0), index, contentType: 'text/plain' };
      return { body: [renderEntry(entry)], index };
    }
    const index = prefixIndex(state, key);
    // kvs_endpoint.go List/ListKeys: keys the token may not read are left out, and the answer says so.
    const all = entriesWithPrefix(state, key);
    const { entries, filtered } = request.acl?.readable(all) ?? { entries: all, filtered: false };
    const headers = filtered ? { 'X-Consul-Results-Filtered-By-ACLs': 'true' } : undefined;
    if (entries.length === 0) return { status: 404, body: undefined, index, headers };
    if (!keys) return { body: entries.map((entry) => renderEntry(entry)), index, headers };
    const listed: string[] = [];
    for (const entry of entries) {
      const rest = entry.Key.slice(key.length);
      const cut = separator ? rest.indexOf(separator) : -1;
      const shown = cut === -1 ? entry.Key : key + rest.slice(0, cut + separator.length);
      if (listed[listed.length - 1] !== shown) listed.push(shown);
    }
    return { body: listed, index, headers };
  });
}

export function kvPut(state: ConsulState, request: ConsulRequest): ConsulReply {
  const key = request.route[0];
  if (!key) throw new HttpError(400, 'Missing key name');
  if (request.body.length > MAX_VALUE_BYTES) {
    throw new HttpError(413, `Request body(${request.body.length} bytes) too large, max size: ${MAX_VALUE_BYTES} bytes`);
  }
  const value = request.body.length > 0 ? Buffer.from(request.body) : null;
  const flags = unsignedParameter(request, 'flags', 'Invalid flags') ?? 0;
  const cas = unsignedParameter(request, 'cas', 'Invalid cas index');
  requireKeyAccess(request, 'write', key);
  const index = state.nextIndex();

  let written: KvEntry | undefined;
  try {
    if (request.query.acquire !== undefined) {
      // docs/automate/session: no session may re-acquire an invalidated session's lock during its lock-delay.
      written = inLockDelay(state, key) ? undefined : kvLock(state, state, index, key, value, flags, request.query.acquire);
    } else if (request.query.release !== undefined) {
      written = kvUnlock(state, index, key, value, flags, request.query.release);
    } else if (cas !== undefined) {
      written = kvCas(state, index, key, value, flags, cas);
    } else {
      written = kvSet(state, index, key, value, flags);
    }
  } catch (error) {
    // KVS.Apply: the state store's refusal comes back through raftApply as a 500.
    if (error instanceof KvOperationError) throw new HttpError(500, `raft apply failed: ${error.message}`);
    throw error;
  }
  if (written) state.commit(index);
  return { body: written !== undefined };
}

export function kvDeleteRoute(state: ConsulState, request: ConsulRequest): ConsulReply {
  const key = request.route[0];
  const cas = unsignedParameter(request, 'cas', 'Invalid cas index');
  const recurse = flag(request, 'recurse');
  // kvsPreApply: a recursive delete needs write on every key under the prefix (KeyWritePrefix).
  if (recurse && request.acl && !request.acl.allowsWriteUnder(key)) throw new HttpError(403, request.acl.denial('write', key));
  if (!recurse) requireKeyAccess(request, 'write', key);
  const index = state.nextIndex();
  const before = state.kv.size;
  let ok: boolean;
  if (recurse) ok = kvDeleteTree(state, index, key);
  else if (cas !== undefined) ok = kvDeleteCas(state, index, key, cas);
  else ok = kvDelete(state, index, key);
  if (state.kv.size !== before) state.commit(index);
  return { body: ok };
}

function unsignedParameter(request: ConsulRequest, name: string, message: string): number | undefined {
  const raw = request.query[name];
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw)) throw new HttpError(400, message);
  return Number(raw);
}
