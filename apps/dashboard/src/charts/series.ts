/**
 * Pure data shaping for the charts: traffic points (one series per pool and zone, or per service
 * and zone, 5-second slots) combined per zone, pool or service, and turned into uPlot's aligned columns (one x column of Unix
 * seconds, one y column per line, `null` where a line has no value). No data is `null`, never 0:
 * uPlot draws a gap there.
 */
import type { ServiceTrafficPoint, TrafficPoint } from '@portolan/api';

/** One value of one line at one time (Unix seconds). */
export interface TimedValue {
  time: number;
  value: number | null;
}

/** [x, ...y] as uPlot takes it; x in Unix seconds, ascending. */
export type Columns = [number[], ...Array<Array<number | null>>];

export function toSeconds(rfc3339: string): number {
  return Date.parse(rfc3339) / 1000;
}

export function toRfc3339(seconds: number): string {
  return new Date(Math.round(seconds * 1000)).toISOString().replace(/\.000Z$/, 'Z');
}

export interface AlignOptions {
  /**
   * The slot length: where consecutive times are more than 1.5 slots apart, a row of nulls is
   * inserted, so a line breaks over slots nobody reported instead of being drawn across them.
   */
  slotSeconds?: number;
  /** The window shown: rows of nulls at its edges make the x axis cover it whatever the data holds. */
  from?: number;
  to?: number;
}

/**
 * Aligns lines on the union of their times: each line gets a value at every time, null where it
 * has none. Values outside [from, to] are dropped.
 */
export function alignSeries(series: ReadonlyArray<ReadonlyArray<TimedValue>>, options: AlignOptions = {}): Columns {
  const { slotSeconds, from, to } = options;
  const inWindow = (time: number) => (from === undefined || time >= from) && (to === undefined || time <= to);
  const times = new Set<number>();
  for (const line of series) for (const point of line) if (inWindow(point.time)) times.add(point.time);
  const sorted = [...times].sort((a, b) => a - b);

  const x: number[] = [];
  const push = (time: number) => {
    if (x.length === 0 || x[x.length - 1] !== time) x.push(time);
  };
  if (from !== undefined && (sorted.length === 0 || sorted[0] > from)) push(from);
  for (const time of sorted) {
    const previous = x[x.length - 1];
    if (slotSeconds !== undefined && previous !== undefined && time - previous > 1.5 * slotSeconds) push(previous + slotSeconds);
    push(time);
  }
  if (to !== undefined && (x.length === 0 || x[x.length - 1] < to)) {
    const previous = x[x.length - 1];
    if (slotSeconds !== undefined && previous !== undefined && to - previous > 1.5 * slotSeconds) push(previous + slotSeconds);
    push(to);
  }

  const index = new Map(x.map((time, i) => [time, i]));
  const columns: Array<Array<number | null>> = series.map((line) => {
    const column: Array<number | null> = new Array<number | null>(x.length).fill(null);
    for (const point of line) {
      const i = index.get(point.time);
      if (i !== undefined) column[i] = point.value;
    }
    return column;
  });
  return [x, ...columns];
}

/** What a point of any traffic series says of its slot: a TrafficPoint or a ServiceTrafficPoint, whatever it is of. */
export type TrafficFigures = Omit<TrafficPoint, 'pool'>;

/**
 * Several series' points of one slot combined. Rates, counts and the 5xx share add up (the share
 * weighted by each series' requests). A percentile cannot be averaged, nor summed: the p99 of two
 * pools' requests together is not the mean of their p99s (a pool with a few slow requests would be
 * diluted by a busy fast one), and recomputing it needs the latency histograms, which traffic
 * points do not carry. What can be said is that it is no higher than the largest of them (each pool
 * has at most 1% of its requests above its own p99, so at most 1% of all requests lie above the
 * largest), so the percentiles are the largest of the series', an upper bound, and their lines are
 * labelled "max of p99", never "p99". The same holds for a service's zones.
 */
export interface TrafficAggregate extends Omit<TrafficPoint, 'pool' | 'zone'> {
  /** The slot's start in Unix seconds. */
  seconds: number;
  /** How many series reported in this slot. */
  series: number;
}

function maxOrNull(values: ReadonlyArray<number | null>): number | null {
  let max: number | null = null;
  for (const value of values) if (value !== null && (max === null || value > max)) max = value;
  return max;
}

/** Error percent over several series: each series weighs by its requests. */
export function weightedErrorPercent(points: ReadonlyArray<Pick<TrafficPoint, 'requestsPerSecond' | 'serverErrorPercent'>>): number | null {
  const known = points.filter((point) => point.serverErrorPercent !== null);
  if (known.length === 0) return null;
  const weight = known.reduce((sum, point) => sum + point.requestsPerSecond, 0);
  // Answers but a rate rounded to 0: every series counts the same.
  if (weight <= 0) return known.reduce((sum, point) => sum + point.serverErrorPercent!, 0) / known.length;
  return known.reduce((sum, point) => sum + point.serverErrorPercent! * point.requestsPerSecond, 0) / weight;
}

/** Combines the points of several series slot by slot (slots matched by time), oldest first. */
export function combineTraffic(series: ReadonlyArray<ReadonlyArray<TrafficFigures>>): TrafficAggregate[] {
  const bySlot = new Map<number, TrafficFigures[]>();
  for (const line of series) {
    for (const point of line) {
      const seconds = toSeconds(point.time);
      if (Number.isNaN(seconds)) continue;
      const slot = bySlot.get(seconds);
      if (slot) slot.push(point);
      else bySlot.set(seconds, [point]);
    }
  }
  return [...bySlot.entries()]
    .sort(([a], [b]) => a - b)
    .map(([seconds, points]) => ({
      time: points[0].time,
      seconds,
      series: points.length,
      gateways: points.reduce((sum, point) => sum + point.gateways, 0),
      requestsPerSecond: points.reduce((sum, point) => sum + point.requestsPerSecond, 0),
      serverErrorPercent: weightedErrorPercent(points),
      p50Ms: maxOrNull(points.map((point) => point.p50Ms)),
      p95Ms: maxOrNull(points.map((point) => point.p95Ms)),
      p99Ms: maxOrNull(points.map((point) => point.p99Ms)),
      rateLimited: points.reduce((sum, point) => sum + point.rateLimited, 0),
      retries: points.reduce((sum, point) => sum + point.retries, 0),
      breakerOpen: points.reduce((sum, point) => sum + point.breakerOpen, 0),
      timeouts: points.reduce((sum, point) => sum + point.timeouts, 0),
    }));
}

/** The label of a percentile line: exact for one series, an upper bound over several. */
export function percentileLabel(percentile: 'p50' | 'p95' | 'p99', combined: boolean): string {
  return combined ? `max of ${percentile}` : percentile;
}

export interface TrafficFilter {
  pool?: string;
  zone?: string;
}

/** The series of the live store's traffic map (`pool/zone` → points) that pass the filter. */
export function filterTraffic(traffic: ReadonlyMap<string, readonly TrafficPoint[]>, filter: TrafficFilter = {}): Array<readonly TrafficPoint[]> {
  const selected: Array<readonly TrafficPoint[]> = [];
  for (const points of traffic.values()) {
    const first = points[0];
    if (!first) continue;
    if (filter.pool !== undefined && first.pool !== filter.pool) continue;
    if (filter.zone !== undefined && first.zone !== filter.zone) continue;
    selected.push(points);
  }
  return selected;
}

/** Series grouped by zone or by pool, keys sorted: e.g. per zone, the pools' series to combine. */
export function groupTraffic(
  traffic: ReadonlyMap<string, readonly TrafficPoint[]>,
  by: 'zone' | 'pool',
  filter: TrafficFilter = {},
): Map<string, Array<readonly TrafficPoint[]>> {
  const groups = new Map<string, Array<readonly TrafficPoint[]>>();
  for (const points of filterTraffic(traffic, filter)) {
    const key = points[0][by];
    const group = groups.get(key);
    if (group) group.push(points);
    else groups.set(key, [points]);
  }
  return new Map([...groups.entries()].sort(([a], [b]) => a.localeCompare(b)));
}

/** The pools and zones the traffic map holds, sorted. */
export function trafficDimensions(traffic: ReadonlyMap<string, readonly TrafficPoint[]>): { pools: string[]; zones: string[] } {
  const pools = new Set<string>();
  const zones = new Set<string>();
  for (const points of traffic.values()) {
    if (!points[0]) continue;
    pools.add(points[0].pool);
    zones.add(points[0].zone);
  }
  return { pools: [...pools].sort(), zones: [...zones].sort() };
}

export interface ServiceTrafficFilter {
  service?: string;
  zone?: string;
}

/**
 * The series of the live store's per-service map (`service/zone` → points) that pass the filter,
 * grouped by service (one series per zone of the gateways that answered), services sorted.
 */
export function groupServiceTraffic(traffic: ReadonlyMap<string, readonly ServiceTrafficPoint[]>, filter: ServiceTrafficFilter = {}): Map<string, Array<readonly ServiceTrafficPoint[]>> {
  const groups = new Map<string, Array<readonly ServiceTrafficPoint[]>>();
  for (const points of traffic.values()) {
    const first = points[0];
    if (!first) continue;
    if (filter.service !== undefined && first.service !== filter.service) continue;
    if (filter.zone !== undefined && first.zone !== filter.zone) continue;
    const group = groups.get(first.service);
    if (group) group.push(points);
    else groups.set(first.service, [points]);
  }
  return new Map([...groups.entries()].sort(([a], [b]) => a.localeCompare(b)));
}

/** The services and zones the per-service map holds, sorted. */
export function serviceTrafficDimensions(traffic: ReadonlyMap<string, readonly ServiceTrafficPoint[]>): { services: string[]; zones: string[] } {
  const services = new Set<string>();
  const zones = new Set<string>();
  for (const points of traffic.values()) {
    if (!points[0]) continue;
    services.add(points[0].service);
    zones.add(points[0].zone);
  }
  return { services: [...services].sort(), zones: [...zones].sort() };
}

/**
 * The `count` groups with the most requests in [from, to] (Unix seconds), in the groups' order:
 * which of many services get charts when none is chosen.
 */
export function busiestGroups<T extends TrafficFigures>(groups: ReadonlyMap<string, ReadonlyArray<readonly T[]>>, from: number, to: number, count: number): Map<string, ReadonlyArray<readonly T[]>> {
  if (groups.size <= count) return new Map(groups);
  const volume = (series: ReadonlyArray<readonly T[]>) => {
    let sum = 0;
    for (const points of series) {
      for (const point of points) {
        const seconds = toSeconds(point.time);
        if (seconds >= from && seconds <= to) sum += point.requestsPerSecond;
      }
    }
    return sum;
  };
  const busiest = new Set(
    [...groups]
      .map(([key, series]) => ({ key, requests: volume(series) }))
      .sort((a, b) => b.requests - a.requests)
      .slice(0, count)
      .map(({ key }) => key),
  );
  return new Map([...groups].filter(([key]) => busiest.has(key)));
}

/** One line from rows: each row's time and the picked value. */
export function line<T extends { seconds: number }>(rows: readonly T[], pick: (row: T) => number | null): TimedValue[] {
  return rows.map((row) => ({ time: row.seconds, value: pick(row) }));
}

/** Requests per second per reporting gateway; null without gateways. */
export function perGateway(row: Pick<TrafficAggregate, 'requestsPerSecond' | 'gateways'>): number | null {
  return row.gateways > 0 ? row.requestsPerSecond / row.gateways : null;
}

/** A line of the same value across the columns' times (a target), for a horizontal line. */
export function constantColumn(x: readonly number[], value: number): number[] {
  return x.map(() => value);
}

/** The row of an aggregate list at a time (as a clicked point gives it), if any. */
export function rowAt<T extends { seconds: number }>(rows: readonly T[], seconds: number): T | undefined {
  return rows.find((row) => row.seconds === seconds);
}
