import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GROUP_VERSION, type MeshEvent, type Resource } from '@portolan/api';
import type { NewMeshEvent } from '../events/event-journal';
import type { NodeRegistry, RegisteredGateway, RegistryChange } from '../registry/node-registry';
import { StoreRevisionCompactedError, type Change, type Unsubscribe } from '../store/resource-store';
import { openEmbeddedDatabase, SqliteResourceStore } from '../store/sqlite-resource-store';
import { MetricsRegistry } from '../telemetry/metrics';
import { LocalAckLedger } from './ack-ledger';
import { DistributionService } from './distribution.service';
import type { GatewaySnapshot } from './snapshot-builder';

/** A store whose watches can be cut off and then expired, as the Consul store's are when its replica fell behind a compaction. */
class FallingBehindStore extends SqliteResourceStore {
  private readonly watches: Array<{ stop: Unsubscribe; onExpired?: (error: StoreRevisionCompactedError) => void; from: number }> = [];

  override async watch(fromRevision: number, listener: (change: Change) => void, onExpired?: (error: StoreRevisionCompactedError) => void): Promise<Unsubscribe> {
    const stop = await super.watch(fromRevision, listener);
    this.watches.push({ stop, onExpired, from: fromRevision });
    return stop;
  }

  /** Changes stop reaching the watches (the replica is cut off from Consul). */
  cutOff(): void {
    for (const { stop } of this.watches) stop();
  }

  /** The changes they missed were compacted: the watches end, told why. */
  expire(): void {
    for (const { onExpired, from } of this.watches.splice(0)) onExpired?.(new StoreRevisionCompactedError(from, from + 1));
  }
}

const gateway: RegisteredGateway = {
  id: 'gw-1',
  role: 'gateway',
  namespace: 'default',
  name: 'edge-a',
  spec: { zone: 'a', pool: 'edge', address: '127.0.0.1:1', version: 't' },
  registeredAt: 0,
  lastHeartbeat: 0,
  draining: false,
  degradedBecause: [],
  lifecycle: { phase: 'Healthy', remove: false },
};

/** A registry of one healthy gateway that never changes. */
const registry = {
  settings: { heartbeatIntervalMs: 2_000, ttlMs: 6_000, removeAfterMs: 300_000 },
  nodes: () => [gateway],
  get: (id: string) => (id === gateway.id ? gateway : undefined),
  onChange: () => () => undefined,
  setDegraded: () => undefined,
} as unknown as NodeRegistry;

/** The events the service records (NACKs), in order. */
let recorded: NewMeshEvent[] = [];
const journal = {
  record: async (event: NewMeshEvent): Promise<MeshEvent> => {
    recorded.push(event);
    return { ...event, id: String(recorded.length), time: event.time ?? new Date().toISOString() };
  },
};

const resource = (kind: string, name: string, spec: unknown): Resource => ({ apiVersion: GROUP_VERSION, kind, metadata: { name, namespace: 'default' }, spec });
const routesOf = (snapshot: GatewaySnapshot | undefined) => snapshot?.shape.routes.map((route) => route.route.name) ?? [];

describe('DistributionService', () => {
  let dir: string;
  let store: FallingBehindStore;
  let service: DistributionService;
  /** A service over a fresh embedded store, following it, with no events recorded yet. */
  const startService = async () => {
    dir = mkdtempSync(join(tmpdir(), 'portolan-distribution-'));
    store = new FallingBehindStore(openEmbeddedDatabase(join(dir, 'portolan.db')));
    recorded = [];
    service = new DistributionService(store, registry, new MetricsRegistry(), new LocalAckLedger(), journal);
    await service.onModuleInit();
  };
  afterEach(async () => {
    service.onApplicationShutdown();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('paces rebuilds for registry churn to about a fifth of the time, so a registration storm leaves the CPU to heartbeats', async () => {
    // Each rebuild lists the registry, here in 20 ms, while a node changes every 5 ms: unpaced,
    // the service would rebuild back to back (about all of the time).
    const listeners = new Set<(change: RegistryChange) => void>();
    let listingMs = 0;
    const churningRegistry = {
      ...registry,
      nodes: () => {
        const started = performance.now();
        while (performance.now() - started < 20);
        listingMs += performance.now() - started;
        return [gateway];
      },
      onChange: (listener: (change: RegistryChange) => void) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    } as unknown as NodeRegistry;
    dir = mkdtempSync(join(tmpdir(), 'portolan-distribution-'));
    store = new FallingBehindStore(openEmbeddedDatabase(join(dir, 'portolan.db')));
    service = new DistributionService(store, churningRegistry, new MetricsRegistry(), new LocalAckLedger(), journal);
    await service.onModuleInit();

    listingMs = 0;
    const started = performance.now();
    const churn = setInterval(() => {
      for (const listener of listeners) listener({ type: 'MODIFIED', node: gateway, epoch: 0 });
    }, 5);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    clearInterval(churn);
    await service.settled();
    const share = listingMs / (performance.now() - started);
    expect(share).toBeGreaterThan(0.05);
    expect(share).toBeLessThan(0.35);
  });

  it('records a NACK as a Warning event once per rejected snapshot, naming the gateway and what it rejected', async () => {
    await startService();
    const errors = [{ resource: 'RateLimitPolicy/default/limits', field: 'spec.limits[0]', message: 'unsupported key type' }];
    service.acknowledge(gateway.id, { version: 'v1', revision: 4, status: 'NACK', errors });
    service.acknowledge(gateway.id, { version: 'v1', revision: 4, status: 'NACK', errors });
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ type: 'Warning', reason: 'ConfigRejected', regarding: { kind: 'GatewayNode', namespace: 'default', name: 'edge-a' }, details: { version: 'v1', revision: 4, errors } });
    expect(recorded[0].message).toContain('RateLimitPolicy/default/limits spec.limits[0]: unsupported key type');
    service.acknowledge(gateway.id, { version: 'v0', revision: 5, status: 'ACK' });
    service.acknowledge(gateway.id, { version: 'v2', revision: 6, status: 'NACK', errors });
    // Fixed (ACKed), then the same bad content again: a new rejection, a new event.
    service.acknowledge(gateway.id, { version: 'v3', revision: 7, status: 'ACK' });
    service.acknowledge(gateway.id, { version: 'v2', revision: 8, status: 'NACK', errors });
    expect(recorded.map((event) => event.details?.revision)).toEqual([4, 6, 8]);
  });

  it('follows the store again after its watch expired, and sends gateways what was missed, then what follows', async () => {
    await startService();
    const delivered: GatewaySnapshot[] = [];
    service.attach(gateway.id, { transport: 'websocket', deliver: (snapshot) => delivered.push(snapshot), close: () => undefined }, false);
    const actor = 'spec';
    await store.create(resource('Service', 'orders', { ports: [{ port: 80 }], endpoints: [{ address: '10.0.0.1', zone: 'a' }] }), { actor });

    store.cutOff();
    await store.create(resource('Route', 'orders', { backendRef: { name: 'orders' } }), { actor });
    store.expire();
    await expect.poll(() => routesOf(delivered.at(-1))).toEqual(['orders']);

    await store.create(resource('Route', 'users', { match: { pathPrefix: '/users' }, backendRef: { name: 'orders' } }), { actor });
    await expect.poll(() => routesOf(delivered.at(-1)).sort()).toEqual(['orders', 'users']);
  });

  it('waits for a revision written elsewhere to reach the gateways: answered once the listening gateway ACKed it, pending when it never did', async () => {
    await startService();
    const delivered: GatewaySnapshot[] = [];
    service.attach(gateway.id, { transport: 'websocket', deliver: (snapshot) => delivered.push(snapshot), close: () => undefined }, false);
    const written = await store.create(resource('Service', 'orders', { ports: [{ port: 80 }], endpoints: [{ address: '10.0.0.1', zone: 'a' }] }), { actor: 'spec' });
    await store.create(resource('Route', 'orders', { backendRef: { name: 'orders' } }), { actor: 'spec' });
    const revision = Number(written.metadata.resourceVersion) + 1;

    const unanswered = await service.waitForRevision(revision, 300);
    expect(unanswered).toEqual({ propagated: false, pending: [gateway.name] });

    const answered = service.waitForRevision(revision, 10_000);
    await expect.poll(() => delivered.at(-1)?.revision).toBe(revision);
    const snapshot = delivered.at(-1)!;
    service.acknowledge(gateway.id, { version: snapshot.version, revision: snapshot.revision, status: 'ACK' });
    expect(await answered).toEqual({ propagated: true, pending: [] });

    // A revision this replica never builds: every routable gateway is pending when the time is up.
    expect(await service.waitForRevision(revision + 100, 200)).toEqual({ propagated: false, pending: [gateway.name] });
  });
});
