/**
 * The rollout guard's verdict on one change of a policy, from pure numbers: what the gateways
 * running it answered (NACKs) and their traffic in the watch window against the same length of
 * time before the change (the baseline).
 *
 * A bound is only blamed on the change when the window is beyond it AND worse than the baseline:
 * an error rate or a latency the mesh already had is not the change's doing. Without traffic in
 * the window there is no verdict on rates (nothing to judge is not a regression): when bounds are
 * set the change is then unverified, not verified, since the guard the operator asked for could
 * not judge it (no request at all, or none whose heartbeat reached this control plane). Without
 * traffic before the change, the window is judged against the bound alone.
 */
import { formatDuration } from '@portolan/api';

/** Traffic through the gateways running the policy over one stretch of time. */
export interface TrafficFigures {
  requests: number;
  /** 5xx responses among `requests`. */
  serverErrors: number;
  /** p99 latency in milliseconds; null without a latency histogram (no requests, or old gateways). */
  p99Ms: number | null;
}

export interface GuardBounds {
  /** spec.guardedRollout.maxErrorRatePercent */
  maxErrorRatePercent?: number;
  /** spec.guardedRollout.maxP99Latency, in milliseconds. */
  maxP99LatencyMs?: number;
  /** spec.guardedRollout.rollbackOnNack (default true). */
  rollbackOnNack: boolean;
}

export interface GuardInput {
  baseline: TrafficFigures;
  window: TrafficFigures;
  /** Length of the window (and of the baseline), for the wording. */
  windowMs: number;
  bounds: GuardBounds;
  /** Gateways that rejected the configuration carrying the change. */
  nacks: number;
  /** Their messages (`gateway: resource: message`), quoted in the reason. */
  nackMessages?: readonly string[];
  /** How many gateways ran the change during the window, for the wording of an unverified verdict. */
  gateways?: number;
}

/** What made the guard roll back (the `reason` label of portolan_rollout_guard_rollbacks_total). */
export type RollbackCause = 'nack' | 'error_rate' | 'latency';

export interface GuardVerdict {
  rollback: boolean;
  /**
   * Set (true) when the change is neither rolled back nor verified: bounds on the error rate or the
   * latency are set, and no request went through the gateways running it during the window.
   */
  unverified?: true;
  /** Every finding, with the numbers, joined by "; ". */
  reason: string;
  /** The first cause that made it roll back; undefined when it does not. */
  cause?: RollbackCause;
}

interface Finding {
  regressed: boolean;
  text: string;
}

/** Share of requests that answered 5xx, in percent; null without requests. */
export function errorRatePercent(figures: Pick<TrafficFigures, 'requests' | 'serverErrors'>): number | null {
  return figures.requests > 0 ? (figures.serverErrors / figures.requests) * 100 : null;
}

/** 42.1 -> "42%", 4.25 -> "4.3%", 0.3 -> "0.3%", 0.046 -> "0.05%". */
export function formatPercent(value: number): string {
  return `${Number(value.toFixed(value >= 10 ? 0 : value >= 1 ? 1 : 2))}%`;
}

/** 870.4 -> "870 ms", 2.55 -> "2.6 ms". */
export function formatMs(value: number): string {
  return `${Number(value.toFixed(value >= 10 ? 0 : 1))} ms`;
}

const plural = (count: number, one: string, many = `${one}s`) => `${count} ${count === 1 ? one : many}`;

/** The NACK finding: a rejection is a regression when rollbackOnNack (the default). */
export function judgeNacks(nacks: number, rollbackOnNack: boolean, messages: readonly string[] = []): Finding {
  if (nacks === 0) return { regressed: false, text: 'no gateway rejected it' };
  const quoted = messages.length > 0 ? `: ${messages.slice(0, 3).join('; ')}${messages.length > 3 ? `; and ${messages.length - 3} more` : ''}` : '';
  const text = `rejected (NACKed) by ${plural(nacks, 'gateway')}${quoted}`;
  return rollbackOnNack ? { regressed: true, text } : { regressed: false, text: `${text} (rollbackOnNack is false: not rolled back for it)` };
}

/** The error-rate finding; null when no bound is set. */
export function judgeErrorRate(baseline: TrafficFigures, window: TrafficFigures, windowMs: number, maxPercent: number | undefined): Finding | null {
  if (maxPercent === undefined) return null;
  const span = `in the ${formatDuration(windowMs)} window`;
  const rate = errorRatePercent(window);
  if (rate === null) return { regressed: false, text: `no requests ${span}: error rate not judged` };
  const observed = `5xx ${formatPercent(rate)} of ${plural(window.requests, 'request')} ${span}`;
  if (rate <= maxPercent) return { regressed: false, text: `${observed}, within the ${formatPercent(maxPercent)} bound` };
  const before = errorRatePercent(baseline);
  if (before === null) return { regressed: true, text: `${observed}, above the ${formatPercent(maxPercent)} bound (no requests before the change to compare with)` };
  if (rate > before) return { regressed: true, text: `${observed}, above the ${formatPercent(maxPercent)} bound and the ${formatPercent(before)} before the change` };
  return { regressed: false, text: `${observed} is above the ${formatPercent(maxPercent)} bound but not above the ${formatPercent(before)} before the change: not blamed on it` };
}

/** The p99 finding; null when no bound is set. */
export function judgeLatency(baseline: TrafficFigures, window: TrafficFigures, windowMs: number, maxP99Ms: number | undefined): Finding | null {
  if (maxP99Ms === undefined) return null;
  const span = `in the ${formatDuration(windowMs)} window`;
  if (window.p99Ms === null) return { regressed: false, text: `no latency measured ${span}: p99 not judged` };
  const observed = `p99 ${formatMs(window.p99Ms)} ${span}`;
  if (window.p99Ms <= maxP99Ms) return { regressed: false, text: `${observed}, within the ${formatMs(maxP99Ms)} bound` };
  if (baseline.p99Ms === null) return { regressed: true, text: `${observed}, above the ${formatMs(maxP99Ms)} bound (no latency measured before the change to compare with)` };
  if (window.p99Ms > baseline.p99Ms) return { regressed: true, text: `${observed}, above the ${formatMs(maxP99Ms)} bound and the ${formatMs(baseline.p99Ms)} before the change` };
  return { regressed: false, text: `${observed} is above the ${formatMs(maxP99Ms)} bound but not above the ${formatMs(baseline.p99Ms)} before the change: not blamed on it` };
}

/** Rolls back when any finding is a regression; the reason lists the regressions first, then the rest. */
export function decideRollout(input: GuardInput): GuardVerdict {
  const findings: Array<[RollbackCause, Finding | null]> = [
    ['nack', judgeNacks(input.nacks, input.bounds.rollbackOnNack, input.nackMessages)],
    ['error_rate', judgeErrorRate(input.baseline, input.window, input.windowMs, input.bounds.maxErrorRatePercent)],
    ['latency', judgeLatency(input.baseline, input.window, input.windowMs, input.bounds.maxP99LatencyMs)],
  ];
  const judged = findings.filter((entry): entry is [RollbackCause, Finding] => entry[1] !== null);
  const regressions = judged.filter(([, finding]) => finding.regressed);
  if (regressions.length > 0) {
    return { rollback: true, cause: regressions[0][0], reason: regressions.map(([, finding]) => finding.text).join('; ') };
  }
  const { maxErrorRatePercent, maxP99LatencyMs } = input.bounds;
  if (maxErrorRatePercent === undefined && maxP99LatencyMs === undefined) {
    return { rollback: false, reason: [...judged.map(([, finding]) => finding.text), 'no traffic bounds set'].join('; ') };
  }
  if (input.window.requests === 0) {
    const through = input.gateways === undefined ? 'the gateways' : `the ${plural(input.gateways, 'gateway')}`;
    const unjudged = [
      ...(maxErrorRatePercent === undefined ? [] : [`the ${formatPercent(maxErrorRatePercent)} error-rate bound`]),
      ...(maxP99LatencyMs === undefined ? [] : [`the ${formatMs(maxP99LatencyMs)} p99 bound`]),
    ].join(' and ');
    const why = `no request through ${through} running it reached this control plane's heartbeats during the ${formatDuration(input.windowMs)} window: ${unjudged} could not be judged`;
    return { rollback: false, unverified: true, reason: [why, judged[0][1].text].join('; ') };
  }
  return { rollback: false, reason: judged.map(([, finding]) => finding.text).join('; ') };
}
