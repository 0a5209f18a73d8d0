/**
 * ACL tokens and their key rules, as Consul enforces them on the KV store and /v1/txn.
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
 */
import { randomUUID } from 'node:crypto';
import { HttpError, type ConsulRequest } from './http.js';

export type KeyPolicy = 'read' | 'write' | 'deny';

export interface AclTokenPolicy {
  /** `key_prefix` rules: prefix -> policy; "" matches every key. */
  keyPrefixes: Record<string, KeyPolicy>;
}

export interface AclOptions {
  /** Secret ID -> what the token may do. */
  tokens: Record<string, AclTokenPolicy>;
}

export type KeyAccess = 'read' | 'write';

/** What one token may do with keys. */
export class KeyAuthorizer {
  /** Consul names a token in its errors by AccessorID, never by its secret. */
  readonly accessorId = randomUUID();

  constructor(private readonly keyPrefixes: Record<string, KeyPolicy>) {}

  allows(access: KeyAccess, key: string): boolean {
    const policy = this.policyFor(key);
    return access === 'read' ? policy === 'read' || policy === 'write' : policy === 'write';
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

  private policyFor(key: string): KeyPolicy | undefined {
    let longest: string | undefined;
    for (const prefix of Object.keys(this.keyPrefixes)) {
      if (key.startsWith(prefix) && (longest === undefined || prefix.length > longest.length)) longest = prefix;
    }
    return longest === undefined ? undefined : this.keyPrefixes[longest];
  }
}

/**
 * The known tokens by secret, or undefined when ACLs are off. `aclToken` is a token that may do
 * everything (like the bootstrap management token).
 */
export function resolveAclTokens(aclToken: string | undefined, acl: AclOptions | undefined): Map<string, KeyAuthorizer> | undefined {
  if (aclToken === undefined && acl === undefined) return undefined;
  const tokens = new Map<string, KeyAuthorizer>();
  if (aclToken !== undefined) tokens.set(aclToken, new KeyAuthorizer({ '': 'write' }));
  for (const [secret, policy] of Object.entries(acl?.tokens ?? {})) tokens.set(secret, new KeyAuthorizer(policy.keyPrefixes));
  return tokens;
}

/** 403 "Permission denied ..." unless the request's token may do `access` on `key` (kvs_endpoint.go Get and Apply). */
export function requireKeyAccess(request: ConsulRequest, access: KeyAccess, key: string): void {
  if (request.acl && !request.acl.allows(access, key)) throw new HttpError(403, request.acl.denial(access, key));
}
