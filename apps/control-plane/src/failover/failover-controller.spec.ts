import Database from 'better-sqlite3';
import type { FailoverPolicy, Lifecycle, MeshEvent, Resource, Service } from '@portolan/api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PoolTrafficWindow } from '../autoscaling/pool-traffic-window';
import type { EventJournal } from '../events/event-journal';
import { SqliteEventJournal } from '../events/sqlite-event-journal';
import type { RegisteredInstance, RegisteredNode } from '../registry/node-registry';
import { StoreConflictError, type WriteOptions } from '../store/resource-store';
import { MetricsRegistry } from '../telemetry/metrics';
import type { Propagation } from '../distribution/distribution.service';
import { FailoverController } from './failover-controller';

const POLICY = 'default/checkout-failover';
const T0 = Date.parse('2026-12-02T10:00:00Z');
const at = (seconds: number) => new Date(T0 + seconds * 1_000).toISOString().replace(/\.000Z$/, 'Z');

function failoverPolicy(spec: Partial<FailoverPolicy['spec']> = {}): FailoverPolicy {
  return {
    apiVersion: 'mesh.portolan.dev/v1alpha1',
    kind: 'FailoverPolicy',
    metadata: { name: 'checkout-failover', namespace: 'default', generation: 1, resourceVersion: '10' },
    spec: {
      targetRef: { kind: 'Service', name: 'checkout' },
      zones: [
        { name: 'zone-a', priority: 0 },
        { name: 'zone-b', priority: 1 },
      ],
      unhealthyWhen: { healthyEndpointsBelowPercent: 50, for: '3s' },
      failback: { healthyFor: '10s' },
      ...spec,
    },
  };
}

const checkout: Service = {
  apiVersion: 'mesh.portolan.dev/v1alpha1',
  kind: 'Service',
  metadata: { name: 'checkout', namespace: 'default', resourceVersion: '3' },
  spec: { ports: [{ port: 8080 }] },
};

function instance(name: string, zone: string, phase: Lifecycle = 'Healthy'): RegisteredInstance {
  return {
    id: `default/${name}`,
    namespace: 'default',
    name,
    registeredAt: T0 - 60_000,
    lastHeartbeat: T0,
    draining: phase === 'Draining',
    degradedBecause: [],
    lifecycle: { phase, remove: false },
    role: 'instance',
    spec: { service: 'checkout', address: `10.0.0.${name.length}`, port: 8080, zone },
  };
}

/** A store holding FailoverPolicies and Services that checks expectedResourceVersion and bumps the revision on every write, like the real ones. */
class FakeStore {
  revision = 10;
  policies: FailoverPolicy[] = [failoverPolicy()];
  services: Service[] = [checkout];
  readonly writes: Array<{ resource: FailoverPolicy; options: WriteOptions }> = [];
  /** Someone else writes the policy just before our next write, so it conflicts. */
  otherWriterFirst = false;

  async list(filter: { kind?: string }) {
    const items = filter.kind === 'FailoverPolicy' ? this.policies : filter.kind === 'Service' ? this.services : [];
    return { items: structuredClone(items) as Resource[], revision: this.revision };
  }

  async update(resource: Resource, options: WriteOptions): Promise<Resource> {
    this.writes.push({ resource: structuredClone(resource) as FailoverPolicy, options });
    const index = this.policies.findIndex((policy) => policy.metadata.name === resource.metadata.name);
    const key = { kind: resource.kind, namespace: resource.metadata.namespace ?? 'default', name: resource.metadata.name };
    if (this.otherWriterFirst) {
      this.otherWriterFirst = false;
      const current = this.policies[index];
      this.policies[index] = { ...current, metadata: { ...current.metadata, labels: { team: 'payments' }, resourceVersion: String(++this.revision) } };
    }
    const current = this.policies[index];
    if (options.expectedResourceVersion !== undefined && current.metadata.resourceVersion !== options.expectedResourceVersion) {
      throw new StoreConflictError(key, options.expectedResourceVersion, current.metadata.resourceVersion ?? '');
    }
    const stored = { ...structuredClone(resource), metadata: { ...resource.metadata, resourceVersion: String(++this.revision) } } as FailoverPolicy;
    this.policies[index] = stored;
    return structuredClone(stored) as Resource;
  }

  get stored(): FailoverPolicy {
    return this.policies[0];
  }
}

/** waitForGateways calls the test answers by hand. */
interface Wait {
  revision: number;
  timeoutMs: number;
  answer(propagation: Propagation): Promise<void>;
}

let db: Database.Database;
let journal: SqliteEventJournal;
let store: FakeStore;
let nodes: RegisteredNode[];
let traffic: PoolTrafficWindow;
let metrics: MetricsRegistry;
let waits: Wait[];
let logs: Array<{ level: string; fields: Record<string, unknown>; message: string }>;
let now: number;
let controller: FailoverController;

/** Lets every promise that can go on without the clock or a test's answer run (no timers involved). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function newController(options: { metrics?: MetricsRegistry; journal?: EventJournal } = {}): FailoverController {
  return new FailoverController({
    store,
    registry: { nodes: () => nodes },
    traffic,
    journal: options.journal ?? journal,
    waitForGateways: (revision, timeoutMs) =>
      new Promise<Propagation>((resolve) => {
        waits.push({ revision, timeoutMs, answer: async (propagation) => (resolve(propagation), settle()) });
      }),
    metrics: options.metrics ?? metrics,
    clock: () => now,
    log: (level, fields, message) => logs.push({ level, fields, message }),
  });
}

beforeEach(() => {
  db = new Database(':memory:');
  now = T0;
  journal = new SqliteEventJournal(db, { now: () => now });
  store = new FakeStore();
  nodes = [instance('checkout-a1', 'zone-a'), instance('checkout-a2', 'zone-a'), instance('checkout-b1', 'zone-b'), instance('checkout-b2', 'zone-b')];
  traffic = new PoolTrafficWindow();
  metrics = new MetricsRegistry();
  waits = [];
  logs = [];
  controller = newController();
});

afterEach(async () => {
  await journal.close();
  db.close();
});

const events = (reason?: string): Promise<MeshEvent[]> => journal.list({ regarding: { kind: 'FailoverPolicy', name: 'checkout-failover' }, ...(reason ? { reason } : {}) });

const setPhase = (zone: string, phase: Lifecycle) => {
  nodes = nodes.map((node) => (node.role === 'instance' && node.spec.zone === zone ? { ...node, lifecycle: { phase, remove: false } } : node));
};

/** One round at T0 + `seconds`. */
async function roundAt(seconds: number, which = controller): Promise<void> {
  now = T0 + seconds * 1_000;
  await which.evaluateAll();
  await settle();
}

/** Rounds every second from `from` to `to` seconds after T0. */
async function roundsFrom(from: number, to: number): Promise<void> {
  for (let second = from; second <= to; second++) await roundAt(second);
}

async function gauge(zone: string, registry = metrics): Promise<string | undefined> {
  const text = await registry.registry.metrics();
  return text.match(new RegExp(`^portolan_failover_zone_failed_over\\{policy="${POLICY}",zone="${zone}"\\} (\\d+)$`, 'm'))?.[1];
}

/** zone-a's instances go Offline at T0 + 1 s; with for 3s the round at T0 + 4 s fails it over. */
async function failOverZoneA(): Promise<void> {
  await roundAt(0);
  setPhase('zone-a', 'Offline');
  await roundsFrom(1, 4);
}

const FAILED_OVER_A = { zone: 'zone-a', state: 'FailedOver', since: at(4), detectedAt: at(1), reason: '0 of 2 endpoints healthy (0%), below 50%' };

describe('FailoverController', () => {
  it('writes nothing while every zone is healthy', async () => {
    await roundsFrom(0, 30);
    expect(store.writes).toEqual([]);
    expect(store.stored.status).toBeUndefined();
    expect(store.stored.metadata.resourceVersion).toBe('10');
    expect(waits).toEqual([]);
    expect(await events()).toEqual([]);
    expect(await gauge('zone-a')).toBe('0');
    expect(await gauge('zone-b')).toBe('0');
  });

  it('fails a zone over after `for` with one conditional write, then records the event once the gateways run it', async () => {
    await roundAt(0);
    setPhase('zone-a', 'Offline');
    await roundsFrom(1, 3);
    // Unhealthy since T0+1s, but not yet for 3 s.
    expect(store.writes).toEqual([]);
    expect(await gauge('zone-a')).toBe('0');

    await roundAt(4);
    expect(store.writes).toHaveLength(1);
    const [write] = store.writes;
    expect(write.options).toEqual({ expectedResourceVersion: '10', actor: 'failover-controller' });
    expect(write.resource.spec).toEqual(failoverPolicy().spec);
    expect(write.resource.status).toEqual({ zones: [FAILED_OVER_A] });
    expect(store.stored.status).toEqual({ zones: [FAILED_OVER_A] });
    expect(store.stored.metadata.resourceVersion).toBe('11');
    expect(await gauge('zone-a')).toBe('1');
    expect(await gauge('zone-b')).toBe('0');
    expect(await metrics.registry.metrics()).toContain(`portolan_failover_transitions_total{policy="${POLICY}",zone="zone-a",to="FailedOver"} 1`);
    expect(logs).toContainEqual(expect.objectContaining({ level: 'warn', message: 'zone failed over', fields: expect.objectContaining({ zone: 'zone-a' }) }));

    // The event waits for the gateways to run the written revision.
    expect(waits.map(({ revision, timeoutMs }) => ({ revision, timeoutMs }))).toEqual([{ revision: 11, timeoutMs: 15_000 }]);
    expect(await events()).toEqual([]);

    now = T0 + 4_700;
    await waits[0].answer({ propagated: true, pending: [] });
    const recorded = await events();
    expect(recorded).toHaveLength(1);
    const [event] = recorded;
    expect(event).toMatchObject({
      type: 'Warning',
      reason: 'FailedOver',
      source: 'failover-controller',
      regarding: { kind: 'FailoverPolicy', namespace: 'default', name: 'checkout-failover' },
      time: at(4),
      details: {
        zone: 'zone-a',
        from: 'Healthy',
        to: 'FailedOver',
        detectedAt: '2026-12-02T10:00:01.000Z',
        decidedAt: '2026-12-02T10:00:04.000Z',
        trafficMovedAt: '2026-12-02T10:00:04.700Z',
        detectionToMovedMs: 3_700,
        revision: 11,
        pendingGateways: [],
      },
    });
    const details = event.details as Record<string, string>;
    expect(Date.parse(details.detectedAt)).toBeLessThanOrEqual(Date.parse(details.decidedAt));
    expect(Date.parse(details.decidedAt)).toBeLessThanOrEqual(Date.parse(details.trafficMovedAt));
    expect(event.message).toBe(
      'traffic moved away from zone-a: 0 of 2 endpoints healthy (0%), below 50%; traffic moved 700 ms after the decision, 3700 ms after detection',
    );
  });

  it('does not write again while only the numbers in the reason change', async () => {
    await failOverZoneA();
    await waits[0].answer({ propagated: true, pending: [] });
    expect(store.writes).toHaveLength(1);

    // A third instance joins, Offline: "0 of 3".
    nodes = [...nodes, instance('checkout-a3', 'zone-a', 'Offline')];
    await roundsFrom(5, 7);
    // One comes back: "1 of 3 (33.3%)", still below 50%.
    nodes = nodes.map((node) => (node.name === 'checkout-a1' ? instance('checkout-a1', 'zone-a', 'Healthy') : node));
    await roundsFrom(8, 20);
    // zone-b loses one of two: exactly 50% is not below 50%, so still healthy.
    nodes = nodes.map((node) => (node.name === 'checkout-b1' ? instance('checkout-b1', 'zone-b', 'Offline') : node));
    await roundsFrom(21, 30);

    expect(store.writes).toHaveLength(1);
    expect(store.stored.status).toEqual({ zones: [FAILED_OVER_A] });
    expect(waits).toHaveLength(1);
    expect(await events()).toHaveLength(1);
    expect(await gauge('zone-a')).toBe('1');
    expect(await gauge('zone-b')).toBe('0');
  });

  it('writes the decision next round after a conflicting write, and records the event exactly once', async () => {
    await roundAt(0);
    setPhase('zone-a', 'Offline');
    await roundsFrom(1, 3);
    store.otherWriterFirst = true;
    await roundAt(4);
    // Someone labelled the policy meanwhile (resourceVersion 11): our write of version 10 conflicted.
    expect(store.writes).toHaveLength(1);
    expect(store.writes[0].options.expectedResourceVersion).toBe('10');
    expect(store.stored.status).toBeUndefined();
    expect(waits).toEqual([]);
    expect(await events()).toEqual([]);

    await roundAt(5);
    expect(store.writes).toHaveLength(2);
    expect(store.writes[1].options.expectedResourceVersion).toBe('11');
    // The other writer's change is kept, and the decision is the one made at T0+4s.
    expect(store.stored.metadata.labels).toEqual({ team: 'payments' });
    expect(store.stored.status).toEqual({ zones: [FAILED_OVER_A] });
    expect(waits.map((wait) => wait.revision)).toEqual([12]);

    now = T0 + 5_200;
    await waits[0].answer({ propagated: true, pending: [] });
    await roundsFrom(6, 10);
    expect(store.writes).toHaveLength(2);
    expect(waits).toHaveLength(1);
    const recorded = await events();
    expect(recorded).toHaveLength(1);
    expect(recorded[0].details).toMatchObject({
      detectedAt: '2026-12-02T10:00:01.000Z',
      decidedAt: '2026-12-02T10:00:04.000Z',
      trafficMovedAt: '2026-12-02T10:00:05.200Z',
      revision: 12,
    });
    expect(await metrics.registry.metrics()).toContain(`portolan_failover_transitions_total{policy="${POLICY}",zone="zone-a",to="FailedOver"} 1`);
  });

  it('fails back only after failback.healthyFor of continuous health, with a FailedBack event', async () => {
    await failOverZoneA();
    await waits[0].answer({ propagated: true, pending: [] });

    setPhase('zone-a', 'Healthy');
    await roundsFrom(5, 8);
    // A blip restarts the wait.
    setPhase('zone-a', 'Offline');
    await roundAt(9);
    setPhase('zone-a', 'Healthy');
    await roundsFrom(10, 19);
    expect(store.writes).toHaveLength(1);
    expect(await gauge('zone-a')).toBe('1');

    await roundAt(20);
    expect(store.writes).toHaveLength(2);
    expect(store.writes[1].options.expectedResourceVersion).toBe('11');
    const failedBack = { zone: 'zone-a', state: 'Healthy', since: at(20), detectedAt: at(10), reason: 'healthy again: 2 of 2 endpoints healthy' };
    expect(store.stored.status).toEqual({ zones: [failedBack] });
    expect(await gauge('zone-a')).toBe('0');
    expect(waits.map((wait) => wait.revision)).toEqual([11, 12]);

    now = T0 + 20_500;
    await waits[1].answer({ propagated: true, pending: [] });
    const [event] = await events('FailedBack');
    expect(event).toMatchObject({
      type: 'Normal',
      reason: 'FailedBack',
      details: {
        zone: 'zone-a',
        from: 'FailedOver',
        to: 'Healthy',
        detectedAt: '2026-12-02T10:00:10.000Z',
        decidedAt: '2026-12-02T10:00:20.000Z',
        trafficMovedAt: '2026-12-02T10:00:20.500Z',
        revision: 12,
      },
    });
    expect(event.message).toContain('traffic returned to zone-a: healthy again: 2 of 2 endpoints healthy');
    expect(await events()).toHaveLength(2);

    // Healthy from now on: nothing more to write.
    await roundsFrom(21, 40);
    expect(store.writes).toHaveLength(2);
  });

  it('starts a new term from the stored status: zone-a stays failed over, nothing is written or recorded again', async () => {
    await failOverZoneA();
    await waits[0].answer({ propagated: true, pending: [] });
    expect(await events()).toHaveLength(1);

    // Another replica takes over (its own process and metrics); zone-a is still down.
    const nextMetrics = new MetricsRegistry();
    const next = newController({ metrics: nextMetrics });
    for (let second = 30; second <= 40; second++) await roundAt(second, next);
    expect(store.writes).toHaveLength(1);
    expect(waits).toHaveLength(1);
    expect(await events()).toHaveLength(1);
    expect(await gauge('zone-a', nextMetrics)).toBe('1');

    // Its failback waits a full healthyFor from its own first healthy reading.
    setPhase('zone-a', 'Healthy');
    for (let second = 41; second <= 50; second++) await roundAt(second, next);
    expect(store.writes).toHaveLength(1);
    await roundAt(51, next);
    expect(store.writes).toHaveLength(2);
    expect(store.stored.status?.zones).toEqual([{ zone: 'zone-a', state: 'Healthy', since: at(51), detectedAt: at(41), reason: 'healthy again: 2 of 2 endpoints healthy' }]);
  });

  it('a reset (leadership lost, then won again) also starts from the stored status', async () => {
    await failOverZoneA();
    await waits[0].answer({ propagated: true, pending: [] });
    controller.reset();
    await roundsFrom(5, 10);
    expect(store.writes).toHaveLength(1);
    expect(await events()).toHaveLength(1);
    expect(await gauge('zone-a')).toBe('1');
  });

  it('removes a deleted policy\'s metric labels', async () => {
    await failOverZoneA();
    expect(await gauge('zone-a')).toBe('1');
    store.policies = [];
    await roundAt(5);
    const text = await metrics.registry.metrics();
    expect(text).not.toContain(`portolan_failover_zone_failed_over{policy="${POLICY}"`);
  });

  it('clears the metric of a zone that failed back and left the status', async () => {
    // zone-c is not listed in the policy: it is judged only while something is in it.
    nodes = [...nodes, instance('checkout-c1', 'zone-c'), instance('checkout-c2', 'zone-c')];
    await roundAt(0);
    setPhase('zone-c', 'Offline');
    await roundsFrom(1, 4);
    expect(store.stored.status?.zones?.map((zone) => [zone.zone, zone.state])).toEqual([['zone-c', 'FailedOver']]);
    expect(await gauge('zone-c')).toBe('1');

    // Its instances are removed from the registry: nothing left to judge, so it fails back after healthyFor and is dropped.
    nodes = nodes.filter((node) => node.role !== 'instance' || node.spec.zone !== 'zone-c');
    await roundsFrom(5, 15);
    expect(store.stored.status).toEqual({ zones: [] });
    expect(await gauge('zone-c')).toBeUndefined();
    store.policies = [];
    await roundAt(16);
    expect(await metrics.registry.metrics()).not.toContain('portolan_failover_zone_failed_over{');
  });

  it('records the event without a traffic time, naming the pending gateways, when the gateways do not run it in time', async () => {
    await failOverZoneA();
    expect(waits[0].timeoutMs).toBe(15_000);
    now = T0 + 19_000;
    await waits[0].answer({ propagated: false, pending: ['portolan/edge-a1', 'portolan/edge-b2'] });
    const [event] = await events();
    expect(event.details).toMatchObject({
      detectedAt: '2026-12-02T10:00:01.000Z',
      decidedAt: '2026-12-02T10:00:04.000Z',
      trafficMovedAt: null,
      detectionToMovedMs: null,
      revision: 11,
      pendingGateways: ['portolan/edge-a1', 'portolan/edge-b2'],
    });
    expect(event.message).toContain('gateways not running it after 15 s: portolan/edge-a1, portolan/edge-b2');
  });

  it('records the event without a traffic time when waiting for the gateways fails', async () => {
    controller = new FailoverController({
      store,
      registry: { nodes: () => nodes },
      traffic,
      journal,
      waitForGateways: async () => {
        throw new Error('distribution closed');
      },
      metrics,
      clock: () => now,
    });
    await failOverZoneA();
    const [event] = await events();
    expect(event.details).toMatchObject({ trafficMovedAt: null, pendingGateways: ['(distribution closed)'] });
  });

  it('logs an event the journal cannot record instead of leaving its promise rejected', async () => {
    const failing: EventJournal = Object.assign(Object.create(journal) as EventJournal, { record: () => Promise.reject(new Error('Consul KV unavailable')) });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      controller = newController({ journal: failing });
      await failOverZoneA();
      await waits[0].answer({ propagated: true, pending: [] });
      await settle();
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
    expect(logs).toContainEqual(expect.objectContaining({ level: 'error', fields: expect.objectContaining({ policy: POLICY, zone: 'zone-a' }) }));
    // The decision itself stands.
    expect(store.stored.status).toEqual({ zones: [FAILED_OVER_A] });
  });

  it('does nothing once stopped', async () => {
    setPhase('zone-a', 'Offline');
    controller.stop();
    await roundsFrom(0, 10);
    expect(store.writes).toEqual([]);
    expect(await metrics.registry.metrics()).not.toContain('portolan_failover_zone_failed_over{');
  });
});

describe('after each round (Consul prepared queries)', () => {
  it('hands on this round\'s decisions, even when the store write conflicted, and nothing once leadership is lost', async () => {
    const rounds: Array<Array<{ name: string; failedOver: string[] }>> = [];
    controller = new FailoverController({
      store,
      registry: { nodes: () => nodes },
      traffic,
      journal,
      waitForGateways: async () => ({ propagated: true, pending: [] }),
      metrics,
      clock: () => now,
      afterRound: async (policies) => {
        rounds.push(policies.map((policy) => ({ name: policy.metadata.name, failedOver: (policy.status?.zones ?? []).filter((zone) => zone.state === 'FailedOver').map((zone) => zone.zone) })));
      },
    });
    await roundAt(0);
    expect(rounds.at(-1)).toEqual([{ name: 'checkout-failover', failedOver: [] }]);
    setPhase('zone-a', 'Offline');
    store.otherWriterFirst = true;
    await roundsFrom(1, 4);
    expect(rounds.at(-1)).toEqual([{ name: 'checkout-failover', failedOver: ['zone-a'] }]);
    const before = rounds.length;
    const lost = new AbortController();
    lost.abort('leadership lost');
    await controller.evaluateAll(lost.signal);
    expect(rounds).toHaveLength(before);
  });
});
