import Database from 'better-sqlite3';
import type { AutoscalePolicy, MeshEvent, Resource } from '@portolan/api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteEventJournal } from '../events/sqlite-event-journal';
import { MetricsRegistry } from '../telemetry/metrics';
import { Autoscaler } from './autoscaler';
import type { MetricQuery, MetricReading, MetricSource } from './metric-sources';
import { ScalerError, type Scaler, type ScaleTarget } from './scalers/scaler';

/** A scaler that holds a count, and fails when told to. */
class FakeScaler implements Scaler {
  readonly type = 'Local' as const;
  replicas = 2;
  failReads?: string;
  failScaling?: string;
  readonly requests: Array<{ target: ScaleTarget; replicas: number }> = [];

  async current(): Promise<number> {
    if (this.failReads) throw new ScalerError(this.failReads);
    return this.replicas;
  }

  async scale(target: ScaleTarget, replicas: number) {
    this.requests.push({ target, replicas });
    if (this.failScaling) throw new ScalerError(this.failScaling);
    const from = this.replicas;
    this.replicas = replicas;
    return { replicas, message: `set ${from} -> ${replicas}` };
  }

  async close(): Promise<void> {}
}

/** A metric source answering what the test sets; null is a missing metric. */
class FakeSource implements MetricSource {
  readonly name = 'Heartbeats' as const;
  value: number | null = 20;
  readonly queries: MetricQuery[] = [];

  async read(query: MetricQuery): Promise<MetricReading> {
    this.queries.push(query);
    return { value: this.value, detail: this.value === null ? 'no gateway sent statistics' : 'fake reading' };
  }
}

function policy(spec: Partial<AutoscalePolicy['spec']> = {}, generation = 1): AutoscalePolicy {
  return {
    apiVersion: 'mesh.portolan.dev/v1alpha1',
    kind: 'AutoscalePolicy',
    metadata: { name: 'edge-zone-a', namespace: 'default', generation },
    spec: {
      target: { pool: 'edge', zone: 'zone-a' },
      scaler: { type: 'Local' },
      metric: { latency: { statistic: 'P99', target: '30ms' }, window: '1m' },
      minReplicas: 2,
      maxReplicas: 10,
      behavior: { scaleDown: { stabilizationWindow: '1m' } },
      ...spec,
    },
  };
}

let db: Database.Database;
let journal: SqliteEventJournal;
let scaler: FakeScaler;
let source: FakeSource;
let metrics: MetricsRegistry;
let now: number;
let stored: Resource[];
let autoscaler: Autoscaler;

beforeEach(() => {
  db = new Database(':memory:');
  journal = new SqliteEventJournal(db);
  scaler = new FakeScaler();
  source = new FakeSource();
  metrics = new MetricsRegistry();
  now = Date.parse('2026-12-02T10:00:00Z');
  stored = [policy()];
  autoscaler = new Autoscaler({
    store: { list: async () => ({ items: stored, revision: 1 }) as never },
    journal,
    sources: { Heartbeats: source },
    scalers: { Local: scaler },
    unavailable: { Prometheus: 'PORTOLAN_PROMETHEUS_URL is not set', Kubernetes: 'no Kubernetes API is configured' },
    metrics,
    clock: () => now,
  });
});

afterEach(async () => {
  await journal.close();
  db.close();
});

const eventsOf = (reason?: string): Promise<MeshEvent[]> => journal.list({ regarding: { kind: 'AutoscalePolicy', name: 'edge-zone-a' }, ...(reason ? { reason } : {}) });

describe('Autoscaler', () => {
  it('holds steady under target: no scaler call, no event, a status that says what it read', async () => {
    await autoscaler.evaluateAll();
    expect(scaler.requests).toEqual([]);
    expect(await eventsOf()).toEqual([]);
    const status = (await journal.status({ kind: 'AutoscalePolicy', namespace: 'default', name: 'edge-zone-a' })) as any;
    expect(status).toMatchObject({
      observedGeneration: 1,
      currentReplicas: 2,
      desiredReplicas: 2,
      metric: { value: 20, target: 30, unit: 'ms', source: 'Heartbeats', detail: 'fake reading' },
    });
    expect(status.conditions.map((c: any) => [c.type, c.status, c.reason])).toEqual([
      ['AbleToScale', 'True', 'ReadyForNewScale'],
      ['ScalingActive', 'True', 'ValidMetricFound'],
      ['ScalingLimited', 'False', 'DesiredWithinRange'],
    ]);
    expect(source.queries[0]).toMatchObject({ pool: 'edge', zone: 'zone-a', windowMs: 60_000, currentReplicas: 2, metric: { type: 'latency', statistic: 'P99', targetMs: 30 } });
  });

  it('scales up on the HPA rule and records the decision as an event, in status and in metrics', async () => {
    source.value = 90;
    await autoscaler.evaluateAll();
    expect(scaler.requests).toEqual([{ target: { policy: 'default/edge-zone-a', pool: 'edge', zone: 'zone-a' }, replicas: 6 }]);
    const [event] = await eventsOf();
    expect(event).toMatchObject({
      type: 'Normal',
      reason: 'ScaledUp',
      source: 'autoscaler',
      regarding: { kind: 'AutoscalePolicy', namespace: 'default', name: 'edge-zone-a' },
      details: {
        metric: { name: 'P99 latency', value: 90, target: 30, unit: 'ms', source: 'Heartbeats', windowMs: 60_000 },
        currentReplicas: 2,
        desiredReplicas: 6,
        scaler: { type: 'Local', result: 'ok', message: 'set 2 -> 6' },
      },
    });
    expect(event.message).toContain('2 -> 6 gateways');
    const status = (await journal.status({ kind: 'AutoscalePolicy', namespace: 'default', name: 'edge-zone-a' })) as any;
    // As an HPA reports it: the count this evaluation found, and the one it asked for.
    expect(status).toMatchObject({ currentReplicas: 2, desiredReplicas: 6, lastScaleTime: '2026-12-02T10:00:00Z' });
    expect(status.recentEvents[0]).toMatchObject({ reason: 'ScaledUp', currentReplicas: 2, desiredReplicas: 6 });
    const text = await metrics.registry.metrics();
    expect(text).toContain('portolan_autoscaler_scalings_total{policy="default/edge-zone-a",direction="up",result="ok"} 1');
    expect(text).toContain('portolan_autoscaler_desired_replicas{policy="default/edge-zone-a"} 6');
    expect(text).toContain('portolan_autoscaler_metric_value{policy="default/edge-zone-a"} 90');
  });

  it('scales down only once the stabilization window has passed since the higher recommendations', async () => {
    scaler.replicas = 6;
    source.value = 30;
    await autoscaler.evaluateAll();
    source.value = 10;
    for (let second = 15; second < 60; second += 15) {
      now += 15_000;
      await autoscaler.evaluateAll();
      expect(scaler.replicas).toBe(6);
    }
    now += 16_000;
    await autoscaler.evaluateAll();
    expect(scaler.replicas).toBe(2);
    const [scaledDown] = await eventsOf('ScaledDown');
    expect(scaledDown.details).toMatchObject({ currentReplicas: 6, desiredReplicas: 2 });
  });

  it('never scales on a missing metric: holds, records it once, and records its return', async () => {
    source.value = null;
    await autoscaler.evaluateAll();
    now += 15_000;
    await autoscaler.evaluateAll();
    expect(scaler.requests).toEqual([]);
    const missing = await eventsOf('MetricMissing');
    expect(missing).toHaveLength(1);
    expect(missing[0]).toMatchObject({ type: 'Warning' });
    expect(missing[0].message).toContain('no gateway sent statistics');
    const status = (await journal.status({ kind: 'AutoscalePolicy', namespace: 'default', name: 'edge-zone-a' })) as any;
    expect(status.metric.value).toBeNull();
    expect(status.conditions.find((c: any) => c.type === 'ScalingActive')).toMatchObject({ status: 'False', reason: 'FailedGetMetric' });
    source.value = 20;
    now += 15_000;
    await autoscaler.evaluateAll();
    expect(await eventsOf('MetricRecovered')).toHaveLength(1);
    expect(await metrics.registry.metrics()).toContain('portolan_autoscaler_metric_missing_total{policy="default/edge-zone-a"} 2');
  });

  it('goes to the fallback count after failureThreshold evaluations without the metric, not before', async () => {
    stored = [policy({ fallback: { replicas: 5, failureThreshold: 3 } })];
    source.value = null;
    await autoscaler.evaluateAll();
    now += 15_000;
    await autoscaler.evaluateAll();
    expect(scaler.requests).toEqual([]);
    now += 15_000;
    await autoscaler.evaluateAll();
    expect(scaler.replicas).toBe(5);
    const [fallback] = await eventsOf('FallbackApplied');
    expect(fallback.details).toMatchObject({ currentReplicas: 2, desiredReplicas: 5 });
  });

  it('records a scaler failure once while it lasts, and says in status that it cannot scale', async () => {
    source.value = 90;
    scaler.failScaling = 'Deployment portolan/edge-zone-a not found';
    await autoscaler.evaluateAll();
    now += 15_000;
    await autoscaler.evaluateAll();
    const failed = await eventsOf('ScaleFailed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ type: 'Warning', details: { scaler: { result: 'failed', message: 'Deployment portolan/edge-zone-a not found' } } });
    const status = (await journal.status({ kind: 'AutoscalePolicy', namespace: 'default', name: 'edge-zone-a' })) as any;
    expect(status.currentReplicas).toBe(2);
    expect(status.conditions.find((c: any) => c.type === 'AbleToScale')).toMatchObject({ status: 'False', reason: 'FailedUpdateScale' });
    expect(await metrics.registry.metrics()).toContain('portolan_autoscaler_scalings_total{policy="default/edge-zone-a",direction="up",result="failed"}');
  });

  it('says once, not every interval, when the scaler cannot reach the count (gateways it did not start)', async () => {
    scaler.replicas = 6;
    source.value = 5;
    scaler.scale = async () => ({ replicas: 6, message: 'the other 4 gateways were not started by the local scaler and are left alone' });
    for (let round = 0; round < 3; round++) {
      now += 61_000;
      await autoscaler.evaluateAll();
    }
    expect(await eventsOf('ScaledDown')).toEqual([]);
    const notPossible = await eventsOf('ScaleNotPossible');
    expect(notPossible).toHaveLength(1);
    expect(notPossible[0].message).toContain('not started by the local scaler');
    const status = (await journal.status({ kind: 'AutoscalePolicy', namespace: 'default', name: 'edge-zone-a' })) as any;
    expect(status.lastScaleTime).toBeUndefined();
    expect(status.conditions.find((c: any) => c.type === 'AbleToScale')).toMatchObject({ status: 'False', reason: 'ScaleNotPossible' });
  });

  it('says which setting is missing when the policy asks for a scaler or source this control plane lacks', async () => {
    stored = [policy({ scaler: { type: 'Kubernetes', kubernetes: { kind: 'Deployment', name: 'edge' } } })];
    await autoscaler.evaluateAll();
    now += 15_000;
    await autoscaler.evaluateAll();
    const unavailable = await eventsOf('ScalerUnavailable');
    expect(unavailable).toHaveLength(1);
    expect(unavailable[0].message).toBe('no Kubernetes API is configured');

    stored = [policy({ metric: { latency: { target: '30ms' }, source: 'Prometheus' } })];
    await autoscaler.evaluateAll();
    const status = (await journal.status({ kind: 'AutoscalePolicy', namespace: 'default', name: 'edge-zone-a' })) as any;
    expect(status.metric).toMatchObject({ value: null, source: 'Prometheus', detail: 'PORTOLAN_PROMETHEUS_URL is not set' });
  });

  it('forgets the status of a deleted policy', async () => {
    await autoscaler.evaluateAll();
    stored = [];
    await autoscaler.evaluateAll();
    expect(await journal.status({ kind: 'AutoscalePolicy', namespace: 'default', name: 'edge-zone-a' })).toBeUndefined();
    expect(await metrics.registry.metrics()).not.toContain('policy="default/edge-zone-a"');
  });

  it('continues from the stored status in a new leadership term, keeping condition transition times and recent events', async () => {
    source.value = 90;
    await autoscaler.evaluateAll();
    autoscaler.reset();
    source.value = 30;
    now += 60_000;
    await autoscaler.evaluateAll();
    const status = (await journal.status({ kind: 'AutoscalePolicy', namespace: 'default', name: 'edge-zone-a' })) as any;
    expect(status.recentEvents[0]).toMatchObject({ reason: 'ScaledUp' });
    expect(status.lastScaleTime).toBe('2026-12-02T10:00:00Z');
    expect(status.conditions.find((c: any) => c.type === 'ScalingActive').lastTransitionTime).toBe('2026-12-02T10:00:00Z');
  });
});
