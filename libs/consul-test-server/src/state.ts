/**
 * The double's whole state: one raft index, the KV store with tombstones and lock-delays, sessions,
 * the single agent's services and checks (which are also the catalog: the double has no
 * anti-entropy delay), and prepared queries. Every state-changing write takes `index + 1` and calls `commit`, which
 * publishes the new index and wakes blocked readers; a no-op never commits.
 */
import type { KeyAuthorizer } from './acl.js';

export interface ResolvedOptions {
  host: string;
  port: number;
  /** Known ACL tokens by secret; undefined when ACLs are off. */
  aclTokens: Map<string, KeyAuthorizer> | undefined;
  minSessionTtlMs: number;
  reapIntervalMs: number;
  minDeregisterAfterMs: number;
  nodeName: string;
  datacenter: string;
  maxConnsPerClient: number;
}

export interface KvEntry {
  readonly Key: string;
  readonly Value: Buffer | null;
  readonly Flags: number;
  readonly Session?: string;
  readonly LockIndex: number;
  readonly CreateIndex: number;
  readonly ModifyIndex: number;
}

/** The parts of the state a KV operation reads and writes; a transaction works on a copy. */
export interface KvView {
  kv: Map<string, KvEntry>;
  /** Key -> raft index of its deletion, so a deleted key or prefix still reports a moving index. */
  tombstones: Map<string, number>;
}

export type SessionBehavior = 'release' | 'delete';

export interface SessionRecord {
  id: string;
  name: string;
  node: string;
  lockDelayMs: number;
  behavior: SessionBehavior;
  ttl: string;
  ttlMs: number;
  nodeChecks: string[];
  serviceChecks: unknown[] | null;
  createIndex: number;
  timer?: NodeJS.Timeout;
}

export type CheckStatus = 'passing' | 'warning' | 'critical' | 'maintenance';

export interface ServiceRecord {
  id: string;
  name: string;
  tags: string[];
  address: string;
  port: number;
  meta: Record<string, string>;
  enableTagOverride: boolean;
  weights: { Passing: number; Warning: number };
  createIndex: number;
  modifyIndex: number;
  /** The servers' own `consul` service: in the catalog, not among the agent's services. */
  internal?: boolean;
}

export interface CheckRecord {
  checkId: string;
  name: string;
  status: CheckStatus;
  notes: string;
  output: string;
  serviceId: string;
  serviceName: string;
  type: string;
  /** TTL checks only. */
  ttlMs?: number;
  ttlTimer?: NodeJS.Timeout;
  deregisterAfterMs?: number;
  /** Date.now() when the check turned critical (what the reaper measures). */
  criticalSince?: number;
  definition: Record<string, unknown>;
  createIndex: number;
  modifyIndex: number;
}

/**
 * A prepared query as Consul keeps it (agent/structs/prepared_query.go PreparedQuery), in the shape
 * its HTTP API answers with: every field present, Go's zero values (null for a nil slice or map).
 */
export interface PreparedQueryRecord {
  ID: string;
  Name: string;
  Session: string;
  Token: string;
  Template: { Type: string; Regexp: string; RemoveEmptyTags: boolean };
  Service: {
    Service: string;
    SamenessGroup: string;
    Failover: { NearestN: number; Datacenters: string[] | null; Targets: Array<{ Peer: string; Datacenter: string }> | null };
    OnlyPassing: boolean;
    IgnoreCheckIDs: string[] | null;
    Near: string;
    Tags: string[] | null;
    NodeMeta: Record<string, string> | null;
    ServiceMeta: Record<string, string> | null;
    Connect: boolean;
    Peer: string;
  };
  DNS: { TTL: string };
  CreateIndex: number;
  ModifyIndex: number;
}

export const NODE_ID = '7f4b2a8c-3c1d-4e5f-9a6b-0c1d2e3f4a5b';
export const SERF_HEALTH = 'serfHealth';

export class ConsulState implements KvView {
  /** The raft index of the last write. */
  index = 0;
  kv = new Map<string, KvEntry>();
  tombstones = new Map<string, number>();
  /** Key -> Date.now() until which no session may acquire it (set on session invalidation). */
  lockDelays = new Map<string, number>();
  sessions = new Map<string, SessionRecord>();
  sessionsIndex = 0;
  services = new Map<string, ServiceRecord>();
  checks = new Map<string, CheckRecord>();
  /** Service name -> index of the last change to any of its instances or their checks. */
  serviceIndexes = new Map<string, number>();
  /** Index of the last change to the set of services or their tags (catalog/services). */
  servicesIndex = 0;
  /** Index of the last change to any check (health/state). */
  checksIndex = 0;
  /** Prepared queries by ID. */
  preparedQueries = new Map<string, PreparedQueryRecord>();
  /** Index of the last change to the prepared-queries table (0: never written). */
  preparedQueriesIndex = 0;
  /** Index at which the node registered (catalog/nodes) and the floor for anything never written. */
  readonly bootstrapIndex: number;
  private readonly listeners = new Set<() => void>();

  constructor(readonly options: ResolvedOptions) {
    // The server's own registrations, as a fresh single-server datacenter has them.
    this.bootstrapIndex = 1;
    this.index = this.bootstrapIndex;
    this.sessionsIndex = this.servicesIndex = this.checksIndex = this.bootstrapIndex;
    this.services.set('consul', {
      id: 'consul',
      name: 'consul',
      tags: [],
      address: '',
      port: 8300,
      meta: { raft_version: '3', serf_protocol_current: '2', version: '1.22.0' },
      enableTagOverride: false,
      weights: { Passing: 1, Warning: 1 },
      createIndex: this.bootstrapIndex,
      modifyIndex: this.bootstrapIndex,
      internal: true,
    });
    this.serviceIndexes.set('consul', this.bootstrapIndex);
    this.checks.set(SERF_HEALTH, {
      checkId: SERF_HEALTH,
      name: 'Serf Health Status',
      status: 'passing',
      notes: '',
      output: 'Agent alive and reachable',
      serviceId: '',
      serviceName: '',
      type: '',
      definition: {},
      createIndex: this.bootstrapIndex,
      modifyIndex: this.bootstrapIndex,
    });
  }

  /** The index the next write will take. */
  nextIndex(): number {
    return this.index + 1;
  }

  /** Publishes a write done at `index` and wakes every blocked reader to re-evaluate. */
  commit(index: number): void {
    this.index = index;
    for (const listener of [...this.listeners]) listener();
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Marks a service name (and the catalog's service list) as changed at `index`. */
  touchService(name: string, index: number, { list = false, checks = false } = {}): void {
    this.serviceIndexes.set(name, index);
    if (list) this.servicesIndex = index;
    if (checks) this.checksIndex = index;
  }

  serviceIndex(name: string): number {
    return this.serviceIndexes.get(name) ?? this.bootstrapIndex;
  }
}
