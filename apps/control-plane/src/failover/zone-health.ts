/**
 * The decisions of the failover controller, as pure functions: per zone of a FailoverPolicy's
 * target services, is the zone Healthy or FailedOver. The controller gathers each zone's signals
 * (endpoints, gateways, the tries every gateway sent to the zone's endpoints over the measurement
 * window), calls `evaluateZones` with the states it got back last time and the current time,
 * writes the transitions out and keeps the new states. Nothing here reads a clock or does I/O; times are milliseconds.
 *
 * A zone fails over when it looks unhealthy (any one condition of spec.unhealthyWhen) on every
 * evaluation for at least `for`; it fails back when it looks healthy on every evaluation for at
 * least failback.healthyFor. One reading of the other kind restarts the wait, so a blip shorter
 * than the wait changes nothing (hysteresis against flapping).
 *
 * Every zone is judged on its own, even when that fails over every zone at once: what to do when
 * all zones are bad is the gateways' business (computeZoneWeights in @portolan/api still sends
 * traffic to the best failed-over zone, as Envoy's panic mode does), not this state machine's.
 */
import { formatTime, FailoverPolicySpecSchema, parseDuration, schemaDefaults, type FailoverPolicySpec, type FailoverPolicyStatus } from '@portolan/api';

const DEFAULTS = schemaDefaults(FailoverPolicySpecSchema) as {
  unhealthyWhen: { healthyEndpointsBelowPercent: number; for: string };
  failback: { healthyFor: string };
};

/** Error rate and latency are measured over `for`, but never over less than this (spec.unhealthyWhen.for). */
export const MIN_MEASUREMENT_WINDOW_MS = 5_000;

export type ZoneFailoverState = 'Healthy' | 'FailedOver';

export interface ZoneSignals {
  zone: string;
  /** Endpoints of the target services in the zone: registered (any phase) and those taking traffic. Static endpoints count as healthy. */
  endpoints: { total: number; healthy: number };
  /** Gateways in the zone: registered, and routable (ready, not draining, heartbeating). */
  gateways: { total: number; routable: number };
  /**
   * Tries sent to the zone's endpoints over the measurement window, by every gateway of any zone
   * (not the traffic through the zone's own gateways, which goes elsewhere once it failed over).
   */
  requests: number;
  /** Share of those tries that ended in a 5xx answer or without an answer, 0-100; null when no try went to the zone's endpoints (as for a failed-over zone). */
  errorRatePercent: number | null;
  /** p99 latency of those tries, until their answer started; null when no try went to the zone's endpoints. */
  p99LatencyMs: number | null;
}

/** A FailoverPolicy's spec.unhealthyWhen and spec.failback with the defaults filled in and durations in milliseconds. */
export interface FailoverThresholds {
  healthyEndpointsBelowPercent: number;
  /** Absent: gateways are not counted. */
  healthyGatewaysBelowPercent?: number;
  /** Absent: errors are not counted. */
  errorRateAbovePercent?: number;
  /** Absent: latency is not counted. */
  p99LatencyAboveMs?: number;
  /** How long a zone must look unhealthy before it fails over; 0: at once. */
  forMs: number;
  /** How long a failed-over zone must look healthy before it fails back; 0: at once. */
  healthyForMs: number;
  /** The window ZoneSignals' requests, error rate and latency are to be measured over: `forMs`, at least MIN_MEASUREMENT_WINDOW_MS. */
  measurementWindowMs: number;
}

export function failoverThresholds(spec: FailoverPolicySpec): FailoverThresholds {
  const when = spec.unhealthyWhen ?? {};
  const forMs = parseDuration(when.for ?? DEFAULTS.unhealthyWhen.for);
  return {
    healthyEndpointsBelowPercent: when.healthyEndpointsBelowPercent ?? DEFAULTS.unhealthyWhen.healthyEndpointsBelowPercent,
    ...(when.healthyGatewaysBelowPercent !== undefined ? { healthyGatewaysBelowPercent: when.healthyGatewaysBelowPercent } : {}),
    ...(when.errorRateAbovePercent !== undefined ? { errorRateAbovePercent: when.errorRateAbovePercent } : {}),
    ...(when.p99LatencyAbove !== undefined ? { p99LatencyAboveMs: parseDuration(when.p99LatencyAbove) } : {}),
    forMs,
    healthyForMs: parseDuration(spec.failback?.healthyFor ?? DEFAULTS.failback.healthyFor),
    measurementWindowMs: Math.max(forMs, MIN_MEASUREMENT_WINDOW_MS),
  };
}

/** At most one decimal, without a trailing ".0"; rounded `down`, `up` or to the nearest, so that a number said to be below or above a threshold never reads as equal to it. */
function formatNumber(value: number, rounding: 'down' | 'up' | 'nearest' = 'nearest'): string {
  const scaled = value * 10;
  // The epsilon keeps float noise (0.29 * 100 = 28.999999999999996) from moving the last digit.
  const rounded = rounding === 'down' ? Math.floor(scaled + 1e-9) : rounding === 'up' ? Math.ceil(scaled - 1e-9) : Math.round(scaled);
  return String(rounded / 10);
}

const percentOf = (part: number, total: number, rounding: 'down' | 'nearest') => `${formatNumber((part * 100) / total, rounding)}%`;

/** A zone with neither endpoints nor gateways has nothing to judge. */
function isJudged(signals: ZoneSignals): boolean {
  return signals.endpoints.total > 0 || signals.gateways.total > 0;
}

/**
 * Why a zone looks unhealthy now (one sentence with the numbers; several conditions are joined with
 * "; "), or undefined when it looks healthy. "Below 50%" means strictly below: exactly at a threshold
 * is healthy. Each condition is judged only when it can be: the endpoint share when the zone has
 * endpoints, the gateway share when it is configured and the zone has gateways, error rate and
 * latency when configured and measured (not null). A zone with no endpoints and no gateways is not
 * judged (undefined).
 */
export function unhealthyBecause(signals: ZoneSignals, thresholds: FailoverThresholds): string | undefined {
  if (!isJudged(signals)) return undefined;
  const problems: string[] = [];
  const { endpoints, gateways } = signals;
  // Compared in whole numbers (healthy / total < percent / 100) so no rounding decides a boundary.
  if (endpoints.total > 0 && endpoints.healthy * 100 < thresholds.healthyEndpointsBelowPercent * endpoints.total) {
    problems.push(`${endpoints.healthy} of ${endpoints.total} endpoints healthy (${percentOf(endpoints.healthy, endpoints.total, 'down')}), below ${thresholds.healthyEndpointsBelowPercent}%`);
  }
  const gatewaysBelow = thresholds.healthyGatewaysBelowPercent;
  if (gatewaysBelow !== undefined && gateways.total > 0 && gateways.routable * 100 < gatewaysBelow * gateways.total) {
    problems.push(`${gateways.routable} of ${gateways.total} gateways routable (${percentOf(gateways.routable, gateways.total, 'down')}), below ${gatewaysBelow}%`);
  }
  const errorsAbove = thresholds.errorRateAbovePercent;
  if (errorsAbove !== undefined && signals.errorRatePercent !== null && signals.errorRatePercent > errorsAbove) {
    problems.push(`${formatNumber(signals.errorRatePercent, 'up')}% of ${signals.requests} tries to the zone's endpoints failed (5xx or no answer), above ${errorsAbove}%`);
  }
  const latencyAbove = thresholds.p99LatencyAboveMs;
  if (latencyAbove !== undefined && signals.p99LatencyMs !== null && signals.p99LatencyMs > latencyAbove) {
    problems.push(`p99 latency ${formatNumber(signals.p99LatencyMs, 'up')} ms, above ${latencyAbove} ms`);
  }
  return problems.length ? problems.join('; ') : undefined;
}

/** The numbers the thresholds look at, without a verdict: "4 of 4 endpoints healthy, p99 latency 80 ms". */
export function describeZoneSignals(signals: ZoneSignals, thresholds: FailoverThresholds): string {
  if (!isJudged(signals)) return 'no endpoints or gateways';
  const { endpoints, gateways } = signals;
  const parts = [endpoints.total > 0 ? `${endpoints.healthy} of ${endpoints.total} endpoints healthy` : 'no endpoints'];
  if (thresholds.healthyGatewaysBelowPercent !== undefined && gateways.total > 0) parts.push(`${gateways.routable} of ${gateways.total} gateways routable`);
  if (thresholds.errorRateAbovePercent !== undefined && signals.errorRatePercent !== null) {
    parts.push(`${formatNumber(signals.errorRatePercent)}% of ${signals.requests} tries to the zone's endpoints failed`);
  }
  if (thresholds.p99LatencyAboveMs !== undefined && signals.p99LatencyMs !== null) parts.push(`p99 latency ${formatNumber(signals.p99LatencyMs)} ms`);
  return parts.join(', ');
}

export interface ZoneState {
  zone: string;
  state: ZoneFailoverState;
  /** When the zone entered this state (or was first seen, for a zone that never changed state). */
  since: number;
  /** When the condition that changed the state was first seen; undefined for a zone that never changed state. */
  detectedAt?: number;
  /** Why the zone is in this state, with the numbers. A FailedOver zone's reason follows its latest unhealthy reading; a Healthy zone's stays what it was when it entered the state. */
  reason: string;
  /** When the current opposite condition started (bad while Healthy, good while FailedOver); undefined when none is pending. */
  pendingSince?: number;
  /** The latest reading of the pending condition. */
  pendingReason?: string;
}

export interface ZoneTransition {
  zone: string;
  from: ZoneFailoverState;
  to: ZoneFailoverState;
  /** When the condition was first seen (the start of the wait). */
  detectedAt: number;
  /** When the wait was over: the evaluation that made the transition. */
  decidedAt: number;
  reason: string;
}

export interface ZoneEvaluation {
  /** Sorted by zone. */
  states: Map<string, ZoneState>;
  /** Sorted by zone. */
  transitions: ZoneTransition[];
}

/** `state` without a pending condition. */
function settled(state: ZoneState): ZoneState {
  const { pendingSince: _pendingSince, pendingReason: _pendingReason, ...rest } = state;
  return rest;
}

/**
 * One evaluation at `now`: the new state of every zone in `signals` (one entry per zone), and the
 * transitions that happened now.
 *
 * A zone seen for the first time starts Healthy (since now) and is judged at once, so with `for`
 * 0 it may fail over on its first evaluation. A zone that is no longer in `signals` is dropped when
 * it is Healthy; when it is FailedOver it is kept, and its absence counts as a healthy reading
 * ("no endpoints or gateways", like a zone that has neither): it fails back after healthyFor, which
 * is reported as a transition, and is dropped then. A zone without endpoints has no traffic to
 * move, so keeping it failed over would only leave a stale entry in the status.
 */
export function evaluateZones(previous: ReadonlyMap<string, ZoneState>, signals: readonly ZoneSignals[], thresholds: FailoverThresholds, now: number): ZoneEvaluation {
  const current = new Map(signals.map((reading) => [reading.zone, reading]));
  const zones = new Set(current.keys());
  for (const [zone, state] of previous) if (state.state === 'FailedOver') zones.add(zone);

  const states = new Map<string, ZoneState>();
  const transitions: ZoneTransition[] = [];
  for (const zone of [...zones].sort()) {
    const reading = current.get(zone);
    const problem = reading && unhealthyBecause(reading, thresholds);
    const summary = reading ? describeZoneSignals(reading, thresholds) : 'no endpoints or gateways';
    const before: ZoneState = previous.get(zone) ?? { zone, state: 'Healthy', since: now, reason: `first seen: ${summary}` };

    if (before.state === 'Healthy') {
      if (!problem) {
        states.set(zone, settled(before));
        continue;
      }
      const pendingSince = before.pendingSince ?? now;
      if (now - pendingSince >= thresholds.forMs) {
        states.set(zone, { zone, state: 'FailedOver', since: now, detectedAt: pendingSince, reason: problem });
        transitions.push({ zone, from: 'Healthy', to: 'FailedOver', detectedAt: pendingSince, decidedAt: now, reason: problem });
      } else {
        states.set(zone, { ...before, pendingSince, pendingReason: problem });
      }
      continue;
    }

    // FailedOver.
    if (problem) {
      states.set(zone, { ...settled(before), reason: problem });
      continue;
    }
    const recovery = `healthy again: ${summary}`;
    const pendingSince = before.pendingSince ?? now;
    if (now - pendingSince >= thresholds.healthyForMs) {
      transitions.push({ zone, from: 'FailedOver', to: 'Healthy', detectedAt: pendingSince, decidedAt: now, reason: recovery });
      if (reading) states.set(zone, { zone, state: 'Healthy', since: now, detectedAt: pendingSince, reason: recovery });
    } else {
      states.set(zone, { ...before, pendingSince, pendingReason: recovery });
    }
  }
  return { states, transitions };
}

type ZoneStatus = NonNullable<FailoverPolicyStatus['zones']>[number];


/**
 * status.zones for `states`: the zones the controller decided on, i.e. that are FailedOver or have
 * changed state at least once (they have a detectedAt), sorted by zone. A zone not listed is
 * Healthy. Pending conditions are not written.
 */
export function zoneStatuses(states: ReadonlyMap<string, ZoneState>): ZoneStatus[] {
  return [...states.values()]
    .filter((state) => state.state === 'FailedOver' || state.detectedAt !== undefined)
    .sort((a, b) => (a.zone < b.zone ? -1 : a.zone > b.zone ? 1 : 0))
    .map((state) => ({
      zone: state.zone,
      state: state.state,
      since: formatTime(state.since),
      ...(state.detectedAt !== undefined ? { detectedAt: formatTime(state.detectedAt) } : {}),
      reason: state.reason,
    }));
}

/**
 * The states a controller starts from when it takes over (after a restart or a leader change), read
 * back from status.zones. Pending conditions were not written, so their waits start again: a
 * FailedOver zone waits a full healthyFor before it fails back. A time that does not parse reads
 * as `now`.
 */
export function zoneStatesFromStatus(zones: readonly ZoneStatus[] | undefined, now: number): Map<string, ZoneState> {
  const time = (value: string) => {
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? now : ms;
  };
  const states = new Map<string, ZoneState>();
  for (const zone of zones ?? []) {
    states.set(zone.zone, {
      zone: zone.zone,
      state: zone.state,
      since: time(zone.since),
      ...(zone.detectedAt !== undefined ? { detectedAt: time(zone.detectedAt) } : {}),
      reason: zone.reason,
    });
  }
  return states;
}
