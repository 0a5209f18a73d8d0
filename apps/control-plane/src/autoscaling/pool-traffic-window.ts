/**
 * What gateway heartbeats say about a pool's traffic over the last minutes: the heartbeat metric
 * source of the autoscaler, and the error rate and latency per zone the failover controller judges. Each heartbeat's counters are added into the 5-second slot it arrived
 * in, per pool and zone, so memory depends on pools, zones and the longest window, never on the
 * number of gateways or requests; a window is read by adding up its slots.
 */
import type { HeartbeatStats, LatencyHistogram } from '@portolan/agent-client';
import { addHistogram, emptyHistogram } from './latency-histogram';

export const SLOT_MS = 5_000;
/** The longest window an AutoscalePolicy may ask for (spec.metric.window maximum). */
const MAX_WINDOW_MS = 60 * 60_000;

interface Slot {
  start: number;
  requests: number;
  /** Responses with a 5xx status, the gateway's own (502, 503, 504) included. */
  serverErrors: number;
  histogram: LatencyHistogram;
  gateways: Set<string>;
}

interface Series {
  /** When this replica first heard from the pool and zone: a window is never taken to reach back before it. */
  since: number;
  slots: Slot[];
}

export interface TrafficReading {
  requests: number;
  serverErrors: number;
  histogram: LatencyHistogram;
  /** Gateways that sent statistics within the window. */
  reportingGateways: string[];
  /** How much time the reading covers: the window, or less when this replica has not heard from the pool for that long. */
  coveredMs: number;
}

export class PoolTrafficWindow {
  private readonly series = new Map<string, Series>();

  /** Adds one heartbeat's counters; statistics that are not the protocol's (a bad or foreign agent) are ignored, never half-counted. */
  add(gateway: { name: string; pool: string; zone: string }, stats: HeartbeatStats, now: number): void {
    if (!isCount(stats?.requests)) return;
    const histogram = stats.latencyHistogram;
    const validHistogram = !!histogram && Array.isArray(histogram.counts) && histogram.counts.every(isCount) && Number.isFinite(histogram.sumMs) && histogram.sumMs >= 0;
    const key = seriesKey(gateway.pool, gateway.zone);
    let series = this.series.get(key);
    // The first heartbeat's counts cover the period before it: the series starts there, or a fresh control plane would read too high a rate.
    if (!series) this.series.set(key, (series = { since: now - (isCount(stats.periodMs) ? stats.periodMs : 0), slots: [] }));
    const start = now - (now % SLOT_MS);
    let slot = series.slots[series.slots.length - 1];
    if (!slot || slot.start !== start) {
      slot = { start, requests: 0, serverErrors: 0, histogram: emptyHistogram(), gateways: new Set() };
      series.slots.push(slot);
      while (series.slots.length > 0 && series.slots[0].start < now - MAX_WINDOW_MS - SLOT_MS) series.slots.shift();
    }
    slot.requests += stats.requests;
    const serverErrors = stats.responses?.['5xx'];
    if (isCount(serverErrors)) slot.serverErrors += serverErrors;
    if (validHistogram) addHistogram(slot.histogram, histogram);
    slot.gateways.add(gateway.name);
  }

  /** The pool's traffic in one zone, or in all zones when `zone` is undefined, over the `windowMs` before `now`. */
  read(pool: string, zone: string | undefined, windowMs: number, now: number): TrafficReading {
    return this.readWhere((seriesPool, seriesZone) => seriesPool === pool && (zone === undefined || seriesZone === zone), windowMs, now);
  }

  /** Traffic through every gateway of one zone, whatever its pool (the failover controller's error rate and latency). */
  readZone(zone: string, windowMs: number, now: number): TrafficReading {
    return this.readWhere((_pool, seriesZone) => seriesZone === zone, windowMs, now);
  }

  private readWhere(matches: (pool: string, zone: string) => boolean, windowMs: number, now: number): TrafficReading {
    const from = now - windowMs;
    const reading: TrafficReading = { requests: 0, serverErrors: 0, histogram: emptyHistogram(), reportingGateways: [], coveredMs: 0 };
    const gateways = new Set<string>();
    let since = now;
    for (const [key, series] of this.series) {
      const [seriesPool, seriesZone] = splitKey(key);
      if (!matches(seriesPool, seriesZone)) continue;
      since = Math.min(since, series.since);
      // A slot counts when it ends inside the window: a heartbeat sent just before the window's start is not in it.
      for (const slot of series.slots) {
        if (slot.start + SLOT_MS <= from) continue;
        reading.requests += slot.requests;
        reading.serverErrors += slot.serverErrors;
        addHistogram(reading.histogram, slot.histogram);
        for (const name of slot.gateways) gateways.add(name);
      }
    }
    reading.reportingGateways = [...gateways].sort();
    reading.coveredMs = Math.max(0, Math.min(windowMs, now - since));
    return reading;
  }
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function seriesKey(pool: string, zone: string): string {
  return `${pool}\u0000${zone}`;
}

function splitKey(key: string): [string, string] {
  const separator = key.indexOf('\u0000');
  return [key.slice(0, separator), key.slice(separator + 1)];
}
