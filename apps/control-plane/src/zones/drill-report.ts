/**
 * The report of a failover drill, and the figures derived from its timeline and its traffic
 * samples. Pure: the drill (failover-drill.ts) feeds it what it observed.
 *
 * What the figures can and cannot say: traffic comes from gateway heartbeats, which count requests
 * and 5xx answers per gateway, by the gateway's zone. So `byZone` is the traffic that went through
 * each zone's gateways, wherever the endpoints were. How much the drained zone's endpoints still
 * received is in heartbeats too (tries per endpoint zone, PoolTrafficWindow.readUpstreamZone, what
 * the failover controller judges a zone by) but is not among a drill's figures. A heartbeat is
 * counted when it arrives, and carries the counters of the period before it
 * (PORTOLAN_HEARTBEAT_INTERVAL), so the drill's totals may include up to one heartbeat period of
 * traffic from just before the drain and leave out as much from just before the end.
 */

import { parseDuration } from '@portolan/api';

export const DRILL_KIND = 'FailoverDrill';

/**
 * How long past its duration a drill may still be ending: undraining and waiting for the gateways
 * (10 s each at most), and a drain whose wait outlasted a short duration. A drill whose zone still
 * carries its reason past `startedAt + duration + DRILL_GRACE_MS` lost its control plane (killed,
 * crashed) before it could undrain: any replica may undrain the zone (failover-drills.service.ts).
 */
export const DRILL_GRACE_MS = 30_000;

/**
 * The reason a drill drains its zone with. It marks the drain as the drill's, on every replica:
 * the drill undoes only a drain that still has it, and an operator's drain replaces it.
 */
export const drillReason = (id: string) => `drill ${id}`;

/** The id of the drill that drained a zone with `reason`; undefined for any other reason. */
export function drillIdOf(reason: string | undefined): string | undefined {
  return /^drill (\S+)$/.exec(reason ?? '')?.[1];
}

export type DrillState = 'Running' | 'Completed' | 'Failed';
export type DrillEvent = 'drain-requested' | 'traffic-shifted' | 'undrain-requested' | 'traffic-returned';

export interface DrillTimelineEntry {
  /** RFC 3339 with milliseconds. */
  at: string;
  event: DrillEvent;
  detail: string;
}

export interface ZoneTraffic {
  zone: string;
  requests: number;
  serverErrors: number;
}

export interface DrillFigures {
  /** From drain-requested to traffic-shifted (every routable gateway runs the drain); null until then, or when they never all did. */
  shiftMs: number | null;
  /** From undrain-requested to traffic-returned; null until then, or when they never all did. */
  recoveryMs: number | null;
  /** Through every zone's gateways, from the drain request to the last sample. */
  requestsDuringDrill: number;
  serverErrorsDuringDrill: number;
  /** 5xx share of those requests, two decimals; null without requests. */
  errorRatePercent: number | null;
  /** Traffic through each zone's gateways, by zone. */
  byZone: ZoneTraffic[];
}

export interface DrillReport {
  id: string;
  zone: string;
  /** As asked, normalized (e.g. "30s"). */
  duration: string;
  state: DrillState;
  /** Who asked for the drill. */
  requestedBy: string;
  startedAt: string;
  /**
   * RFC 3339: by when the drill has ended and undrained its zone, at the latest (startedAt +
   * duration + DRILL_GRACE_MS). A zone still drained by the drill after it was abandoned.
   */
  deadline: string;
  timeline: DrillTimelineEntry[];
  figures: DrillFigures;
  /** Why the drill failed. */
  error?: string;
}

/** Cumulative request and 5xx counts per zone, as read at one moment. */
export type TrafficTotals = ReadonlyMap<string, { requests: number; serverErrors: number }>;

export const timestampOf = (ms: number) => new Date(ms).toISOString();

/** The deadline of a drill that started at `startedMs` for `durationMs`, in ms. */
export const drillDeadline = (startedMs: number, durationMs: number) => startedMs + durationMs + DRILL_GRACE_MS;

/**
 * The deadline of a stored report, in ms: its `deadline`, or for a report written before reports
 * had one, startedAt + duration + grace. Undefined when the report gives neither (not a report).
 */
export function deadlineOf(report: unknown): number | undefined {
  if (typeof report !== 'object' || report === null) return undefined;
  const { deadline, startedAt, duration } = report as Partial<Record<keyof DrillReport, unknown>>;
  const stated = typeof deadline === 'string' ? Date.parse(deadline) : NaN;
  if (Number.isFinite(stated)) return stated;
  const started = typeof startedAt === 'string' ? Date.parse(startedAt) : NaN;
  if (!Number.isFinite(started) || typeof duration !== 'string') return undefined;
  try {
    return drillDeadline(started, parseDuration(duration));
  } catch {
    return undefined;
  }
}

/** Traffic between two readings of cumulative totals; a zone first seen in `latest` counts from zero. */
export function trafficBetween(baseline: TrafficTotals, latest: TrafficTotals): ZoneTraffic[] {
  return [...latest]
    .map(([zone, totals]) => ({
      zone,
      requests: totals.requests - (baseline.get(zone)?.requests ?? 0),
      serverErrors: totals.serverErrors - (baseline.get(zone)?.serverErrors ?? 0),
    }))
    .sort((a, b) => (a.zone < b.zone ? -1 : a.zone > b.zone ? 1 : 0));
}

function between(timeline: readonly DrillTimelineEntry[], from: DrillEvent, to: DrillEvent, incomplete: ReadonlySet<DrillEvent>): number | null {
  const start = timeline.find((entry) => entry.event === from);
  const end = timeline.find((entry) => entry.event === to);
  return start && end && !incomplete.has(to) ? Date.parse(end.at) - Date.parse(start.at) : null;
}

/**
 * `incomplete`: steps whose wait for the gateways ended with some still pending. Their entry in
 * the timeline says which gateways; their time measures the wait, not the shift, so it is no figure.
 */
export function drillFigures(timeline: readonly DrillTimelineEntry[], byZone: readonly ZoneTraffic[], incomplete: ReadonlySet<DrillEvent> = new Set()): DrillFigures {
  const requests = byZone.reduce((sum, zone) => sum + zone.requests, 0);
  const serverErrors = byZone.reduce((sum, zone) => sum + zone.serverErrors, 0);
  return {
    shiftMs: between(timeline, 'drain-requested', 'traffic-shifted', incomplete),
    recoveryMs: between(timeline, 'undrain-requested', 'traffic-returned', incomplete),
    requestsDuringDrill: requests,
    serverErrorsDuringDrill: serverErrors,
    errorRatePercent: requests === 0 ? null : Math.round((serverErrors / requests) * 10_000) / 100,
    byZone: [...byZone],
  };
}

/** Warning when an operator should look: the drill failed, gateways answered 5xx, or some gateway never took the drain. */
export function needsAttention(report: DrillReport, gatewaysLeftBehind: boolean): boolean {
  return report.state === 'Failed' || report.figures.serverErrorsDuringDrill > 0 || gatewaysLeftBehind;
}

export function summarize(report: DrillReport): string {
  const { figures } = report;
  const ms = (value: number | null) => (value === null ? 'not measured' : `${value} ms`);
  const rate = figures.errorRatePercent === null ? 'no requests' : `${figures.requestsDuringDrill} requests, ${figures.serverErrorsDuringDrill} 5xx (${figures.errorRatePercent}%)`;
  const outcome = report.state === 'Failed' ? `failed: ${report.error}` : 'completed';
  return `failover drill ${report.id} of zone ${report.zone} (${report.duration}) ${outcome}; traffic shifted: ${ms(figures.shiftMs)}, returned: ${ms(figures.recoveryMs)}; ${rate}`;
}
