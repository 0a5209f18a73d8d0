/**
 * Where the autoscaler reads the metric an AutoscalePolicy scales on: the heartbeats gateways send
 * (no other part needed) or Prometheus (the PromQL of latency-queries.ts). Both answer in the
 * policy's unit — milliseconds for latency, requests per second per gateway for load — and both
 * tell apart the two ways a reading can be empty:
 * - idle: the gateways report, but no request went through them in the window. The latency is
 *   read as 0 and the load as 0, so an idle pool scales down to its minimum;
 * - missing: nothing reports (no gateway of the target sent statistics, Prometheus has no series or
 *   cannot be asked). The value is null and the autoscaler holds steady or applies the fallback;
 *   it never scales on no data.
 */
import { formatDuration } from '@portolan/api';
import type { AutoscaleStatistic } from './autoscale-settings';
import { histogramMean, histogramQuantile } from './latency-histogram';
import { averageLatencyQuery, latencyQuantileQuery, requestRateQuery, type PoolZoneFilter } from './latency-queries';
import type { PoolTrafficWindow } from './pool-traffic-window';
import { PrometheusQueryError, type PrometheusClient, type PrometheusSample } from './prometheus-client';

export type MetricSpec = { type: 'latency'; statistic: AutoscaleStatistic; targetMs: number } | { type: 'requestsPerSecond'; targetPerGateway: number };

export interface MetricQuery {
  pool: string;
  zone?: string;
  metric: MetricSpec;
  windowMs: number;
  /** Gateways of the target now: load is divided among them. */
  currentReplicas: number;
}

export interface MetricReading {
  /** null: missing. */
  value: number | null;
  /** What the reading covered, or why it is missing; shown in status and events. */
  detail: string;
}

export interface MetricSource {
  readonly name: 'Heartbeats' | 'Prometheus';
  read(query: MetricQuery, now: number): Promise<MetricReading>;
}

const QUANTILES: Record<Exclude<AutoscaleStatistic, 'Mean'>, number> = { P99: 0.99, P95: 0.95 };

function describeTarget(query: Pick<MetricQuery, 'pool' | 'zone'>): string {
  return query.zone ? `pool ${query.pool} in ${query.zone}` : `pool ${query.pool} (all zones)`;
}

const round = (value: number) => Math.round(value * 1000) / 1000;

export class HeartbeatMetricSource implements MetricSource {
  readonly name = 'Heartbeats';

  constructor(private readonly traffic: PoolTrafficWindow) {}

  async read(query: MetricQuery, now: number): Promise<MetricReading> {
    const reading = this.traffic.read(query.pool, query.zone, query.windowMs, now);
    const window = formatDuration(query.windowMs);
    if (reading.reportingGateways.length === 0 || reading.coveredMs === 0) {
      return { value: null, detail: `no gateway of ${describeTarget(query)} sent statistics to this control plane in the last ${window}` };
    }
    const covered = `${reading.requests} requests from ${reading.reportingGateways.length} gateways over ${formatDuration(reading.coveredMs)}`;
    if (query.metric.type === 'requestsPerSecond') {
      const perGateway = reading.requests / (reading.coveredMs / 1000) / Math.max(1, query.currentReplicas);
      return { value: round(perGateway), detail: reading.requests === 0 ? `idle: no requests through ${describeTarget(query)} in the last ${window}` : covered };
    }
    const { statistic } = query.metric;
    const value = statistic === 'Mean' ? histogramMean(reading.histogram) : histogramQuantile(QUANTILES[statistic], reading.histogram);
    if (value === null) {
      // Requests went through, but none came with a latency histogram (gateways older than it): the latency is missing, not idle.
      if (reading.requests > 0) {
        return { value: null, detail: `the gateways of ${describeTarget(query)} reported ${reading.requests} requests but no latency histogram in the last ${window} (are they older than latency histograms?)` };
      }
      return { value: 0, detail: `idle: no requests through ${describeTarget(query)} in the last ${window}` };
    }
    return { value: round(value), detail: covered };
  }
}

export class PrometheusMetricSource implements MetricSource {
  readonly name = 'Prometheus';

  constructor(private readonly prometheus: PrometheusClient) {}

  async read(query: MetricQuery, now: number): Promise<MetricReading> {
    const filter: PoolZoneFilter = { pool: query.pool, ...(query.zone ? { zone: query.zone } : { acrossZones: true }) };
    const window = `${Math.max(1, Math.round(query.windowMs / 1000))}s`;
    const promql =
      query.metric.type === 'requestsPerSecond'
        ? requestRateQuery(window, filter)
        : query.metric.statistic === 'Mean'
          ? averageLatencyQuery(window, filter)
          : latencyQuantileQuery(QUANTILES[query.metric.statistic], window, filter);
    let samples: PrometheusSample[];
    try {
      samples = await this.prometheus.query(promql, new Date(now));
    } catch (error) {
      if (error instanceof PrometheusQueryError) return { value: null, detail: error.message };
      throw error;
    }
    if (samples.length === 0) {
      return { value: null, detail: `Prometheus at ${this.prometheus.url} has no request series for ${describeTarget(query)} over ${window} (does it scrape the gateways' /metrics?)` };
    }
    const [sample] = samples;
    if (sample.value !== null && !Number.isFinite(sample.value)) return { value: null, detail: `Prometheus answered ${sample.value} for ${describeTarget(query)}: ${promql}` };
    if (query.metric.type === 'requestsPerSecond') {
      return { value: round((sample.value ?? 0) / Math.max(1, query.currentReplicas)), detail: `Prometheus: ${promql}` };
    }
    // NaN: the series exist but no request was counted in the window (0/0).
    if (sample.value === null) return { value: 0, detail: `idle: no requests through ${describeTarget(query)} in the last ${window} (Prometheus)` };
    return { value: round(sample.value * 1000), detail: `Prometheus: ${promql}` };
  }
}
