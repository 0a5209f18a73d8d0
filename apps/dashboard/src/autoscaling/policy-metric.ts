/**
 * What an AutoscalePolicy measures, and that metric over time from the traffic points of its
 * target (the pool, in its zone or across zones), as pure functions for the autoscaling page.
 *
 * The autoscaler reads its metric over `metric.window` from latency histograms (docs/autoscaling.md);
 * traffic points have per-slot percentiles and no histograms, so the chart is per 5-second slot,
 * and a target across zones shows the highest zone's percentile (an upper bound, see series.ts).
 * Traffic points carry no mean latency: for `statistic: Mean` the chart shows p50 and p95 around it.
 * Load is requests per second divided by the gateways that reported in the slot; the autoscaler
 * divides by the count the scaler reports, which differs while gateways start or drain.
 */
import { parseDuration, type AutoscalePolicy, type AutoscalePolicySpec, type Condition, type MeshEvent, type TrafficPoint } from '@portolan/api';
import type { ChartMarker } from '../charts/markers';
import { COLORS } from '../charts/palette';
import { combineTraffic, filterTraffic, line, percentileLabel, perGateway, toSeconds, type TimedValue } from '../charts/series';
import type { Health } from '../health/health';

export interface PolicyMetric {
  kind: 'latency' | 'load';
  statistic?: 'P99' | 'P95' | 'Mean';
  /** "P99 latency", "requests/s per gateway". */
  name: string;
  unit: 'ms' | 'requests/s per gateway';
  /** In `unit`. */
  target: number;
  window: string;
  source: 'Heartbeats' | 'Prometheus';
}

export function policyMetric(spec: AutoscalePolicySpec): PolicyMetric | undefined {
  const window = spec.metric.window ?? '2m';
  const source = spec.metric.source ?? 'Heartbeats';
  if (spec.metric.latency) {
    const statistic = spec.metric.latency.statistic ?? 'P99';
    let target: number;
    try {
      target = parseDuration(spec.metric.latency.target);
    } catch {
      return undefined;
    }
    return { kind: 'latency', statistic, name: `${statistic} latency`, unit: 'ms', target, window, source };
  }
  if (spec.metric.requestsPerSecond) {
    return { kind: 'load', name: 'requests/s per gateway', unit: 'requests/s per gateway', target: spec.metric.requestsPerSecond.targetPerGateway, window, source };
  }
  return undefined;
}

export function formatTarget(target: AutoscalePolicySpec['target']): string {
  return target.zone ? `${target.pool} in ${target.zone}` : `${target.pool}, all zones`;
}

export interface MetricLine {
  label: string;
  color: string;
  values: TimedValue[];
}

export interface MetricLines {
  lines: MetricLine[];
  /** Said under the chart when the lines are not exactly the autoscaler's metric. */
  note?: string;
}

/** The policy's metric per slot from the traffic of its target. */
export function metricLines(metric: PolicyMetric, target: AutoscalePolicySpec['target'], traffic: ReadonlyMap<string, readonly TrafficPoint[]>): MetricLines {
  const series = filterTraffic(traffic, { pool: target.pool, ...(target.zone ? { zone: target.zone } : {}) });
  const rows = combineTraffic(series);
  const combined = series.length > 1;
  const acrossZones = combined ? ` across ${new Set(series.map((points) => points[0].zone)).size > 1 ? 'zones' : 'series'}` : '';
  if (metric.kind === 'load') {
    return {
      lines: [{ label: 'requests/s per gateway', color: COLORS.perGateway, values: line(rows, perGateway) }],
      note: 'Requests per second divided by the gateways that reported in each 5-second slot; the autoscaler divides by the count its scaler reports.',
    };
  }
  if (metric.statistic === 'Mean') {
    return {
      lines: [
        { label: `${percentileLabel('p50', combined)}${acrossZones}`, color: COLORS.p50, values: line(rows, (row) => row.p50Ms) },
        { label: `${percentileLabel('p95', combined)}${acrossZones}`, color: COLORS.p95, values: line(rows, (row) => row.p95Ms) },
      ],
      note: 'Traffic points carry no mean latency: p50 and p95 per slot are shown for context; the reading above is the autoscaler\'s mean.',
    };
  }
  const percentile = metric.statistic === 'P95' ? 'p95' : 'p99';
  return {
    lines: [{ label: `${percentileLabel(percentile, combined)}${acrossZones}`, color: COLORS.p99, values: line(rows, (row) => (percentile === 'p95' ? row.p95Ms : row.p99Ms)) }],
    note: combined
      ? `Per 5-second slot, the highest of the series' ${percentile} (an upper bound of the target's); the autoscaler reads it over ${metric.window} from the merged latency histograms.`
      : `Per 5-second slot; the autoscaler reads it over ${metric.window}.`,
  };
}

/** One autoscaler decision, from an event's `details` (docs/autoscaling.md, "Events"); fields it lacks are absent. */
export interface Decision {
  id?: string;
  time: string;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  currentReplicas?: number;
  desiredReplicas?: number;
  metricValue?: number | null;
  metricTarget?: number;
  unit?: string;
  decision?: string;
}

const numberOr = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);
const stringOr = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

export function decisionFromEvent(event: MeshEvent): Decision {
  const details = event.details ?? {};
  const metric = typeof details.metric === 'object' && details.metric !== null ? (details.metric as Record<string, unknown>) : undefined;
  return {
    id: event.id,
    time: event.time,
    type: event.type,
    reason: event.reason,
    message: event.message,
    currentReplicas: numberOr(details.currentReplicas),
    desiredReplicas: numberOr(details.desiredReplicas),
    ...(metric ? { metricValue: metric.value === null ? null : numberOr(metric.value), metricTarget: numberOr(metric.target), unit: stringOr(metric.unit) } : {}),
    decision: stringOr(details.decision),
  };
}

/** The events about one policy, newest first. */
export function eventsAbout(events: readonly MeshEvent[], policy: Pick<AutoscalePolicy, 'metadata'>): MeshEvent[] {
  return events
    .filter((event) => event.regarding.kind === 'AutoscalePolicy' && event.regarding.namespace === (policy.metadata.namespace ?? 'default') && event.regarding.name === policy.metadata.name)
    .sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
}

export function decisionColor(decision: Pick<Decision, 'reason' | 'type'>): string {
  if (decision.reason === 'ScaledUp') return COLORS.scaleUp;
  if (decision.reason === 'ScaledDown') return COLORS.scaleDown;
  return decision.type === 'Warning' ? COLORS.warning : COLORS.target;
}

/** Vertical lines on the metric chart where the autoscaler decided something. */
export function decisionMarkers(decisions: readonly Decision[]): ChartMarker[] {
  return decisions
    .map((decision) => ({ time: toSeconds(decision.time), color: decisionColor(decision), label: decision.reason }))
    .filter((marker) => !Number.isNaN(marker.time));
}

/** "2 → 4", "4", or undefined. */
export function replicaChange(decision: Pick<Decision, 'currentReplicas' | 'desiredReplicas'>): string | undefined {
  const { currentReplicas: current, desiredReplicas: desired } = decision;
  if (current === undefined && desired === undefined) return undefined;
  if (current === undefined || desired === undefined || current === desired) return String(desired ?? current);
  return `${current} → ${desired}`;
}

export const CONDITION_TYPES = ['AbleToScale', 'ScalingActive', 'ScalingLimited'] as const;

/** How a condition reads: able to scale and active are good when True; limited is worth a look when True. */
export function conditionHealth(condition: Pick<Condition, 'type' | 'status'> | undefined): Health {
  if (!condition || condition.status === 'Unknown') return 'NoData';
  if (condition.type === 'ScalingLimited') return condition.status === 'True' ? 'Degraded' : 'Healthy';
  return condition.status === 'True' ? 'Healthy' : 'Failing';
}

