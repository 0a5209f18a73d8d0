import { describe, expect, it } from 'vitest';
import type { AutoscalePolicySpec, MeshEvent, TrafficPoint } from '@portolan/api';
import { COLORS } from '../charts/palette';
import { toSeconds } from '../charts/series';
import { conditionHealth, decisionFromEvent, decisionMarkers, eventsAbout, formatTarget, metricLines, policyMetric, replicaChange, type PolicyMetric } from './policy-metric';

function spec(metric: AutoscalePolicySpec['metric'], target: AutoscalePolicySpec['target'] = { pool: 'edge', zone: 'zone-a' }): AutoscalePolicySpec {
  return { target, scaler: { type: 'Local' }, metric, maxReplicas: 4 };
}

const T = '2026-05-01T12:00:00Z';
function point(fields: Partial<TrafficPoint>): TrafficPoint {
  return {
    time: T,
    pool: 'edge',
    zone: 'zone-a',
    gateways: 2,
    requestsPerSecond: 30,
    serverErrorPercent: 0,
    p50Ms: 5,
    p95Ms: 50,
    p99Ms: 120,
    rateLimited: 0,
    retries: 0,
    breakerOpen: 0,
    timeouts: 0,
    ...fields,
  };
}

describe('policyMetric', () => {
  it.each([
    {
      name: 'latency, defaults',
      metric: { latency: { target: '100ms' } },
      expected: { kind: 'latency', statistic: 'P99', name: 'P99 latency', unit: 'ms', target: 100, window: '2m', source: 'Heartbeats' },
    },
    {
      name: 'latency P95 from Prometheus',
      metric: { latency: { statistic: 'P95' as const, target: '1.5s' }, window: '30s', source: 'Prometheus' as const },
      expected: { kind: 'latency', statistic: 'P95', name: 'P95 latency', unit: 'ms', target: 1500, window: '30s', source: 'Prometheus' },
    },
    {
      name: 'load',
      metric: { requestsPerSecond: { targetPerGateway: 50 } },
      expected: { kind: 'load', name: 'requests/s per gateway', unit: 'requests/s per gateway', target: 50, window: '2m', source: 'Heartbeats' },
    },
    { name: 'a malformed target', metric: { latency: { target: 'soon' } }, expected: undefined },
    { name: 'no metric', metric: {}, expected: undefined },
  ])('$name', ({ metric, expected }) => {
    expect(policyMetric(spec(metric))).toEqual(expected);
  });

  it.each([
    [{ pool: 'edge', zone: 'zone-a' }, 'edge in zone-a'],
    [{ pool: 'edge' }, 'edge, all zones'],
  ])('formatTarget(%o) is %s', (target, expected) => {
    expect(formatTarget(target)).toBe(expected);
  });
});

describe('metricLines', () => {
  const traffic = new Map<string, TrafficPoint[]>([
    ['edge/zone-a', [point({ zone: 'zone-a', p99Ms: 120, p95Ms: 50, requestsPerSecond: 30, gateways: 2 })]],
    ['edge/zone-b', [point({ zone: 'zone-b', p99Ms: 300, p95Ms: 90, requestsPerSecond: 10, gateways: 2 })]],
    ['internal/zone-a', [point({ pool: 'internal', zone: 'zone-a', p99Ms: 900, requestsPerSecond: 100, gateways: 1 })]],
  ]);
  const metric = (fields: Partial<PolicyMetric>): PolicyMetric => ({ kind: 'latency', statistic: 'P99', name: 'P99 latency', unit: 'ms', target: 100, window: '30s', source: 'Heartbeats', ...fields });
  const at = toSeconds(T);

  it.each([
    { name: 'P99 in one zone: that series', metric: metric({}), target: { pool: 'edge', zone: 'zone-a' }, expected: [{ label: 'p99', values: [120] }] },
    { name: 'P95 in one zone', metric: metric({ statistic: 'P95' }), target: { pool: 'edge', zone: 'zone-a' }, expected: [{ label: 'p95', values: [50] }] },
    { name: 'P99 across zones: the max, said so', metric: metric({}), target: { pool: 'edge' }, expected: [{ label: 'max of p99 across zones', values: [300] }] },
    {
      name: 'Mean: p50 and p95 for context',
      metric: metric({ statistic: 'Mean' }),
      target: { pool: 'edge', zone: 'zone-a' },
      expected: [
        { label: 'p50', values: [5] },
        { label: 'p95', values: [50] },
      ],
    },
    { name: 'load in one zone: per reporting gateway', metric: metric({ kind: 'load', unit: 'requests/s per gateway', statistic: undefined }), target: { pool: 'edge', zone: 'zone-a' }, expected: [{ label: 'requests/s per gateway', values: [15] }] },
    { name: 'load across zones: summed over summed gateways', metric: metric({ kind: 'load', unit: 'requests/s per gateway', statistic: undefined }), target: { pool: 'edge' }, expected: [{ label: 'requests/s per gateway', values: [10] }] },
    { name: 'a pool without traffic', metric: metric({}), target: { pool: 'nope' }, expected: [{ label: 'p99', values: [] }] },
  ])('$name', ({ metric: m, target, expected }) => {
    const { lines, note } = metricLines(m, target, traffic);
    expect(lines.map((l) => ({ label: l.label, values: l.values.map((v) => v.value) }))).toEqual(expected);
    lines.forEach((l) => l.values.forEach((v) => expect(v.time).toBe(at)));
    expect(note).toBeTruthy();
  });
});

function event(id: string, fields: Partial<MeshEvent> = {}): MeshEvent {
  return {
    id,
    time: '2026-05-01T12:00:15Z',
    type: 'Normal',
    reason: 'ScaledUp',
    regarding: { kind: 'AutoscalePolicy', namespace: 'default', name: 'edge-zone-a' },
    source: 'autoscaler',
    message: '2 -> 4 gateways',
    ...fields,
  };
}

describe('decisions', () => {
  it.each([
    {
      name: 'a scale-up with every number',
      event: event('1', {
        details: {
          metric: { name: 'P99 latency', value: 248.5, target: 100, unit: 'ms', source: 'Heartbeats', windowMs: 30000 },
          currentReplicas: 2,
          desiredReplicas: 4,
          decision: 'AtMaximum',
          scaler: { type: 'Local', result: 'ok' },
        },
      }),
      expected: { reason: 'ScaledUp', currentReplicas: 2, desiredReplicas: 4, metricValue: 248.5, metricTarget: 100, unit: 'ms', decision: 'AtMaximum', change: '2 → 4' },
    },
    {
      name: 'the metric missing',
      event: event('2', { type: 'Warning', reason: 'MetricMissing', details: { metric: { value: null, target: 100, unit: 'ms' } } }),
      expected: { reason: 'MetricMissing', currentReplicas: undefined, desiredReplicas: undefined, metricValue: null, metricTarget: 100, unit: 'ms', decision: undefined, change: undefined },
    },
    {
      name: 'no details',
      event: event('3', { type: 'Warning', reason: 'ScalerUnavailable' }),
      expected: { reason: 'ScalerUnavailable', currentReplicas: undefined, desiredReplicas: undefined, metricValue: undefined, metricTarget: undefined, unit: undefined, decision: undefined, change: undefined },
    },
    {
      name: 'details of the wrong shape are ignored',
      event: event('4', { details: { currentReplicas: 'two', desiredReplicas: 3, metric: 'high', decision: 7 } }),
      expected: { reason: 'ScaledUp', currentReplicas: undefined, desiredReplicas: 3, metricValue: undefined, metricTarget: undefined, unit: undefined, decision: undefined, change: '3' },
    },
  ])('$name', ({ event: e, expected }) => {
    const { change, ...fields } = expected;
    const decision = decisionFromEvent(e);
    expect(decision).toMatchObject({ id: e.id, time: e.time, type: e.type, message: e.message });
    for (const [key, value] of Object.entries(fields)) expect(decision[key as keyof typeof decision]).toEqual(value);
    expect(replicaChange(decision)).toBe(change);
  });

  it('picks the events about one policy, newest first', () => {
    const events = [
      event('0000000000000001'),
      event('0000000000000003'),
      event('0000000000000002', { regarding: { kind: 'AutoscalePolicy', namespace: 'default', name: 'other' } }),
      event('0000000000000004', { regarding: { kind: 'FailoverPolicy', namespace: 'default', name: 'edge-zone-a' } }),
      event('0000000000000005', { regarding: { kind: 'AutoscalePolicy', namespace: 'shop', name: 'edge-zone-a' } }),
    ];
    expect(eventsAbout(events, { metadata: { name: 'edge-zone-a', namespace: 'default' } }).map((e) => e.id)).toEqual(['0000000000000003', '0000000000000001']);
  });

  it.each([
    [{ reason: 'ScaledUp', type: 'Normal' as const }, COLORS.scaleUp],
    [{ reason: 'ScaledDown', type: 'Normal' as const }, COLORS.scaleDown],
    [{ reason: 'MetricMissing', type: 'Warning' as const }, COLORS.warning],
    [{ reason: 'MetricRecovered', type: 'Normal' as const }, COLORS.target],
  ])('marks %o in %s', (decision, color) => {
    expect(decisionMarkers([{ ...decision, time: T, message: '' }])).toEqual([{ time: toSeconds(T), color, label: decision.reason }]);
  });

  it.each([
    [{ type: 'AbleToScale', status: 'True' as const }, 'Healthy'],
    [{ type: 'AbleToScale', status: 'False' as const }, 'Failing'],
    [{ type: 'ScalingActive', status: 'False' as const }, 'Failing'],
    [{ type: 'ScalingLimited', status: 'True' as const }, 'Degraded'],
    [{ type: 'ScalingLimited', status: 'False' as const }, 'Healthy'],
    [{ type: 'ScalingActive', status: 'Unknown' as const }, 'NoData'],
    [undefined, 'NoData'],
  ])('condition %o reads %s', (condition, health) => {
    expect(conditionHealth(condition)).toBe(health);
  });
});
