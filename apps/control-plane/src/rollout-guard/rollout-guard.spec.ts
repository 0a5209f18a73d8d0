import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import Database from 'better-sqlite3';
import { RateLimitPolicySchema, type MeshEvent, type Resource } from '@portolan/api';
import type { HeartbeatStats } from '@portolan/agent-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PoolTrafficWindow } from '../autoscaling/pool-traffic-window';
import { heartbeatStats, latencyHistogram } from '../autoscaling/testing/heartbeat-stats';
import type { GatewayRollout } from '../distribution/distribution.service';
import { SqliteEventJournal } from '../events/sqlite-event-journal';
import type { RegisteredNode } from '../registry/node-registry';
import type { ObjectKey } from '../store/resource-store';
import { openEmbeddedDatabase, SqliteResourceStore } from '../store/sqlite-resource-store';
import { recordUpdate, trackedSchemaOf } from '../resources/field-management/field-manager';
import { decodeFieldsV1 } from '../resources/field-management/fields-v1';
import { describePath } from '../resources/field-management/field-path';
import { MetricsRegistry } from '../telemetry/metrics';
import { rolloutGuardMarkerKey } from './degraded-marker';
import { RolloutGuard, ROLLOUT_GUARD, ROLLOUT_GUARD_MANAGER, WATCH_OUTCOMES } from './rollout-guard';

const T0 = Date.parse('2026-12-02T10:00:00Z');
const KEY: ObjectKey = { kind: 'RateLimitPolicy', namespace: 'default', name: 'checkout-limit' };
const REF = 'RateLimitPolicy/default/checkout-limit';

/** Time moved by hand: sleepers wake when the clock passes their deadline, or when their signal aborts. */
class FakeTime {
  now = T0;
  private sleepers: Array<{ until: number; wake: () => void }> = [];

  clock = () => this.now;

  sleep = (ms: number, signal: AbortSignal): Promise<void> =>
    new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      const sleeper = {
        until: this.now + ms,
        wake: () => {
          this.sleepers = this.sleepers.filter((other) => other !== sleeper);
          signal.removeEventListener('abort', sleeper.wake);
          resolve();
        },
      };
      this.sleepers.push(sleeper);
      signal.addEventListener('abort', sleeper.wake, { once: true });
    });

  /** Moves the clock by `ms`, waking every sleeper on the way in deadline order and letting it go on. */
  async advance(ms: number): Promise<void> {
    const target = this.now + ms;
    for (;;) {
      await settle();
      const next = this.sleepers.filter((sleeper) => sleeper.until <= target).sort((a, b) => a.until - b.until)[0];
      if (!next) break;
      this.now = Math.max(this.now, next.until);
      for (const sleeper of this.sleepers.filter((sleeper) => sleeper.until <= this.now)) sleeper.wake();
    }
    this.now = target;
    await settle();
  }
}

/** Lets every promise that can go on without the clock run. */
async function settle(): Promise<void> {
  for (let round = 0; round < 3; round++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** rollouts() is what the test says; onRolloutChange listeners hear of it on notify(). */
class FakeDistribution {
  readonly running = new Map<string, GatewayRollout[]>();
  private readonly listeners = new Set<() => void>();

  rollouts(): Map<string, GatewayRollout[]> {
    return this.running;
  }

  onRolloutChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /** `gateway` rejects the snapshot it should run now because of `ref`. */
  nack(ref: string, gateway: string, message: string): void {
    this.running.set(
      ref,
      (this.running.get(ref) ?? []).map((rollout) => (rollout.name === gateway ? { ...rollout, current: false, rejection: { version: '42.abc', errors: [{ resource: ref, field: 'limits[0].burst', message }] } } : rollout)),
    );
    this.notify();
  }
}

const rollout = (name: string, zone: string): GatewayRollout => ({ name, zone, current: true, appliedRevision: 1 });

function gatewayNode(name: string, pool: string, zone: string): RegisteredNode {
  return {
    id: `default/${name}`,
    namespace: 'default',
    name,
    registeredAt: T0 - 3_600_000,
    lastHeartbeat: T0,
    draining: false,
    degradedBecause: [],
    lifecycle: { phase: 'Healthy', remove: false },
    role: 'gateway',
    spec: { pool, zone, address: `10.0.0.${name.length}:8080`, version: '1.0.0' },
  } as RegisteredNode;
}

function stats(requests: number, serverErrors: number, latencyMs = 20): HeartbeatStats {
  return heartbeatStats({ requests, serverErrors, latencyHistogram: latencyHistogram([[latencyMs, requests]]) });
}

const guardedRollout = { window: '30s', maxErrorRatePercent: 5, maxP99Latency: '200ms' };

function rateLimitSpec(requests: number, guarded: Record<string, unknown> | null = guardedRollout): Record<string, unknown> {
  return {
    targetRef: { kind: 'Service', name: 'checkout' },
    ...(guarded ? { guardedRollout: guarded } : {}),
    limits: [{ name: 'per-second', requests, interval: '1s' }],
  };
}

let time: FakeTime;
let db: Database.Database;
let journal: SqliteEventJournal;
let store: SqliteResourceStore;
let distribution: FakeDistribution;
let traffic: PoolTrafficWindow;
let metrics: MetricsRegistry;
let nodes: RegisteredNode[];
let waits: number[];
let leadership: AbortController;
let guard: RolloutGuard;
/** Runs just before the guard's next store.update: another writer getting there first. */
let beforeGuardWrite: (() => Promise<void>) | undefined;
/** Errors the guard's next calls of each store method fail with, in order; `afterWrite` ones come after the write is made (an answer lost on the way). */
let faults: { get: Error[]; update: Error[]; delete: Error[]; history: Error[]; afterWrite: Error[] };
/** The levels and messages the guard logged. */
let logged: Array<[string, string]>;

function fault(method: 'get' | 'update' | 'delete' | 'history'): void {
  const error = faults[method].shift();
  if (error) throw error;
}

/** A user's write, stamped as ResourcesService does: generation 1 on creation, +1 when the spec changes. */
async function userWrite(key: ObjectKey, spec: Record<string, unknown>, labels?: Record<string, string>, managedFields?: Resource['metadata']['managedFields']): Promise<Resource> {
  const current = await store.get(key);
  if (!current) {
    return store.create(
      { apiVersion: 'mesh.portolan.dev/v1alpha1', kind: key.kind, metadata: { name: key.name, namespace: key.namespace, generation: 1, ...(labels ? { labels } : {}) }, spec } as Resource,
      { actor: 'admin' },
    );
  }
  const changed = JSON.stringify(current.spec) !== JSON.stringify(spec);
  const generation = (current.metadata.generation ?? 1) + (changed ? 1 : 0);
  return store.update({ ...current, metadata: { ...current.metadata, generation, ...(labels ? { labels } : {}), ...(managedFields ? { managedFields } : {}) }, spec } as Resource, {
    actor: 'admin',
    expectedResourceVersion: current.metadata.resourceVersion,
  });
}

/** Heartbeats of each gateway every 5 s from `from` (ms after T0) up to `to`, each with `beat()`'s counters. */
function heartbeats(gateways: string[], fromMs: number, toMs: number, beat: () => HeartbeatStats): void {
  for (let at = fromMs; at <= toMs; at += 5_000) {
    for (const name of gateways) {
      const node = nodes.find((candidate) => candidate.name === name)!;
      traffic.add({ name, pool: (node.spec as { pool: string }).pool, zone: (node.spec as { zone: string }).zone }, beat(), T0 + at);
    }
  }
}

const RUNNING = ['edge-a-1', 'edge-b-1'];

async function events(): Promise<MeshEvent[]> {
  return (await journal.list({ source: ROLLOUT_GUARD })).reverse();
}

async function counter(metric: { get(): Promise<{ values: Array<{ value: number; labels: Partial<Record<string, string | number>> }> }> }, labels: Record<string, string>): Promise<number> {
  const { values } = await metric.get();
  return values.find((value) => Object.entries(labels).every(([name, label]) => value.labels[name] === label))?.value ?? 0;
}

beforeEach(async () => {
  time = new FakeTime();
  db = new Database(':memory:');
  journal = new SqliteEventJournal(db, { now: time.clock });
  store = new SqliteResourceStore(openEmbeddedDatabase(':memory:'));
  distribution = new FakeDistribution();
  traffic = new PoolTrafficWindow();
  metrics = new MetricsRegistry();
  nodes = [gatewayNode('edge-a-1', 'edge', 'zone-a'), gatewayNode('edge-b-1', 'edge', 'zone-b'), gatewayNode('internal-a-1', 'internal', 'zone-a')];
  waits = [];
  distribution.running.set(REF, [rollout('edge-a-1', 'zone-a'), rollout('edge-b-1', 'zone-b')]);
  // The policy as it was before the guard started (generation 1, revision 1): not watched.
  await userWrite(KEY, rateLimitSpec(100));
  beforeGuardWrite = undefined;
  faults = { get: [], update: [], delete: [], history: [], afterWrite: [] };
  logged = [];
  guard = new RolloutGuard({
    store: {
      get: async (key) => (fault('get'), store.get(key)),
      revision: () => store.revision(),
      watch: (from, listener) => store.watch(from, listener),
      history: async (key) => (fault('history'), store.history(key)),
      delete: async (key, options) => {
        fault('delete');
        const deleted = await store.delete(key, options);
        const lost = faults.afterWrite.shift();
        if (lost) throw lost;
        return deleted;
      },
      update: async (resource, options) => {
        const hook = beforeGuardWrite;
        beforeGuardWrite = undefined;
        await hook?.();
        fault('update');
        const stored = await store.update(resource, options);
        const lost = faults.afterWrite.shift();
        if (lost) throw lost;
        return stored;
      },
    },
    journal,
    distribution,
    waitForGateways: async (revision) => {
      waits.push(revision);
      return { propagated: true, pending: [] };
    },
    registry: { nodes: () => nodes },
    traffic,
    metrics,
    clock: time.clock,
    sleep: time.sleep,
    log: (level, _fields, message) => void logged.push([level, message]),
  });
  leadership = new AbortController();
  await guard.start(leadership.signal);
  // Healthy traffic before the change through the gateways running the policy, and a broken pool that does not run it.
  heartbeats(RUNNING, -28_000, -3_000, () => stats(100, 1, 20));
  heartbeats(['internal-a-1'], -28_000, -3_000, () => stats(100, 100, 2_000));
});

afterEach(async () => {
  guard.stop();
  await guard.idle();
  await store.close();
  db.close();
});

describe('RolloutGuard', () => {
  it('rolls a change back when the error rate through its gateways goes beyond the bound and the baseline, with the event and the Degraded marker', async () => {
    const v2 = await userWrite(KEY, rateLimitSpec(5));
    await settle();
    expect(guard.watching()).toEqual(new Map([[REF, Number(v2.metadata.resourceVersion)]]));
    heartbeats(RUNNING, 2_000, 27_000, () => stats(100, 40, 20));
    heartbeats(['internal-a-1'], 2_000, 27_000, () => stats(100, 0, 20));
    await time.advance(30_000);
    await guard.idle();

    const stored = (await store.get(KEY))!;
    expect(stored.spec).toEqual(rateLimitSpec(100));
    expect(stored.metadata.generation).toBe(3);
    const history = await store.history(KEY);
    expect(history.at(-1)).toMatchObject({ type: 'MODIFIED', actor: ROLLOUT_GUARD, revision: Number(stored.metadata.resourceVersion) });
    expect(waits).toEqual([Number(v2.metadata.resourceVersion)]);

    const [event] = await events();
    expect(event).toMatchObject({
      type: 'Warning',
      reason: 'RolledBack',
      regarding: KEY,
      source: ROLLOUT_GUARD,
      time: '2026-12-02T10:00:30Z',
      message:
        'RateLimitPolicy default/checkout-limit (revision 2, generation 2) rolled back to the spec of revision 1 (generation 1), now generation 3 at revision 3: 5xx 40% of 1200 requests in the 30s window, above the 5% bound and the 1% before the change',
    });
    expect(event.details).toMatchObject({
      revision: 2,
      generation: 2,
      changedBy: 'admin',
      cause: 'error_rate',
      windowMs: 30_000,
      watchedMs: 30_000,
      gateways: ['edge-a-1', 'edge-b-1'],
      trafficOf: ['edge/zone-a', 'edge/zone-b'],
      baseline: { requests: 1200, serverErrors: 12, errorRatePercent: 1 },
      window: { requests: 1200, serverErrors: 480, errorRatePercent: 40 },
      nacks: [],
      deleted: false,
      rolledBackTo: { revision: 1, generation: 1 },
      rollbackRevision: 3,
      generationAfterRollback: 3,
    });

    expect(await journal.status(rolloutGuardMarkerKey(KEY))).toEqual({ degraded: true, reason: 'RolledBack', message: event.message, at: '2026-12-02T10:00:30Z', generation: 3 });
    expect(await counter(metrics.rolloutGuardRollbacks, { kind: 'RateLimitPolicy', reason: 'error_rate' })).toBe(1);
    expect(await counter(metrics.rolloutGuardWatches, { kind: 'RateLimitPolicy', outcome: 'rolled_back' })).toBe(1);
    expect(await counter(metrics.rolloutGuardWatching, {})).toBe(0);
    expect(guard.watching().size).toBe(0);
  });

  it('records its rollback in managedFields as an Update by portolan-rollout-guard, so no one keeps owning the values it replaced', async () => {
    // The object as the API keeps it: alice's fields, then bob's change of requests (both Updates).
    const withManagedFields = async (manager: string, spec: Record<string, unknown>) => {
      const current = (await store.get(KEY))!;
      const next = { ...current, spec } as Resource;
      const managedFields = recordUpdate({ live: current.metadata.managedFields ? current : undefined, object: next, manager, schema: trackedSchemaOf(RateLimitPolicySchema), apiVersion: 'mesh.portolan.dev/v1alpha1', now: '2026-12-02T09:59:00Z' });
      return { ...next, metadata: { ...next.metadata, managedFields } };
    };
    const alice = await withManagedFields('alice', rateLimitSpec(100));
    await store.update(alice, { actor: 'admin', expectedResourceVersion: alice.metadata.resourceVersion });
    const bob = await withManagedFields('bob', rateLimitSpec(5));
    await userWrite(KEY, bob.spec as Record<string, unknown>, undefined, bob.metadata.managedFields);
    await settle();
    heartbeats(RUNNING, 2_000, 27_000, () => stats(100, 40, 20));
    await time.advance(30_000);
    await guard.idle();

    const stored = (await store.get(KEY))!;
    expect(stored.spec).toEqual(rateLimitSpec(100));
    const owners = Object.fromEntries(stored.metadata.managedFields!.map((entry) => [entry.manager, { operation: entry.operation, fields: decodeFieldsV1(entry.fieldsV1).paths().map(describePath) }]));
    expect(owners[ROLLOUT_GUARD_MANAGER]).toEqual({ operation: 'Update', fields: ['.spec.limits[name="per-second"].requests'] });
    expect(owners.bob).toBeUndefined();
    expect(owners.alice.fields).toContain('.spec.limits[name="per-second"].interval');
    expect(stored.metadata.managedFields!.find((entry) => entry.manager === ROLLOUT_GUARD_MANAGER)!.time).toBe('2026-12-02T10:00:30Z');
  });

  it('rolls back on a p99 regression', async () => {
    await userWrite(KEY, rateLimitSpec(5));
    await settle();
    heartbeats(RUNNING, 2_000, 27_000, () => stats(100, 0, 900));
    await time.advance(30_000);
    await guard.idle();

    expect((await store.get(KEY))!.spec).toEqual(rateLimitSpec(100));
    const [event] = await events();
    expect(event.reason).toBe('RolledBack');
    expect(event.message).toMatch(/p99 \d+ ms in the 30s window, above the 200 ms bound and the \d+(\.\d)? ms before the change$/);
    expect(event.details).toMatchObject({ cause: 'latency' });
    expect(await counter(metrics.rolloutGuardRollbacks, { kind: 'RateLimitPolicy', reason: 'latency' })).toBe(1);
  });

  it('does not roll back when the traffic was already that bad before the change', async () => {
    heartbeats(RUNNING, -27_000, -2_000, () => stats(100, 99, 20)); // the baseline: (12 + 1188) / 2400 = 50%
    const v2 = await userWrite(KEY, rateLimitSpec(5));
    await settle();
    heartbeats(RUNNING, 2_000, 27_000, () => stats(100, 45, 20));
    await time.advance(30_000);
    await guard.idle();

    expect(await store.get(KEY)).toEqual(v2);
    const [event] = await events();
    expect(event).toMatchObject({ type: 'Normal', reason: 'RolloutVerified' });
    expect(event.message).toContain('5xx 45% of 1200 requests in the 30s window is above the 5% bound but not above the 50% before the change: not blamed on it');
    expect(await journal.status(rolloutGuardMarkerKey(KEY))).toBeUndefined();
    expect(await counter(metrics.rolloutGuardWatches, { kind: 'RateLimitPolicy', outcome: 'verified' })).toBe(1);
  });

  it('verifies a change whose traffic stays within the bounds', async () => {
    const v2 = await userWrite(KEY, rateLimitSpec(5));
    await settle();
    heartbeats(RUNNING, 2_000, 27_000, () => stats(100, 2, 20));
    await time.advance(30_000);
    await guard.idle();

    expect(await store.get(KEY)).toEqual(v2);
    expect(await events()).toHaveLength(1);
    const [event] = await events();
    expect(event).toMatchObject({ type: 'Normal', reason: 'RolloutVerified', regarding: KEY, time: '2026-12-02T10:00:30Z' });
    expect(event.message).toMatch(
      /^RateLimitPolicy default\/checkout-limit \(revision 2, generation 2\) verified on 2 gateways over 30s: no gateway rejected it; 5xx 2% of 1200 requests in the 30s window, within the 5% bound; p99 \d+(\.\d)? ms in the 30s window, within the 200 ms bound$/,
    );
    expect(event.details).toMatchObject({ baseline: { requests: 1200, serverErrors: 12 }, window: { requests: 1200, serverErrors: 24 } });
  });

  it('records the change as unverified, not verified, when bounds are set and no request through its gateways reached the heartbeats', async () => {
    const v2 = await userWrite(KEY, rateLimitSpec(5));
    await settle();
    // Traffic through a gateway that does not run the policy does not count.
    heartbeats(['internal-a-1'], 2_000, 27_000, () => stats(100, 0, 20));
    await time.advance(30_000);
    await guard.idle();

    expect(await store.get(KEY)).toEqual(v2);
    expect(await events()).toHaveLength(1);
    const [event] = await events();
    expect(event).toMatchObject({
      type: 'Warning',
      reason: 'RolloutUnverified',
      regarding: KEY,
      time: '2026-12-02T10:00:30Z',
      message:
        "RateLimitPolicy default/checkout-limit (revision 2, generation 2) could not be verified on 2 gateways over 30s: no request through the 2 gateways running it reached this control plane's heartbeats during the 30s window: the 5% error-rate bound and the 200 ms p99 bound could not be judged; no gateway rejected it",
    });
    expect(event.details).toMatchObject({ gateways: ['edge-a-1', 'edge-b-1'], window: { requests: 0 }, baseline: { requests: 1200 } });
    expect(await counter(metrics.rolloutGuardWatches, { kind: 'RateLimitPolicy', outcome: 'unverified' })).toBe(1);
    expect(await counter(metrics.rolloutGuardWatches, { kind: 'RateLimitPolicy', outcome: 'verified' })).toBe(0);
  });

  it('still verifies a change without traffic bounds when no request went through its gateways', async () => {
    await userWrite(KEY, rateLimitSpec(5, { window: '30s' }));
    await settle();
    await time.advance(30_000);
    await guard.idle();

    const [event] = await events();
    expect(event).toMatchObject({ type: 'Normal', reason: 'RolloutVerified' });
    expect(event.message).toContain('no gateway rejected it; no traffic bounds set');
    expect(await counter(metrics.rolloutGuardWatches, { kind: 'RateLimitPolicy', outcome: 'verified' })).toBe(1);
  });

  it('rolls back at once when a gateway NACKs the change', async () => {
    await userWrite(KEY, rateLimitSpec(5));
    await settle();
    await time.advance(3_000);
    distribution.nack(REF, 'edge-b-1', 'must be at least 10');
    await settle();
    await guard.idle();

    expect(time.now).toBe(T0 + 3_000);
    const stored = (await store.get(KEY))!;
    expect(stored.spec).toEqual(rateLimitSpec(100));
    const [event] = await events();
    expect(event).toMatchObject({ type: 'Warning', reason: 'RolledBack', time: '2026-12-02T10:00:03Z' });
    expect(event.message).toContain('rejected (NACKed) by 1 gateway: edge-b-1: limits[0].burst: must be at least 10');
    expect(event.details).toMatchObject({
      cause: 'nack',
      watchedMs: 3_000,
      nacks: [{ gateway: 'edge-b-1', zone: 'zone-b', version: '42.abc', errors: [{ resource: REF, field: 'limits[0].burst', message: 'must be at least 10' }] }],
    });
    expect(await journal.status(rolloutGuardMarkerKey(KEY))).toMatchObject({ degraded: true, generation: 3 });
    expect(await counter(metrics.rolloutGuardRollbacks, { kind: 'RateLimitPolicy', reason: 'nack' })).toBe(1);
  });

  it('only reports a NACK when rollbackOnNack is false', async () => {
    const v2 = await userWrite(KEY, rateLimitSpec(5, { window: '30s', rollbackOnNack: false }));
    await settle();
    distribution.nack(REF, 'edge-b-1', 'must be at least 10');
    await time.advance(30_000);
    await guard.idle();

    expect(await store.get(KEY)).toEqual(v2);
    const [event] = await events();
    expect(event.reason).toBe('RolloutVerified');
    expect(event.message).toContain('rejected (NACKed) by 1 gateway: edge-b-1: limits[0].burst: must be at least 10 (rollbackOnNack is false: not rolled back for it); no traffic bounds set');
  });

  it('rolls a creation back by deleting the policy', async () => {
    const key = { ...KEY, name: 'fresh-limit' };
    const ref = 'RateLimitPolicy/default/fresh-limit';
    distribution.running.set(ref, [rollout('edge-a-1', 'zone-a')]);
    const created = await userWrite(key, rateLimitSpec(5));
    await settle();
    distribution.nack(ref, 'edge-a-1', 'must be at least 10');
    await settle();
    await guard.idle();

    expect(await store.get(key)).toBeUndefined();
    const history = await store.history(key);
    expect(history.map((change) => [change.type, change.actor])).toEqual([
      ['ADDED', 'admin'],
      ['DELETED', ROLLOUT_GUARD],
    ]);
    const [event] = await events();
    expect(event).toMatchObject({ reason: 'RolledBack', regarding: key });
    expect(event.message).toMatch(/^RateLimitPolicy default\/fresh-limit \(revision \d+, generation 1\) deleted it \(the change created it\): rejected \(NACKed\)/);
    expect(event.details).toMatchObject({ revision: Number(created.metadata.resourceVersion), deleted: true, rolledBackTo: null, rollbackRevision: history[1].revision, generationAfterRollback: null });
    expect(await journal.status(rolloutGuardMarkerKey(key))).toBeUndefined();
  });

  it('lets a newer user write cancel the watch in progress; the newer change is watched on its own', async () => {
    await userWrite(KEY, rateLimitSpec(5));
    await settle();
    heartbeats(RUNNING, 2_000, 7_000, () => stats(100, 1, 20));
    await time.advance(10_000);
    const v3 = await userWrite(KEY, rateLimitSpec(7));
    await settle();
    heartbeats(RUNNING, 12_000, 37_000, () => stats(100, 1, 20));
    expect(guard.watching()).toEqual(new Map([[REF, Number(v3.metadata.resourceVersion)]]));
    await time.advance(30_000);
    await guard.idle();

    expect(await store.get(KEY)).toEqual(v3);
    const all = await events();
    expect(all.map((event) => [event.reason, event.details?.revision])).toEqual([['RolloutVerified', Number(v3.metadata.resourceVersion)]]);
    expect(await counter(metrics.rolloutGuardWatches, { kind: 'RateLimitPolicy', outcome: 'cancelled' })).toBe(1);
    expect(await counter(metrics.rolloutGuardWatches, { kind: 'RateLimitPolicy', outcome: 'verified' })).toBe(1);
  });

  it('lets a newer write that drops guardedRollout cancel the watch: the regression is no longer judged', async () => {
    await userWrite(KEY, rateLimitSpec(5));
    await settle();
    heartbeats(RUNNING, 2_000, 27_000, () => stats(100, 60, 20));
    await time.advance(10_000);
    const v3 = await userWrite(KEY, rateLimitSpec(5, null));
    await time.advance(30_000);
    await guard.idle();

    expect(await store.get(KEY)).toEqual(v3);
    expect(await events()).toEqual([]);
    expect(guard.watching().size).toBe(0);
  });

  it('keeps watching through a write that leaves the spec alone (labels), and rolls back over it', async () => {
    await userWrite(KEY, rateLimitSpec(5));
    await settle();
    heartbeats(RUNNING, 2_000, 27_000, () => stats(100, 60, 20));
    await time.advance(10_000);
    await userWrite(KEY, rateLimitSpec(5), { team: 'payments' });
    await time.advance(20_000);
    await guard.idle();

    const stored = (await store.get(KEY))!;
    expect(stored.spec).toEqual(rateLimitSpec(100));
    expect(stored.metadata.labels).toEqual({ team: 'payments' });
    expect((await events()).map((event) => event.reason)).toEqual(['RolledBack']);
  });

  it('never guards its own rollback', async () => {
    await userWrite(KEY, rateLimitSpec(5));
    await settle();
    distribution.nack(REF, 'edge-a-1', 'must be at least 10');
    await settle();
    await guard.idle();
    // The restored spec still has guardedRollout; the rollback is not watched, however bad things look afterwards.
    expect((await store.get(KEY))!.spec).toMatchObject({ guardedRollout });
    expect(guard.watching().size).toBe(0);
    heartbeats(RUNNING, 2_000, 57_000, () => stats(100, 90, 2_000));
    await time.advance(60_000);
    await guard.idle();

    expect((await events()).map((event) => event.reason)).toEqual(['RolledBack']);
    expect((await store.history(KEY)).map((change) => change.actor)).toEqual(['admin', 'admin', ROLLOUT_GUARD]);
    expect(waits).toHaveLength(1);
  });

  it('clears the Degraded marker when the user writes the policy again, and when a later guarded change is verified', async () => {
    await userWrite(KEY, rateLimitSpec(5));
    await settle();
    distribution.nack(REF, 'edge-a-1', 'must be at least 10');
    await settle();
    await guard.idle();
    expect(await journal.status(rolloutGuardMarkerKey(KEY))).toMatchObject({ generation: 3 });

    distribution.running.set(REF, [rollout('edge-a-1', 'zone-a'), rollout('edge-b-1', 'zone-b')]);
    await userWrite(KEY, rateLimitSpec(50));
    await settle();
    expect(await journal.status(rolloutGuardMarkerKey(KEY))).toBeUndefined();
    heartbeats(RUNNING, 2_000, 27_000, () => stats(100, 1, 20));
    await time.advance(30_000);
    await guard.idle();
    expect((await events()).map((event) => event.reason)).toEqual(['RolledBack', 'RolloutVerified']);
    expect(await journal.status(rolloutGuardMarkerKey(KEY))).toBeUndefined();
  });

  it('records that there is nothing to watch when no routable gateway runs the policy', async () => {
    distribution.running.delete(REF);
    await userWrite(KEY, rateLimitSpec(5));
    await settle();
    await guard.idle();

    const [event] = await events();
    expect(event).toMatchObject({ type: 'Normal', reason: 'RolloutVerified', message: 'no routable gateway runs RateLimitPolicy default/checkout-limit (revision 2, generation 2): nothing to watch' });
    expect(await counter(metrics.rolloutGuardWatches, { kind: 'RateLimitPolicy', outcome: 'no_gateways' })).toBe(1);
  });

  it('ignores policies without guardedRollout, other kinds, and writes that leave the spec alone', async () => {
    await userWrite({ kind: 'TimeoutPolicy', namespace: 'default', name: 'checkout-timeout' }, { targetRef: { kind: 'Service', name: 'checkout' }, requestTimeout: '1s' });
    await userWrite({ kind: 'Service', namespace: 'default', name: 'checkout' }, { ports: [{ port: 8080 }], guardedRollout });
    await userWrite({ kind: 'FailoverPolicy', namespace: 'default', name: 'checkout-failover' }, { targetRef: { kind: 'Service', name: 'checkout' }, guardedRollout });
    await userWrite(KEY, rateLimitSpec(100), { team: 'payments' });
    await settle();

    expect(guard.watching().size).toBe(0);
    expect(waits).toEqual([]);
    await time.advance(60_000);
    await guard.idle();
    expect(await events()).toEqual([]);
  });

  it('stops watching without acting when leadership is lost', async () => {
    const v2 = await userWrite(KEY, rateLimitSpec(5));
    await settle();
    heartbeats(RUNNING, 2_000, 27_000, () => stats(100, 60, 20));
    await time.advance(10_000);
    leadership.abort('leadership lost');
    await time.advance(30_000);
    await guard.idle();

    expect(await store.get(KEY)).toEqual(v2);
    expect(await events()).toEqual([]);
    expect(await counter(metrics.rolloutGuardWatches, { kind: 'RateLimitPolicy', outcome: 'cancelled' })).toBe(1);
    // Not following the store any more either.
    await userWrite(KEY, rateLimitSpec(6));
    await settle();
    expect(guard.watching().size).toBe(0);
  });

  it('tries again when a write that left the spec alone (labels) lands between its read and its write', async () => {
    await userWrite(KEY, rateLimitSpec(5));
    await settle();
    beforeGuardWrite = async () => void (await userWrite(KEY, rateLimitSpec(5), { team: 'payments' }));
    distribution.nack(REF, 'edge-a-1', 'must be at least 10');
    await settle();
    await guard.idle();

    const stored = (await store.get(KEY))!;
    expect(stored.spec).toEqual(rateLimitSpec(100));
    expect(stored.metadata).toMatchObject({ labels: { team: 'payments' }, generation: 3 });
    expect((await store.history(KEY)).map((change) => change.actor)).toEqual(['admin', 'admin', 'admin', ROLLOUT_GUARD]);
    expect((await events()).map((event) => event.reason)).toEqual(['RolledBack']);
  });

  it('does not roll back over a newer spec written between its read and its write', async () => {
    await userWrite(KEY, rateLimitSpec(5));
    await settle();
    let v3: Resource | undefined;
    beforeGuardWrite = async () => void (v3 = await userWrite(KEY, rateLimitSpec(9, null)));
    distribution.nack(REF, 'edge-a-1', 'must be at least 10');
    await settle();
    await guard.idle();

    expect(v3).toBeDefined();
    expect(await store.get(KEY)).toEqual(v3);
    expect(await events()).toEqual([]);
    expect(await journal.status(rolloutGuardMarkerKey(KEY))).toBeUndefined();
    expect(await counter(metrics.rolloutGuardWatches, { kind: 'RateLimitPolicy', outcome: 'cancelled' })).toBe(1);
  });

  describe('when the store fails at rollback time', () => {
    const blip = () => new Error('Consul: connection refused');

    it('tries again with pauses, and rolls back once the store answers', async () => {
      await userWrite(KEY, rateLimitSpec(5));
      await settle();
      faults.get.push(blip(), blip());
      distribution.nack(REF, 'edge-a-1', 'must be at least 10');
      await settle();
      // The first try failed; the second comes after 1 s, the third 2 s later.
      expect((await store.get(KEY))!.spec).toEqual(rateLimitSpec(5));
      await time.advance(1_000);
      expect((await store.get(KEY))!.spec).toEqual(rateLimitSpec(5));
      await time.advance(2_000);
      await guard.idle();

      expect((await store.get(KEY))!.spec).toEqual(rateLimitSpec(100));
      expect((await events()).map((event) => [event.reason, event.time])).toEqual([['RolledBack', '2026-12-02T10:00:03Z']]);
      expect(logged.filter(([level]) => level === 'warn').map(([, message]) => message)).toEqual(expect.arrayContaining(['rollback failed; trying again in 1000 ms', 'rollback failed; trying again in 2000 ms']));
      expect(await counter(metrics.rolloutGuardWatches, { kind: 'RateLimitPolicy', outcome: 'rolled_back' })).toBe(1);
    });

    it('records RollbackFailed with the error after 5 tries over 10 s, and leaves the change', async () => {
      const v2 = await userWrite(KEY, rateLimitSpec(5));
      await settle();
      faults.update.push(...Array.from({ length: 5 }, blip));
      distribution.nack(REF, 'edge-a-1', 'must be at least 10');
      await settle();
      await time.advance(9_999);
      expect(await events()).toEqual([]);
      await time.advance(1);
      await guard.idle();

      expect(await store.get(KEY)).toEqual(v2);
      const [event] = await events();
      expect(event).toMatchObject({
        type: 'Warning',
        reason: 'RollbackFailed',
        time: '2026-12-02T10:00:10Z',
        message:
          'RateLimitPolicy default/checkout-limit (revision 2, generation 2) should be rolled back (rejected (NACKed) by 1 gateway: edge-a-1: limits[0].burst: must be at least 10) but the rollback failed after 5 tries: Consul: connection refused; the change stays: roll it back by hand',
      });
      expect(event.details).toMatchObject({ error: 'Consul: connection refused', attempts: 5 });
      expect(await journal.status(rolloutGuardMarkerKey(KEY))).toBeUndefined();
      expect(await counter(metrics.rolloutGuardWatches, { kind: 'RateLimitPolicy', outcome: 'rollback_failed' })).toBe(1);
      expect(await counter(metrics.rolloutGuardRollbacks, { kind: 'RateLimitPolicy', reason: 'nack' })).toBe(0);
    });

    it('says it gave up when leadership is lost between tries', async () => {
      await userWrite(KEY, rateLimitSpec(5));
      await settle();
      faults.get.push(blip());
      distribution.nack(REF, 'edge-a-1', 'must be at least 10');
      await settle();
      leadership.abort('leadership lost');
      await settle();
      await guard.idle();

      expect((await store.get(KEY))!.spec).toEqual(rateLimitSpec(5));
      const [event] = await events();
      expect(event).toMatchObject({ reason: 'RollbackFailed', details: { attempts: 1, gaveUp: 'leadership lost (this control plane stopped leading, or is stopping)' } });
      expect(event.message).toContain('the rollback failed after 1 try: Consul: connection refused; no further try: leadership lost');
      expect(await counter(metrics.rolloutGuardWatches, { kind: 'RateLimitPolicy', outcome: 'rollback_failed' })).toBe(1);
    });

    it('stops trying, without an event, when a newer user write replaces the change meanwhile', async () => {
      await userWrite(KEY, rateLimitSpec(5));
      await settle();
      faults.get.push(blip());
      distribution.nack(REF, 'edge-a-1', 'must be at least 10');
      await settle();
      const v3 = await userWrite(KEY, rateLimitSpec(9, null));
      await settle();
      await time.advance(10_000);
      await guard.idle();

      expect(await store.get(KEY)).toEqual(v3);
      expect(await events()).toEqual([]);
      expect(await counter(metrics.rolloutGuardWatches, { kind: 'RateLimitPolicy', outcome: 'cancelled' })).toBe(1);
    });

    it('takes a rollback the store made although its answer was lost for the rollback it is', async () => {
      await userWrite(KEY, rateLimitSpec(5));
      await settle();
      faults.afterWrite.push(blip());
      distribution.nack(REF, 'edge-a-1', 'must be at least 10');
      await settle();
      await time.advance(1_000);
      await guard.idle();

      const stored = (await store.get(KEY))!;
      expect(stored.spec).toEqual(rateLimitSpec(100));
      expect((await store.history(KEY)).map((change) => change.actor)).toEqual(['admin', 'admin', ROLLOUT_GUARD]);
      const [event] = await events();
      expect(event).toMatchObject({ reason: 'RolledBack', details: { rollbackRevision: Number(stored.metadata.resourceVersion), generationAfterRollback: 3 } });
      expect(await journal.status(rolloutGuardMarkerKey(KEY))).toMatchObject({ generation: 3 });
    });

    it('reports a deletion that worked as a rollback, even when the history cannot be read afterwards', async () => {
      const key = { ...KEY, name: 'fresh-limit' };
      const ref = 'RateLimitPolicy/default/fresh-limit';
      distribution.running.set(ref, [rollout('edge-a-1', 'zone-a')]);
      await userWrite(key, rateLimitSpec(5));
      await settle();
      faults.history.push(blip());
      distribution.nack(ref, 'edge-a-1', 'must be at least 10');
      await settle();
      await guard.idle();

      expect(await store.get(key)).toBeUndefined();
      expect((await events()).map((event) => event.reason)).toEqual(['RolledBack']);
      expect((await events())[0].details).toMatchObject({ deleted: true, rollbackRevision: null });
      expect(await counter(metrics.rolloutGuardWatches, { kind: 'RateLimitPolicy', outcome: 'rolled_back' })).toBe(1);
      expect(await counter(metrics.rolloutGuardWatches, { kind: 'RateLimitPolicy', outcome: 'rollback_failed' })).toBe(0);
    });
  });
});

describe('the outcome label of portolan_rollout_guard_watches_total', () => {
  it('lists the same outcomes in the guard, the metric help and docs/metrics.md', async () => {
    const help = (await new MetricsRegistry().registry.getMetricsAsJSON()).find((metric) => metric.name === 'portolan_rollout_guard_watches_total')!.help;
    const inHelp = /outcome \(([^)]*)\)/.exec(help)![1].split(', ');
    const row = readFileSync(resolve(__dirname, '../../../../docs/metrics.md'), 'utf8')
      .split('\n')
      .find((line) => line.startsWith('| `portolan_rollout_guard_watches_total`'))!;
    const description = row.split(' | ').at(-1)!;
    const inDocs = [...description.replace(/\([^)]*\)/g, '').matchAll(/`([a-z_]+)`/g)].map((match) => match[1]);
    expect([...inHelp].sort()).toEqual([...WATCH_OUTCOMES].sort());
    expect([...inDocs].sort()).toEqual([...WATCH_OUTCOMES].sort());
  });
});
