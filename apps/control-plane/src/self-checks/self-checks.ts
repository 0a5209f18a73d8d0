/**
 * Self-checks: what makes the mesh's dashboards lie, found from what the control plane already
 * sees. Pure rules over observations, time passed in; the service gathers the observations.
 */
import type { Lifecycle, SelfCheckFinding } from '@portolan/api';
import { isRoutable } from '../registry/lifecycle';

export type { SelfCheckFinding, SelfCheckName } from '@portolan/api';

export interface GatewayObservation {
  name: string;
  namespace: string;
  zone: string;
  phase: Lifecycle;
  lastHeartbeat: number;
  /** When its heartbeats last carried traffic statistics; undefined if they never did here. */
  statsAt?: number;
}

/** Statistics are late after this many heartbeat intervals (the default node TTL is three). */
export const STATS_LATE_INTERVALS = 3;


/**
 * A gateway that keeps heartbeating but whose heartbeats stopped carrying statistics: its agent's
 * metrics pipeline broke, and every panel fed by it shows stale numbers. Gateways that never sent
 * statistics here are not judged (another replica receives them, or an agent without statistics).
 */
export function gatewaysWithStoppedMetrics(gateways: readonly GatewayObservation[], now: number, heartbeatIntervalMs: number): SelfCheckFinding[] {
  const late = STATS_LATE_INTERVALS * heartbeatIntervalMs;
  return gateways
    .filter((g) => isRoutable(g.phase) && g.statsAt !== undefined && now - g.statsAt > late && g.lastHeartbeat > g.statsAt)
    .map((g) => ({
      check: 'GatewayMetricsStopped',
      object: { kind: 'GatewayNode', namespace: g.namespace, name: g.name },
      message: `gateway ${g.name} (zone ${g.zone}) heartbeats but sent no traffic statistics for ${Math.round((now - g.statsAt!) / 1000)}s: its numbers on dashboards and for the autoscaler are stale; check the gateway's log and its /metrics`,
    }));
}

export interface ZoneTrafficObservation {
  zone: string;
  /** Routable gateways in the zone that have sent statistics to this replica. */
  gateways: number;
  /** Statistics reports from the zone's gateways within the window. */
  reports: number;
  /** Requests those reports counted. */
  requests: number;
}

/**
 * A zone with routable gateways but no traffic data over a whole window: no statistics at all, or
 * no requests while other zones carried some. Judged only once the control plane has watched a
 * whole window, so a start-up is not reported.
 */
export function zonesWithoutTrafficData(zones: readonly ZoneTrafficObservation[], watchedForMs: number, windowMs: number): SelfCheckFinding[] {
  if (watchedForMs < windowMs) return [];
  const seconds = Math.round(windowMs / 1000);
  const busyZones = zones.filter((z) => z.requests > 0).map((z) => z.zone);
  const findings: SelfCheckFinding[] = [];
  for (const zone of zones) {
    if (zone.gateways === 0) continue;
    if (zone.reports === 0) {
      findings.push({
        check: 'ZoneWithoutTrafficData',
        object: { kind: 'Zone', name: zone.zone },
        message: `zone ${zone.zone} has ${zone.gateways} routable gateway(s) but none reported traffic statistics in the last ${seconds}s: its latency and error panels are empty`,
      });
    } else if (zone.requests === 0 && busyZones.length > 0) {
      findings.push({
        check: 'ZoneWithoutTrafficData',
        object: { kind: 'Zone', name: zone.zone },
        message: `zone ${zone.zone} carried no requests in the last ${seconds}s while ${busyZones.join(', ')} did: its panels show nothing; check what sends traffic to its gateways`,
      });
    }
  }
  return findings;
}

/**
 * Requests per zone over a sliding window, from the statistics each heartbeat carries (one
 * heartbeat period each). Kept here because the registry holds only the latest period.
 */
export class ZoneTrafficWindow {
  private reports: Array<{ zone: string; requests: number; at: number }> = [];

  constructor(private readonly windowMs: number) {}

  record(zone: string, requests: number, at: number): void {
    this.reports.push({ zone, requests, at });
  }

  /** Reports and requests per zone within the window ending at `now`. */
  totals(now: number): Map<string, { reports: number; requests: number }> {
    this.reports = this.reports.filter((report) => report.at > now - this.windowMs);
    const totals = new Map<string, { reports: number; requests: number }>();
    for (const report of this.reports) {
      const total = totals.get(report.zone) ?? { reports: 0, requests: 0 };
      total.reports++;
      total.requests += report.requests;
      totals.set(report.zone, total);
    }
    return totals;
  }
}
