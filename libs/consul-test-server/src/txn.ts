/**
 * Transactions (api-docs/txn), KV operations only: every op runs in order on a copy of the KV store;
 * if any fails nothing is applied and the answer is 409 with every failed op; otherwise the copy
 * replaces the store and all writes share one new raft index. A read-only transaction writes
 * nothing and takes no index. ACLs as in acl.ts: checked for every op before any runs, and
 * unreadable results dropped.
 */
import type { KeyAuthorizer } from './acl.js';
import { HttpError, jsonBody, type ConsulReply, type ConsulRequest } from './http.js';
import {
  entriesWithPrefix,
  inLockDelay,
  kvCas,
  kvDelete,
  kvDeleteCas,
  kvDeleteTree,
  kvLock,
  KvOperationError,
  kvSet,
  kvUnlock,
  MAX_VALUE_BYTES,
  renderEntry,
} from './kv.js';
import type { ConsulState, KvEntry, KvView } from './state.js';

/** The operation limit of Consul's HTTP endpoint (maxTxnOps = 64; some newer docs say 128). */
export const MAX_TXN_OPS = 64;
/** txn_max_req_len's default (agent configuration docs): the whole request body, 512 KiB. */
export const MAX_TXN_REQUEST_BYTES = 512 * 1024;

const WRITE_VERBS = new Set(['set', 'cas', 'lock', 'unlock', 'delete', 'delete-tree', 'delete-cas']);
/** kvsPreApply: "Filtering for GETs is done on the output side". */
const UNCHECKED_READ_VERBS = new Set(['get', 'get-tree', 'get-or-empty']);
/** kvsPreApply: these "could reveal information based on the outcome", so they need read access up front. */
const CHECK_VERBS = new Set(['check-session', 'check-index']);

interface KvOp {
  Verb: string;
  Key: string;
  Value: Buffer | null;
  Flags: number;
  Index: number;
  Session: string;
}

interface TxnError {
  OpIndex: number;
  What: string;
}

export function transaction(state: ConsulState, request: ConsulRequest): ConsulReply {
  const ops = parseOps(request);
  const writes = ops.filter((op) => WRITE_VERBS.has(op.Verb)).length;

  // Consul's pre-apply step (txn_endpoint.go preCheck): an op the token may not do, or a lock inside
  // its key's lock-delay, fails before anything runs.
  const preErrors: TxnError[] = [];
  ops.forEach((op, opIndex) => {
    const denial = request.acl && aclDenial(request.acl, op);
    if (denial) preErrors.push({ OpIndex: opIndex, What: denial });
    else if (op.Verb === 'lock' && inLockDelay(state, op.Key)) preErrors.push({ OpIndex: opIndex, What: `failed to lock key "${op.Key}" due to lock delay` });
  });
  if (preErrors.length > 0) return conflict(preErrors, writes === 0 ? UNANSWERED_READ_META : undefined);

  const index = state.nextIndex();
  const view: KvView = { kv: new Map(state.kv), tombstones: new Map(state.tombstones) };
  const results: Array<{ KV: Record<string, unknown> }> = [];
  const errors: TxnError[] = [];
  ops.forEach((op, opIndex) => {
    try {
      for (const result of apply(state, view, index, op)) results.push({ KV: result });
    } catch (error) {
      if (!(error instanceof KvOperationError)) throw error;
      errors.push({ OpIndex: opIndex, What: error.message });
    }
  });
  if (errors.length > 0) return conflict(errors, writes === 0 ? readMeta(false) : undefined);

  if (writes > 0) {
    state.kv = view.kv;
    state.tombstones = view.tombstones;
    state.commit(index);
  }
  // FilterTxnResults, on writing and read-only transactions alike; only the read-only answer says so.
  const { acl } = request;
  const readable = acl ? results.filter((result) => acl.allows('read', String(result.KV.Key))) : results;
  const body = { Results: readable, Errors: null };
  return { body: writes > 0 ? body : { ...body, ...readMeta(readable.length !== results.length) } };
}

function conflict(errors: TxnError[], meta: Record<string, unknown> | undefined): ConsulReply {
  return { status: 409, body: { Results: null, Errors: errors, ...meta } };
}

/**
 * A read-only transaction is answered with structs.TxnReadResponse, which embeds QueryMeta: its
 * fields are in the body (not in headers: agent/txn_endpoint.go sets only LastContact and
 * KnownLeader there), as SetQueryMeta leaves them (Index at least 1), ResultsFilteredByACLs
 * included.
 */
function readMeta(resultsFilteredByAcls: boolean): Record<string, unknown> {
  return { Index: 1, LastContact: 0, KnownLeader: true, ConsistencyLevel: '', NotModified: false, Backend: 0, ResultsFilteredByACLs: resultsFilteredByAcls };
}

/** Txn.Read returns a failed pre-check before SetQueryMeta: the embedded QueryMeta keeps its zero values. */
const UNANSWERED_READ_META = { Index: 0, LastContact: 0, KnownLeader: false, ConsistencyLevel: '', NotModified: false, Backend: 0, ResultsFilteredByACLs: false };

/** kvsPreApply's ACL check of one op: undefined when the token may do it. */
function aclDenial(acl: KeyAuthorizer, op: KvOp): string | undefined {
  if (UNCHECKED_READ_VERBS.has(op.Verb)) return undefined;
  if (CHECK_VERBS.has(op.Verb)) return acl.allows('read', op.Key) ? undefined : acl.denial('read', op.Key);
  if (op.Verb === 'delete-tree') return acl.allowsWriteUnder(op.Key) ? undefined : acl.denial('write', op.Key);
  return acl.allows('write', op.Key) ? undefined : acl.denial('write', op.Key);
}

/** Runs one op on the view; returns its result entries (none for deletes and check-not-exists). */
function apply(state: ConsulState, view: KvView, index: number, op: KvOp): Array<Record<string, unknown>> {
  const key = op.Key;
  const withoutValue = (entry: KvEntry) => [renderEntry(entry, { withValue: false })];
  const existing = () => view.kv.get(key);
  switch (op.Verb) {
    case 'set':
      return withoutValue(kvSet(view, index, key, op.Value, op.Flags));
    case 'cas': {
      const entry = kvCas(view, index, key, op.Value, op.Flags, op.Index);
      if (!entry) throw new KvOperationError(`failed to set key "${key}", index is stale`);
      return withoutValue(entry);
    }
    case 'lock': {
      const entry = kvLock(state, view, index, key, op.Value, op.Flags, op.Session);
      if (!entry) throw new KvOperationError(`failed to lock key "${key}", lock is already held`);
      return withoutValue(entry);
    }
    case 'unlock': {
      const entry = kvUnlock(view, index, key, op.Value, op.Flags, op.Session);
      if (!entry) throw new KvOperationError(`failed to unlock key "${key}", lock isn't held, or is held by another session`);
      return withoutValue(entry);
    }
    case 'get': {
      const entry = existing();
      if (!entry) throw new KvOperationError(`key "${key}" doesn't exist`);
      return [renderEntry(entry)];
    }
    case 'get-or-empty': {
      const entry = existing();
      return [entry ? renderEntry(entry) : { LockIndex: 0, Key: key, Flags: 0, Value: null, CreateIndex: 0, ModifyIndex: 0 }];
    }
    case 'get-tree':
      return entriesWithPrefix(view, key).map((entry) => renderEntry(entry));
    case 'check-index': {
      const entry = existing();
      if (!entry) throw new KvOperationError(`key "${key}" doesn't exist`);
      if (entry.ModifyIndex !== op.Index) throw new KvOperationError(`current modify index ${entry.ModifyIndex} != ${op.Index}`);
      return withoutValue(entry);
    }
    case 'check-session': {
      const entry = existing();
      if (!entry) throw new KvOperationError(`key "${key}" doesn't exist`);
      if ((entry.Session ?? '') !== op.Session) throw new KvOperationError(`current session "${entry.Session ?? ''}" != "${op.Session}"`);
      return withoutValue(entry);
    }
    case 'check-not-exists':
      if (existing()) throw new KvOperationError(`key "${key}" exists`);
      return [];
    case 'delete':
      kvDelete(view, index, key);
      return [];
    case 'delete-tree':
      kvDeleteTree(view, index, key);
      return [];
    case 'delete-cas':
      if (!kvDeleteCas(view, index, key, op.Index)) throw new KvOperationError(`failed to delete key "${key}", index is stale`);
      return [];
    default:
      throw new KvOperationError(`unknown KV verb "${op.Verb}"`);
  }
}

/** Decodes the body: 400 when malformed, 413 past txn_max_req_len, 64 ops or a value over 512kB (as Consul's txn endpoint and convertOps). */
function parseOps(request: ConsulRequest): KvOp[] {
  if (request.body.length > MAX_TXN_REQUEST_BYTES) {
    throw new HttpError(413, `Request body(${request.body.length} bytes) too large, max size: ${MAX_TXN_REQUEST_BYTES} bytes. See https://developer.hashicorp.com/consul/docs/agent/config/config-files#txn_max_req_len.`);
  }
  let raw: unknown;
  try {
    raw = jsonBody(request);
  } catch (error) {
    throw new HttpError(400, `Failed to parse body: ${(error as Error).message.replace('Request decode failed: ', '')}`);
  }
  if (!Array.isArray(raw)) throw new HttpError(400, 'Failed to parse body: expected a JSON array of operations');
  if (raw.length > MAX_TXN_OPS) throw new HttpError(413, `Transaction contains too many operations (${raw.length} > ${MAX_TXN_OPS})`);
  return raw.map((item: unknown, opIndex) => {
    const kv = (item as { KV?: Record<string, unknown> } | null)?.KV;
    if (!kv || typeof kv !== 'object') {
      throw new HttpError(400, `Failed to parse body: operation ${opIndex} is not a KV operation (the test double implements KV operations only)`);
    }
    const verb = String(kv.Verb ?? ''); // an unknown verb fails its op (409), as in Consul
    let value: Buffer | null = null;
    if (kv.Value !== undefined && kv.Value !== null) {
      if (typeof kv.Value !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(kv.Value)) throw new HttpError(400, 'Failed to parse body: failed to decode value: illegal base64 data');
      value = Buffer.from(kv.Value, 'base64');
    }
    if (value && value.length > MAX_VALUE_BYTES) throw new HttpError(413, `Value for key "${String(kv.Key)}" is too large (${value.length} > ${MAX_VALUE_BYTES} bytes)`);
    return {
      Verb: verb,
      Key: String(kv.Key ?? ''),
      Value: value,
      Flags: Number(kv.Flags ?? 0),
      Index: Number(kv.Index ?? 0),
      Session: String(kv.Session ?? ''),
    };
  });
}
