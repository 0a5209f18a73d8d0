/**
 * The PromQL the autoscaler reads gateway latency and load with, built from the gateways' request
 * histogram (docs/metrics.md). Every query aggregates per pool and zone, the unit the autoscaler
 * scales (or per pool, for a target across zones), summing over gateways, routes, services and
 * status classes first: rates are summed before they are divided or turned into a quantile, never
 * averaged per gateway.
 */

const REQUEST_DURATION = 'portolan_gateway_request_duration_seconds';

/** Restricts a query to one pool and/or one zone; an absent field matches all. */
export interface PoolZoneFilter {
  pool?: string;
  zone?: string;
  /** One answer per pool, all its zones together, rather than one per pool and zone. */
  acrossZones?: boolean;
}

/**
 * A PromQL range such as `30s`, `1m` or `1h30m`. It should span at least two scrapes (four is
 * safer), or rate() has too few points and answers nothing.
 */
export type RangeWindow = string;

const RANGE_WINDOW = /^(\d+(ms|s|m|h|d|w|y))+$/;

/** A PromQL string literal: backslash, double quote and line breaks escaped (Go string syntax). */
function quoteLabelValue(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\r/g, '\\r')}"`;
}

function selector(metric: string, filter: PoolZoneFilter): string {
  const matchers = (['pool', 'zone'] as const).filter((label) => filter[label] !== undefined).map((label) => `${label}=${quoteLabelValue(filter[label]!)}`);
  return matchers.length ? `${metric}{${matchers.join(',')}}` : metric;
}

function checkedWindow(window: RangeWindow): RangeWindow {
  if (!RANGE_WINDOW.test(window)) throw new RangeError(`window must be a PromQL duration such as 30s, 1m or 1h30m, got ${JSON.stringify(window)}`);
  return window;
}

/** Per-second rate of one histogram series family, summed into the given labels (and `le` for buckets). */
function summedRate(series: string, window: RangeWindow, filter: PoolZoneFilter): string {
  const by = [...(series === 'bucket' ? ['le'] : []), 'pool', ...(filter.acrossZones ? [] : ['zone'])].join(', ');
  return `sum by (${by}) (rate(${selector(`${REQUEST_DURATION}_${series}`, filter)}[${checkedWindow(window)}]))`;
}

/**
 * The `quantile` (0.5 for p50, 0.99 for p99) of request latency in seconds per pool and zone over
 * `window`. Interpolated within the bucket it falls in (1 ms to 10 s); NaN where no request was
 * seen, the 10 s bound when it lies above it (Prometheus answers the highest finite bucket bound).
 */
export function latencyQuantileQuery(quantile: number, window: RangeWindow, filter: PoolZoneFilter = {}): string {
  if (!(quantile >= 0 && quantile <= 1)) throw new RangeError(`quantile must be from 0 to 1 (0.99 for p99), got ${quantile}`);
  return `histogram_quantile(${quantile}, ${summedRate('bucket', window, filter)})`;
}

/** Mean request latency in seconds per pool and zone over `window`; NaN where no request was seen. */
export function averageLatencyQuery(window: RangeWindow, filter: PoolZoneFilter = {}): string {
  return `${summedRate('sum', window, filter)} / ${summedRate('count', window, filter)}`;
}

/** Requests per second per pool and zone over `window`, all routes and status classes together. */
export function requestRateQuery(window: RangeWindow, filter: PoolZoneFilter = {}): string {
  return summedRate('count', window, filter);
}
