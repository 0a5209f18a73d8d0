/**
 * An AutoscalePolicy's spec with every default filled in and durations in milliseconds: what one
 * evaluation works with. Defaults come from the kind's schema (libs/api) and the HPA's behavior
 * defaults (replica-recommendation.ts), nowhere else.
 */
import { AutoscalePolicySpecSchema, parseDuration, schemaDefaults, type AUTOSCALE_METRIC_STATISTICS, type AutoscalePolicy, type AutoscalePolicySpec } from '@portolan/api';
import type { MetricSpec } from './metric-sources';
import { normalizeBehavior, type ScalingBehavior } from './replica-recommendation';
import type { ScaleTarget } from './scalers/scaler';

export type AutoscaleStatistic = (typeof AUTOSCALE_METRIC_STATISTICS)[number];

const DEFAULTS = schemaDefaults(AutoscalePolicySpecSchema) as {
  metric: { window: string; source: 'Heartbeats'; latency: { statistic: AutoscaleStatistic } };
  minReplicas: number;
  fallback: { failureThreshold: number };
};

export interface AutoscaleSettings {
  target: ScaleTarget;
  scaler: 'Local' | 'Kubernetes';
  source: 'Heartbeats' | 'Prometheus';
  metric: MetricSpec;
  /** The metric's name in messages: "P99 latency", "requests/s per gateway". */
  metricName: string;
  unit: 'ms' | 'requests/s per gateway';
  /** The target value, in `unit`. */
  targetValue: number;
  windowMs: number;
  minReplicas: number;
  maxReplicas: number;
  fallback?: { replicas: number; failureThreshold: number };
  behavior: ScalingBehavior;
}

export function policyKey(policy: Pick<AutoscalePolicy, 'metadata'>): string {
  return `${policy.metadata.namespace ?? 'default'}/${policy.metadata.name}`;
}

export function autoscaleSettings(policy: AutoscalePolicy): AutoscaleSettings {
  const spec: AutoscalePolicySpec = policy.spec;
  const metric: MetricSpec = spec.metric.latency
    ? { type: 'latency', statistic: spec.metric.latency.statistic ?? DEFAULTS.metric.latency.statistic, targetMs: parseDuration(spec.metric.latency.target) }
    : { type: 'requestsPerSecond', targetPerGateway: spec.metric.requestsPerSecond!.targetPerGateway };
  const workload = spec.scaler.kubernetes;
  return {
    target: {
      policy: policyKey(policy),
      pool: spec.target.pool,
      ...(spec.target.zone ? { zone: spec.target.zone } : {}),
      ...(workload ? { workload: { kind: workload.kind ?? 'Deployment', name: workload.name, ...(workload.namespace ? { namespace: workload.namespace } : {}) } } : {}),
    },
    scaler: spec.scaler.type,
    source: spec.metric.source ?? DEFAULTS.metric.source,
    metric,
    metricName: metric.type === 'latency' ? `${metric.statistic === 'Mean' ? 'mean' : metric.statistic} latency` : 'requests/s per gateway',
    unit: metric.type === 'latency' ? 'ms' : 'requests/s per gateway',
    targetValue: metric.type === 'latency' ? metric.targetMs : metric.targetPerGateway,
    windowMs: parseDuration(spec.metric.window ?? DEFAULTS.metric.window),
    minReplicas: spec.minReplicas ?? DEFAULTS.minReplicas,
    maxReplicas: spec.maxReplicas,
    ...(spec.fallback ? { fallback: { replicas: spec.fallback.replicas, failureThreshold: spec.fallback.failureThreshold ?? DEFAULTS.fallback.failureThreshold } } : {}),
    behavior: normalizeBehavior(spec.behavior),
  };
}
