/**
 * ACL tokens and their key rules, as Consul enforces them on the KV store and /v1/txn, and their
 * prepared query rules, as Consul enforces them on /v1/query.
 *
 * Rules (docs/security/acl/acl-rules, "Key/Value Rules"): `key_prefix "<prefix>" { policy = ... }`,
 * where "the most specific prefix match determines the action"; `write` allows reading and
 * modifying, `read` only reading, `deny` neither; a key no rule matches falls to the default
 * policy, "deny" here (acl.default_policy). The double models key rules only: a token's other
 * permissions (sessions, services, agent) are all granted.
 *
 * Where the rules apply (hashicorp/consul agent/consul/kvs_endpoint.go, txn_endpoint.go, acl.go):
 * - a single-key read or any write that the token may not do is a 403 whose text starts with
 *   "Permission denied" (acl/errors.go PermissionDeniedError);
 * - a listing (`?recurse`, `?keys`) silently leaves out the keys the token may not read
 *   (FilterDirEnt) and says so in `X-Consul-Results-Filtered-By-ACLs: true`;
 * - in /v1/txn, kvsPreApply checks every operation before any runs: a write the token may not do
 *   (or a check-index/check-session on a key it may not read) fails the whole transaction with a
 *   409 and that operation's "Permission denied" error; `get`/`get-tree` results the token may not
 *   read are dropped from the answer (FilterTxnResults).
 *
 * Prepared query rules (docs/security/acl/acl-rules, "Prepared Query Rules"):
 * `query_prefix "<prefix>" { policy = ... }` on the query's name, the most specific prefix winning
 * as for keys. Where they apply (agent/consul/prepared_query_endpoint.go, structs/aclfilter):
 * - creating, updating or deleting a query with a Name needs `query:write` on that name (for an
 *   update, on the new name and the old one): a 403 "Permission denied: token with AccessorID '<id>'
 *   lacks permission 'query:write' on "<name>"" (PreparedQueryWriteAllowed);
 * - reading a named query needs `query:read`, else a 403 "Permission denied" (acl.ErrPermissionDenied);
 *   a query without a Name is readable by whoever knows its ID;
 * - the list leaves out what the token may not read, and every query without a Name, unless the
 *   token is a management token (aclfilter filterPreparedQueries), and says so in
 *   `X-Consul-Results-Filtered-By-ACLs`; a query's Token is shown to management tokens only
 *   ("<hidden>" otherwise).
 * A token given no `queryPrefixes` may do everything with queries, as the double grants every
 * permission it does not model; `aclToken` is the management token.
 */
import { randomUUID } from 'node:crypto';
import { HttpError, type ConsulRequest } from './http.js';

export type KeyPolicy = 'read' | 'write' | 'deny';

export interface AclTokenPolicy {
  /** `key_prefix` rules: prefix -> policy; "" matches every key. */
  keyPrefixes: Record<string, KeyPolicy>;
  /** `query_prefix` rules: prefix of a prepared query's name -> policy. Absent: every query operation is allowed. */
  queryPrefixes?: Record<string, KeyPolicy>;
}

export interface AclOptions {
  /** Secret ID -> what the token may do. */
  tokens: Record<string, AclTokenPolicy>;
}

export type KeyAccess = 'read' | 'write';

/** What one token may do with keys (and with prepared queries). */
export class KeyAuthorizer {
  /** Consul names a token in its errors by AccessorID, never by its secret. */
  readonly accessorId = randomUUID();

  constructor(
    private readonly keyPrefixes: Record<string, KeyPolicy>,
    private readonly queryPrefixes?: Record<string, KeyPolicy>,
    /** A management token (`acl:write`): sees every prepared query and their tokens. */
    readonly management = false,
  ) {}

  allows(access: KeyAccess, key: string): boolean {
    return grants(longestMatch(this.keyPrefixes, key), access);
  }

  /** PreparedQueryRead / PreparedQueryWrite on a query's name. */
  allowsQuery(access: KeyAccess, name: string): boolean {
    return this.queryPrefixes === undefined || grants(longestMatch(this.queryPrefixes, name), access);
  }

  /** acl/errors.go PermissionDeniedError.Error() for a prepared query. */
  queryDenial(access: KeyAccess, name: string): string {
    return `Permission denied: token with AccessorID '${this.accessorId}' lacks permission 'query:${access}' on "${name}"`;
  }

  /**
   * Consul's KeyWritePrefix (delete-tree, DELETE ?recurse): write on the prefix itself and no rule
   * under it that grants less.
   */
  allowsWriteUnder(prefix: string): boolean {
    return this.allows('write', prefix) && Object.entries(this.keyPrefixes).every(([rule, policy]) => !rule.startsWith(prefix) || policy === 'write');
  }

  /** acl/errors.go PermissionDeniedError.Error() for a key. */
  denial(access: KeyAccess, key: string): string {
    return `Permission denied: token with AccessorID '${this.accessorId}' lacks permission 'key:${access}' on "${key}"`;
  }

  /** FilterDirEnt / FilterTxnResults: the entries the token may read, and whether any were left out. */
  readable<T extends { Key: string }>(entries: T[]): { entries: T[]; filtered: boolean } {
    const kept = entries.filter((entry) => this.allows('read', entry.Key));
    return { entries: kept, filtered: kept.length !== entries.length };
  }
}

/** The policy of the most specific prefix rule matching `name`; undefined (the default policy, deny) when none does. */
function longestMatch(rules: Record<string, KeyPolicy>, name: string): KeyPolicy | undefined {
  let longest: string | undefined;
  for (const prefix of Object.keys(rules)) {
    if (name.startsWith(prefix) && (longest === undefined || prefix.length > longest.length)) longest = prefix;
  }
  return longest === undefined ? undefined : rules[longest];
}

function grants(policy: KeyPolicy | undefined, access: KeyAccess): boolean {
  return access === 'read' ? policy === 'read' || policy === 'write' : policy === 'write';
}

/**
 * The known tokens by secret, or undefined when ACLs are off. `aclToken` is a token that may do
 * everything (like the bootstrap management token).
 */
export function resolveAclTokens(aclToken: string | undefined, acl: AclOptions | undefined): Map<string, KeyAuthorizer> | undefined {
  if (aclToken === undefined && acl === undefined) return undefined;
  const tokens = new Map<string, KeyAuthorizer>();
  if (aclToken !== undefined) tokens.set(aclToken, new KeyAuthorizer({ '': 'write' }, undefined, true));
  for (const [secret, policy] of Object.entries(acl?.tokens ?? {})) tokens.set(secret, new KeyAuthorizer(policy.keyPrefixes, policy.queryPrefixes));
  return tokens;
}

/** 403 "Permission denied ..." unless the request's token may do `access` on `key` (kvs_endpoint.go Get and Apply). */
export function requireKeyAccess(request: ConsulRequest, access: KeyAccess, key: string): void {
  if (request.acl && !request.acl.allows(access, key)) throw new HttpError(403, request.acl.denial(access, key));
}
