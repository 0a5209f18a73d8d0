/**
 * The Overview's zone cards, from what the live feed and GET /v1/zones say: gateways by lifecycle,
 * the zone's traffic in the newest slot its gateways reported (pools added up), and what the
 * FailoverPolicies and drains decided. Pure, so the numbers a card shows are tested.
 */
import type { GatewayRow, Lifecycle, TrafficPoint, ZoneSummary } from '@portolan/api';
import { combineTraffic, groupTraffic } from '../charts/series';
import { healthOfErrorRate, worst, type Health } from '../health/health';

export interface ZoneCard {
  zone: string;
  gateways: Record<Lifecycle, number> & { total: number };
  /** Null when none of the zone's gateways reported in the newest slot: no data. */
  requestsPerSecond: number | null;
  serverErrorPercent: number | null;
  /** The slowest pool's p99: percentiles of different pools cannot be added up. */
  p99Ms: number | null;
  /** RFC 3339 start of the slot the traffic numbers come from. */
  trafficAt?: string;
  drained: boolean;
  drainReason?: string;
  /** FailoverPolicies that moved traffic away from the zone. */
  failedOverBy: Array<{ policy: string; since: string; reason: string }>;
  endpoints?: { total: number; healthy: number };
  health: Health;
}

const emptyCounts = () => ({ Healthy: 0, Degraded: 0, Draining: 0, Offline: 0, total: 0 });

/**
 * The newest slot of each zone, its pools combined as the charts combine them (charts/series.ts).
 * A zone whose newest slot started before `freshSinceMs` has no current numbers: its gateways
 * stopped reporting, and old numbers must not read as today's.
 */
export function latestZoneTraffic(traffic: ReadonlyMap<string, readonly TrafficPoint[]>, freshSinceMs = -Infinity): Map<string, { time: string; requestsPerSecond: number; serverErrorPercent: number | null; p99Ms: number | null }> {
  const zones = new Map<string, { time: string; requestsPerSecond: number; serverErrorPercent: number | null; p99Ms: number | null }>();
  for (const [zone, series] of groupTraffic(traffic, 'zone')) {
    const newest = combineTraffic(series).at(-1);
    if (newest && Date.parse(newest.time) >= freshSinceMs) zones.set(zone, { time: newest.time, requestsPerSecond: newest.requestsPerSecond, serverErrorPercent: newest.serverErrorPercent, p99Ms: newest.p99Ms });
  }
  return zones;
}

export function zoneCards(gateways: readonly GatewayRow[], traffic: ReadonlyMap<string, readonly TrafficPoint[]>, zones: readonly ZoneSummary[], freshSinceMs = -Infinity): ZoneCard[] {
  const cards = new Map<string, ZoneCard>();
  const cardOf = (zone: string) => {
    let card = cards.get(zone);
    if (!card) {
      card = { zone, gateways: emptyCounts(), requestsPerSecond: null, serverErrorPercent: null, p99Ms: null, drained: false, failedOverBy: [], health: 'NoData' };
      cards.set(zone, card);
    }
    return card;
  };
  for (const gateway of gateways) {
    const card = cardOf(gateway.zone);
    card.gateways[gateway.phase] += 1;
    card.gateways.total += 1;
  }
  for (const [zone, latest] of latestZoneTraffic(traffic, freshSinceMs)) {
    const card = cardOf(zone);
    card.requestsPerSecond = latest.requestsPerSecond;
    card.serverErrorPercent = latest.serverErrorPercent;
    card.p99Ms = latest.p99Ms;
    card.trafficAt = latest.time;
  }
  for (const summary of zones) {
    const card = cardOf(summary.zone);
    card.drained = summary.drained;
    if (summary.reason) card.drainReason = summary.reason;
    card.endpoints = summary.endpoints;
    card.failedOverBy = summary.failover.filter((entry) => entry.state === 'FailedOver').map(({ policy, since, reason }) => ({ policy, since, reason }));
  }
  for (const card of cards.values()) {
    const routable = card.gateways.Healthy + card.gateways.Degraded;
    const gatewayHealth: Health = card.gateways.total === 0 ? 'NoData' : routable === 0 ? 'Failing' : routable < card.gateways.total || card.gateways.Degraded > 0 ? 'Degraded' : 'Healthy';
    const decided: Health = card.failedOverBy.length > 0 ? 'Failing' : card.drained ? 'Degraded' : 'NoData';
    card.health = worst(gatewayHealth, healthOfErrorRate(card.serverErrorPercent), decided);
  }
  return [...cards.values()].sort((a, b) => a.zone.localeCompare(b.zone));
}
