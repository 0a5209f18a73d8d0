/**
 * The default registry: registrations (identity, spec, credential hash) are kept in the embedded
 * database so a restarted control plane still knows its gateways; liveness (heartbeats, stats) is
 * kept in memory only. After a restart every known node gets a fresh TTL to heartbeat again, so a
 * control-plane restart does not mark the whole mesh Offline.
 */
import type Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import type { HeartbeatRequest, RegisterRequest } from '@portolan/agent-client';
import type { RegistrySettings } from '../config/boot-config';
import { lifecycleAt, withReason } from './lifecycle';
import { compareNodes, NodeNotFoundError, type NodeRegistry, type RegisteredNode, type RegistryChange, type RemovalCause, type Unsubscribe } from './node-registry';
import { admit, credentialDigest, credentialMatches, newCredential, takeHeartbeatStats } from './registration';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS registry_nodes (
  id TEXT PRIMARY KEY,
  role TEXT NOT NULL,
  namespace TEXT NOT NULL,
  name TEXT NOT NULL,
  spec TEXT NOT NULL,
  credential_hash TEXT NOT NULL,
  registered_at INTEGER NOT NULL,
  draining INTEGER NOT NULL DEFAULT 0,
  UNIQUE (role, namespace, name)
)`;

interface Row {
  id: string;
  role: 'gateway' | 'instance';
  namespace: string;
  name: string;
  spec: string;
  credential_hash: string;
  registered_at: number;
  draining: number;
}

export interface EmbeddedRegistryOptions {
  settings: RegistrySettings;
  clock?: () => number;
  /** How often lifecycles are re-evaluated; default a quarter of the heartbeat interval, at most 1 s. */
  sweepIntervalMs?: number;
}

export class EmbeddedNodeRegistry implements NodeRegistry {
  readonly settings: RegistrySettings;
  private readonly clock: () => number;
  private readonly byId = new Map<string, RegisteredNode>();
  private readonly credentialHashes = new Map<string, Buffer>();
  private readonly listeners = new Set<(change: RegistryChange) => void>();
  private readonly statements;
  private readonly sweeper: NodeJS.Timeout;
  private changes = 0;

  constructor(db: Database.Database, options: EmbeddedRegistryOptions) {
    this.settings = options.settings;
    this.clock = options.clock ?? Date.now;
    db.exec(SCHEMA);
    this.statements = {
      all: db.prepare<[], Row>('SELECT * FROM registry_nodes'),
      byName: db.prepare<[string, string, string], Row>('SELECT * FROM registry_nodes WHERE role = ? AND namespace = ? AND name = ?'),
      insert: db.prepare<[string, string, string, string, string, string, number]>(
        'INSERT INTO registry_nodes (id, role, namespace, name, spec, credential_hash, registered_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      remove: db.prepare<[string]>('DELETE FROM registry_nodes WHERE id = ?'),
      setDraining: db.prepare<[string]>('UPDATE registry_nodes SET draining = 1 WHERE id = ?'),
    };
    const now = this.clock();
    for (const row of this.statements.all.all()) {
      const node = {
        id: row.id,
        role: row.role,
        namespace: row.namespace,
        name: row.name,
        spec: JSON.parse(row.spec),
        registeredAt: row.registered_at,
        lastHeartbeat: now,
        draining: row.draining === 1,
        degradedBecause: [],
      } as unknown as RegisteredNode;
      node.lifecycle = lifecycleAt(node, now, this.settings);
      this.byId.set(row.id, node);
      this.credentialHashes.set(row.id, Buffer.from(row.credential_hash, 'hex'));
    }
    const sweepEvery = options.sweepIntervalMs ?? Math.min(1_000, Math.max(50, this.settings.heartbeatIntervalMs / 4));
    this.sweeper = setInterval(() => this.sweep(), sweepEvery);
    this.sweeper.unref();
  }

  async register(request: RegisterRequest): Promise<{ node: RegisteredNode; credential: string }> {
    const { namespace, name, spec } = admit(request);
    const credential = newCredential();
    const now = this.clock();
    const replaced = this.statements.byName.get(request.role, namespace, name);
    const node = {
      id: randomUUID(),
      role: request.role,
      namespace,
      name,
      spec,
      registeredAt: now,
      lastHeartbeat: now,
      draining: false,
      degradedBecause: [],
    } as unknown as RegisteredNode;
    node.lifecycle = lifecycleAt(node, now, this.settings);
    const hash = credentialDigest(credential);
    if (replaced) {
      this.statements.remove.run(replaced.id);
      const old = this.byId.get(replaced.id);
      this.byId.delete(replaced.id);
      this.credentialHashes.delete(replaced.id);
      if (old) this.emit('DELETED', old);
    }
    this.statements.insert.run(node.id, node.role, namespace, name, JSON.stringify(spec), hash.toString('hex'), now);
    this.byId.set(node.id, node);
    this.credentialHashes.set(node.id, hash);
    this.emit('ADDED', node);
    return { node, credential };
  }

  authenticate(id: string, credential: string): RegisteredNode | undefined {
    return credentialMatches(this.credentialHashes.get(id), credential) ? this.byId.get(id) : undefined;
  }

  async heartbeat(id: string, request: HeartbeatRequest): Promise<RegisteredNode> {
    const node = this.require(id);
    node.lastHeartbeat = this.clock();
    node.streamLostAt = undefined;
    node.degradedBecause = withReason(node.degradedBecause, 'BreakersOpen', takeHeartbeatStats(node, request.stats, node.lastHeartbeat));
    if (request.draining && !node.draining) {
      this.statements.setDraining.run(id);
      node.draining = true;
    }
    this.reevaluate(node);
    return node;
  }

  async drain(id: string): Promise<RegisteredNode> {
    const node = this.require(id);
    if (!node.draining) {
      this.statements.setDraining.run(id);
      node.draining = true;
      this.reevaluate(node, true);
    }
    return node;
  }

  async deregister(id: string): Promise<RegisteredNode> {
    const node = this.require(id);
    this.remove(node);
    return node;
  }

  async revokeCredential(id: string): Promise<RegisteredNode> {
    const node = this.require(id);
    this.remove(node, 'credential-revoked');
    return node;
  }

  setDegraded(id: string, reason: string, degraded: boolean): void {
    const node = this.byId.get(id);
    if (!node) return;
    node.degradedBecause = withReason(node.degradedBecause, reason, degraded);
    this.reevaluate(node);
  }

  setStreamLost(id: string, lost: boolean): void {
    const node = this.byId.get(id);
    if (!node || lost === (node.streamLostAt !== undefined)) return;
    node.streamLostAt = lost ? this.clock() : undefined;
    this.reevaluate(node);
  }

  get(id: string): RegisteredNode | undefined {
    return this.byId.get(id);
  }

  nodes(): RegisteredNode[] {
    return [...this.byId.values()].sort(compareNodes);
  }

  epoch(): number {
    return this.changes;
  }

  onChange(listener: (change: RegistryChange) => void): Unsubscribe {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.listeners.clear();
  }

  /** Re-evaluates every lifecycle against the clock: nodes go Offline and are removed here. */
  sweep(): void {
    for (const node of [...this.byId.values()]) this.reevaluate(node);
  }

  private require(id: string): RegisteredNode {
    const node = this.byId.get(id);
    if (!node) throw new NodeNotFoundError(id);
    return node;
  }

  /** Recomputes the lifecycle; a phase change (or `force`) is a registry change. */
  private reevaluate(node: RegisteredNode, force = false): void {
    const before = node.lifecycle;
    const after = lifecycleAt(node, this.clock(), this.settings);
    if (after.remove) {
      this.remove(node);
      return;
    }
    node.lifecycle = after;
    if (force || before.phase !== after.phase) this.emit('MODIFIED', node);
  }

  private remove(node: RegisteredNode, cause?: RemovalCause): void {
    this.statements.remove.run(node.id);
    this.byId.delete(node.id);
    this.credentialHashes.delete(node.id);
    this.emit('DELETED', node, cause);
  }

  private emit(type: RegistryChange['type'], node: RegisteredNode, cause?: RemovalCause): void {
    this.changes++;
    // A copy: listeners may keep the change while the live node moves on.
    const asOfNow = { ...node, lifecycle: { ...node.lifecycle }, degradedBecause: [...node.degradedBecause] } as RegisteredNode;
    const change: RegistryChange = { type, node: asOfNow, epoch: this.changes, ...(cause ? { cause } : {}) };
    for (const listener of this.listeners) listener(change);
  }
}
