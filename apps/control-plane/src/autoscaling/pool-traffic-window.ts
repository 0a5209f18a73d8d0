/**
 * What gateway heartbeats say about traffic over the last minutes, in two kinds of series:
 *
 * - per pool and zone of the gateways, the answers they gave: the heartbeat metric source of the
 *   autoscaler, the rollout guard, the traffic through a zone's gateways a drill reports, and the
 *   dashboard's traffic charts (`points`, one per slot);
 * - per upstream zone, the tries every gateway sent to endpoints of that zone (`stats.upstreamZones`):
 *   the error rate and latency the failover controller judges a zone by, which stay the zone's own
 *   while its gateways send their traffic elsewhere;
 * - per service and zone of the gateways, the answers they gave for the service's routes
 *   (`stats.services`): the dashboard's per-service charts (`servicePoints`).
 *
 * Each heartbeat's counters are added into the 5-second slot it arrived in, so memory depends on
 * pools, zones, services and the longest window, never on the number of gateways or requests; a
 * window is read by adding up its slots.
 */
import { LATENCY_BUCKETS_MS, MAX_SERVICES_PER_HEARTBEAT, MAX_UPSTREAM_ZONES, type HeartbeatStats, type LatencyHistogram, type ServiceTraffic, type UpstreamZoneStats } from '@portolan/agent-client';
import type { ServiceTrafficPoint, TrafficPoint } from '@portolan/api';
import { addHistogram, emptyHistogram, histogramQuantile } from './latency-histogram';

export const SLOT_MS = 5_000;
/** The longest window an AutoscalePolicy may ask for (spec.metric.window maximum), and how far back slots are kept. */
export const MAX_WINDOW_MS = 60 * 60_000;
/**
 * Upstream zones kept at once. Zones come from configuration, so this is far above any real mesh;
 * it only bounds what a misbehaving agent inventing zone names could make this replica hold. A zone
 * nobody reported for the longest window makes room.
 */
const MAX_UPSTREAM_SERIES = 1_024;
/**
 * Service and zone pairs kept at once. Services come from configuration too, but a mesh has many
 * more of them than zones: an hour of slots is about a third of a megabyte per pair, so this bounds
 * the per-service series to some 350 MB however many services or invented names agents report. A
 * pair nobody reported for the longest window makes room.
 */
const MAX_SERVICE_SERIES = 1_024;
/** Longest zone name taken from a heartbeat (a DNS label's worth, with room for a prefix). */
const MAX_ZONE_LENGTH = 253;
/** A service as a heartbeat names it: `namespace/name`, each at most 253 characters, without the NUL that separates a series key. */
const SERVICE_NAME = /^[^/\u0000]{1,253}\/[^/\u0000]{1,253}$/;

interface Slot {
  start: number;
  requests: number;
  /** Responses with a 5xx status, the gateway's own (502, 503, 504) included. */
  serverErrors: number;
  histogram: LatencyHistogram;
  gateways: Set<string>;
  /**
   * The periods the slot's heartbeats covered, added up. Heartbeats every 2 s land 2 or 3 to a
   * 5-s slot; dividing by the slot's length would swing a steady rate by ±20%, dividing by what the
   * heartbeats covered (per gateway) does not.
   */
  reportedMs: number;
  /** Retries the gateways sent, and the failures they answered themselves (the dashboard's traffic charts). */
  retries: number;
  rateLimited: number;
  breakerOpen: number;
  timeouts: number;
}

interface Series {
  /** When this replica first heard from the pool and zone (or of the upstream zone): a window is never taken to reach back before it. */
  since: number;
  slots: Slot[];
}

export interface TrafficReading {
  /** Answers the gateways gave; for an upstream zone, tries sent to its endpoints. */
  requests: number;
  /** Of those, 5xx answers; for an upstream zone, tries that ended in a 5xx answer or without an answer. */
  serverErrors: number;
  histogram: LatencyHistogram;
  /** Gateways that sent statistics within the window. */
  reportingGateways: string[];
  /** How much time the reading covers: the window, or less when this replica has not heard from the pool for that long. */
  coveredMs: number;
}

export class PoolTrafficWindow {
  private readonly series = new Map<string, Series>();
  /** Per upstream zone ("" for endpoints without one). */
  private readonly upstream = new Map<string, Series>();
  /** Per service and zone of the reporting gateways. */
  private readonly services = new Map<string, Series>();

  /** Adds one heartbeat's counters; statistics that are not the protocol's (a bad or foreign agent) are ignored, never half-counted. */
  add(gateway: { name: string; pool: string; zone: string }, stats: HeartbeatStats, now: number): void {
    if (!isCount(stats?.requests)) return;
    const periodMs = isCount(stats.periodMs) ? stats.periodMs : 0;
    const histogram = stats.latencyHistogram;
    const serverErrors = stats.responses?.['5xx'];
    const slot = this.slotOf(this.series, seriesKey(gateway.pool, gateway.zone), periodMs, now);
    slot.requests += stats.requests;
    if (isCount(serverErrors)) slot.serverErrors += serverErrors;
    if (isHistogram(histogram)) addHistogram(slot.histogram, histogram);
    slot.gateways.add(gateway.name);
    slot.reportedMs += periodMs;
    if (isCount(stats.retries)) slot.retries += stats.retries;
    const errors = stats.errors;
    if (isCount(errors?.rateLimited)) slot.rateLimited += errors.rateLimited;
    if (isCount(errors?.breakerOpen)) slot.breakerOpen += errors.breakerOpen;
    if (isCount(errors?.timeout)) slot.timeouts += errors.timeout;
    for (const entry of validUpstreamZones(stats.upstreamZones)) {
      if (!this.upstream.has(entry.zone) && !makeRoom(this.upstream, MAX_UPSTREAM_SERIES, now)) continue;
      const upstreamSlot = this.slotOf(this.upstream, entry.zone, periodMs, now);
      upstreamSlot.requests += entry.requests;
      upstreamSlot.serverErrors += entry.serverErrors;
      addHistogram(upstreamSlot.histogram, entry.latencyHistogram);
      upstreamSlot.gateways.add(gateway.name);
      upstreamSlot.reportedMs += periodMs;
    }
    for (const entry of validServices(stats.services)) {
      const key = seriesKey(entry.service, gateway.zone);
      if (!this.services.has(key) && !makeRoom(this.services, MAX_SERVICE_SERIES, now)) continue;
      const serviceSlot = this.slotOf(this.services, key, periodMs, now);
      serviceSlot.requests += entry.requests;
      serviceSlot.serverErrors += entry.serverErrors;
      addHistogram(serviceSlot.histogram, entry.latencyHistogram);
      serviceSlot.gateways.add(gateway.name);
      serviceSlot.reportedMs += periodMs;
      serviceSlot.retries += entry.retries;
      serviceSlot.rateLimited += entry.rateLimited;
      serviceSlot.breakerOpen += entry.breakerOpen;
      serviceSlot.timeouts += entry.timeouts;
    }
  }

  /** The pool's traffic in one zone, or in all zones when `zone` is undefined, over the `windowMs` before `now`. */
  read(pool: string, zone: string | undefined, windowMs: number, now: number): TrafficReading {
    return this.readWhere(this.series, (key) => {
      const [seriesPool, seriesZone] = splitKey(key);
      return seriesPool === pool && (zone === undefined || seriesZone === zone);
    }, windowMs, now);
  }

  /** Traffic through every gateway of one zone, whatever its pool (what a drill of the zone reports). */
  readZone(zone: string, windowMs: number, now: number): TrafficReading {
    return this.readWhere(this.series, (key) => splitKey(key)[1] === zone, windowMs, now);
  }

  /**
   * Tries every gateway, of any zone and pool, sent to endpoints of `zone` ("": endpoints without a
   * zone): the failover controller's error rate and latency of the zone. `reportingGateways` are
   * the gateways that sent some there within the window; `coveredMs` runs from when this replica
   * first heard of tries to the zone.
   */
  readUpstreamZone(zone: string, windowMs: number, now: number): TrafficReading {
    return this.readWhere(this.upstream, (key) => key === zone, windowMs, now);
  }

  /**
   * Every pool and zone's slots that ended after `from` and by `to` (milliseconds), oldest first
   * (then by pool and zone): the dashboard's traffic charts. A slot still running is left out, so a
   * point never changes once given; only series that had reports during a slot have a point there.
   */
  points(from: number, to: number): TrafficPoint[] {
    return endedSlots(this.series, from, to).map(({ name: pool, zone, slot }) => ({ time: new Date(slot.start).toISOString(), pool, zone, ...slotFigures(slot) }));
  }

  /**
   * Every service and zone's slots that ended after `from` and by `to`, as `points` lists those of
   * pools (then by service and zone): the dashboard's per-service charts. The zone is the reporting
   * gateways', as in `points`.
   */
  servicePoints(from: number, to: number): ServiceTrafficPoint[] {
    return endedSlots(this.services, from, to).map(({ name: service, zone, slot }) => ({ time: new Date(slot.start).toISOString(), service, zone, ...slotFigures(slot) }));
  }

  /** The slot of `now` in the series `key`, created (and old slots dropped) as needed. */
  private slotOf(all: Map<string, Series>, key: string, periodMs: number, now: number): Slot {
    let series = all.get(key);
    // The first heartbeat's counts cover the period before it: the series starts there, or a fresh control plane would read too high a rate.
    if (!series) all.set(key, (series = { since: now - periodMs, slots: [] }));
    const start = now - (now % SLOT_MS);
    let slot = series.slots[series.slots.length - 1];
    if (!slot || slot.start !== start) {
      slot = { start, requests: 0, serverErrors: 0, histogram: emptyHistogram(), gateways: new Set(), reportedMs: 0, retries: 0, rateLimited: 0, breakerOpen: 0, timeouts: 0 };
      series.slots.push(slot);
      while (series.slots.length > 0 && series.slots[0].start < now - MAX_WINDOW_MS - SLOT_MS) series.slots.shift();
    }
    return slot;
  }

  private readWhere(all: Map<string, Series>, matches: (key: string) => boolean, windowMs: number, now: number): TrafficReading {
    const from = now - windowMs;
    const reading: TrafficReading = { requests: 0, serverErrors: 0, histogram: emptyHistogram(), reportingGateways: [], coveredMs: 0 };
    const gateways = new Set<string>();
    let since = now;
    for (const [key, series] of all) {
      if (!matches(key)) continue;
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

/**
 * Whether a new series may be added to `all`: below `bound`, or once series nobody reported for the
 * longest window are dropped. A series still reported is never dropped for a new one: names made up
 * by a misbehaving agent cannot push out the history of real ones.
 */
function makeRoom(all: Map<string, Series>, bound: number, now: number): boolean {
  if (all.size < bound) return true;
  for (const [key, series] of all) {
    const last = series.slots[series.slots.length - 1];
    if (!last || last.start < now - MAX_WINDOW_MS - SLOT_MS) all.delete(key);
  }
  return all.size < bound;
}

/** The slots of two-part series (pool or service, and zone) that ended after `from` and by `to`, oldest first, then by name and zone. */
function endedSlots(all: Map<string, Series>, from: number, to: number): Array<{ name: string; zone: string; slot: Slot }> {
  const ended: Array<{ name: string; zone: string; slot: Slot }> = [];
  for (const [key, series] of all) {
    const [name, zone] = splitKey(key);
    for (const slot of series.slots) {
      const end = slot.start + SLOT_MS;
      if (end > from && end <= to) ended.push({ name, zone, slot });
    }
  }
  return ended.sort((a, b) => a.slot.start - b.slot.start || compare(a.name, b.name) || compare(a.zone, b.zone));
}

/**
 * What a traffic point says of its slot, whichever series it is of. Rates divide by the time the
 * slot's heartbeats covered per gateway (their periods added up, over the gateways), and counts are
 * scaled from that time to the slot's 5 s: exact when the gateways report alike, and never the
 * ±20% swing of 2-s heartbeats landing 2 or 3 to a slot. Heartbeats without a period count as
 * covering the slot.
 */
function slotFigures(slot: Slot): Omit<TrafficPoint, 'time' | 'pool' | 'zone'> {
  const coveredMs = slot.reportedMs > 0 && slot.gateways.size > 0 ? slot.reportedMs / slot.gateways.size : SLOT_MS;
  const toSlot = SLOT_MS / coveredMs;
  return {
    gateways: slot.gateways.size,
    requestsPerSecond: slot.requests / (coveredMs / 1000),
    serverErrorPercent: slot.requests > 0 ? (slot.serverErrors / slot.requests) * 100 : null,
    p50Ms: histogramQuantile(0.5, slot.histogram),
    p95Ms: histogramQuantile(0.95, slot.histogram),
    p99Ms: histogramQuantile(0.99, slot.histogram),
    rateLimited: slot.rateLimited * toSlot,
    retries: slot.retries * toSlot,
    breakerOpen: slot.breakerOpen * toSlot,
    timeouts: slot.timeouts * toSlot,
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The well-formed entries of a list in a heartbeat, each under its key. An entry `read` refuses is
 * left out whole, as are two entries under one key (which is right cannot be told: neither counts);
 * a list that is not one or is longer than the protocol allows is left out whole.
 */
function wellFormed<T>(entries: unknown, max: number, read: (entry: Record<string, unknown>) => { key: string; entry: T } | undefined): T[] {
  if (!Array.isArray(entries) || entries.length > max) return [];
  const valid = new Map<string, T>();
  const duplicated = new Set<string>();
  for (const candidate of entries as unknown[]) {
    if (typeof candidate !== 'object' || candidate === null) continue;
    const found = read(candidate as Record<string, unknown>);
    if (!found) continue;
    if (valid.has(found.key)) duplicated.add(found.key);
    else valid.set(found.key, found.entry);
  }
  for (const key of duplicated) valid.delete(key);
  return [...valid.values()];
}

/** The well-formed entries of `upstreamZones`: no count that is not one, no more failed tries than tries, a histogram of the protocol's shape. */
function validUpstreamZones(entries: unknown): UpstreamZoneStats[] {
  return wellFormed(entries, MAX_UPSTREAM_ZONES, ({ zone, requests, serverErrors, latencyHistogram }) => {
    if (typeof zone !== 'string' || zone.length > MAX_ZONE_LENGTH || !isCount(requests) || !isCount(serverErrors) || serverErrors > requests) return undefined;
    if (!isBucketed(latencyHistogram)) return undefined;
    return { key: zone, entry: { zone, requests, serverErrors, latencyHistogram } };
  });
}

/**
 * The well-formed entries of `services`: a `namespace/name`, counts that are counts, no more 5xx
 * answers or answers the gateway gave itself (rate limited, breaker open, timeout) than answers,
 * a histogram of the protocol's shape.
 */
function validServices(entries: unknown): ServiceTraffic[] {
  return wellFormed(entries, MAX_SERVICES_PER_HEARTBEAT, ({ service, requests, serverErrors, rateLimited, retries, breakerOpen, timeouts, latencyHistogram }) => {
    if (typeof service !== 'string' || !SERVICE_NAME.test(service) || !isCount(requests) || !isCount(retries)) return undefined;
    if (!isCount(serverErrors) || !isCount(rateLimited) || !isCount(breakerOpen) || !isCount(timeouts) || Math.max(serverErrors, rateLimited, breakerOpen, timeouts) > requests) return undefined;
    if (!isBucketed(latencyHistogram)) return undefined;
    return { key: service, entry: { service, requests, serverErrors, rateLimited, retries, breakerOpen, timeouts, latencyHistogram } };
  });
}

/** A histogram in the protocol's buckets (LATENCY_BUCKETS_MS and one above). */
function isBucketed(histogram: unknown): histogram is LatencyHistogram {
  return isHistogram(histogram) && histogram.counts.length === LATENCY_BUCKETS_MS.length + 1;
}

function isHistogram(histogram: unknown): histogram is LatencyHistogram {
  const candidate = histogram as LatencyHistogram | undefined;
  return !!candidate && Array.isArray(candidate.counts) && candidate.counts.every(isCount) && Number.isFinite(candidate.sumMs) && candidate.sumMs >= 0;
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
