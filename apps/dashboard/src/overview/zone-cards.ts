/**
 * The Overview's zone cards, from what the live feed and GET /v1/zones say: gateways by lifecycle,
 * the zone's traffic in the newest slot its gateways reported (pools added up), and what the
 * FailoverPolicies and drains decided. Pure, so the numbers a card shows are tested.
 */
import type { GatewayRow, Lifecycle, TrafficPoint, ZoneSummary } from '@portolan/api';
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

/** The newest slot of each zone, pools added up (requests-weighted error share; max of the p99s). */
export function latestZoneTraffic(series: Iterable<readonly TrafficPoint[]>): Map<string, { time: string; requestsPerSecond: number; serverErrorPercent: number | null; p99Ms: number | null }> {
  const newest = new Map<string, TrafficPoint[]>();
  for (const points of series) {
    const last = points[points.length - 1];
    if (!last) continue;
    const held = newest.get(last.zone);
    if (!held || held[0].time < last.time) newest.set(last.zone, [last]);
    else if (held[0].time === last.time) held.push(last);
  }
  const zones = new Map<string, { time: string; requestsPerSecond: number; serverErrorPercent: number | null; p99Ms: number | null }>();
  for (const [zone, points] of newest) {
    const requestsPerSecond = points.reduce((sum, point) => sum + point.requestsPerSecond, 0);
    const weighted = points.filter((point) => point.serverErrorPercent !== null);
    const weight = weighted.reduce((sum, point) => sum + point.requestsPerSecond, 0);
    const serverErrorPercent = weight > 0 ? weighted.reduce((sum, point) => sum + point.serverErrorPercent! * point.requestsPerSecond, 0) / weight : null;
    const p99s = points.map((point) => point.p99Ms).filter((value): value is number => value !== null);
    zones.set(zone, { time: points[0].time, requestsPerSecond, serverErrorPercent, p99Ms: p99s.length ? Math.max(...p99s) : null });
  }
  return zones;
}

export function zoneCards(gateways: readonly GatewayRow[], traffic: Iterable<readonly TrafficPoint[]>, zones: readonly ZoneSummary[]): ZoneCard[] {
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
  for (const [zone, latest] of latestZoneTraffic(traffic)) {
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
