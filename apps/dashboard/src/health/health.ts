/**
 * Health colours, with Kiali's thresholds for the error rate (docs/dashboard.md): a 5xx share of
 * 0.1% or more is Degraded, above 10% Failing. Latency has no universal threshold; a p99 is only
 * coloured against a target the operator set (an AutoscalePolicy's, a FailoverPolicy's
 * `unhealthyWhen.p99Above`). No data is its own state, never Healthy and never zero.
 */
import type { Lifecycle } from '@portolan/api';

export type Health = 'Healthy' | 'Degraded' | 'Failing' | 'NoData';

export const ERROR_RATE_THRESHOLDS = { degradedPercent: 0.1, failingPercent: 10 } as const;

export function healthOfErrorRate(serverErrorPercent: number | null | undefined): Health {
  if (serverErrorPercent === null || serverErrorPercent === undefined || Number.isNaN(serverErrorPercent)) return 'NoData';
  if (serverErrorPercent > ERROR_RATE_THRESHOLDS.failingPercent) return 'Failing';
  if (serverErrorPercent >= ERROR_RATE_THRESHOLDS.degradedPercent) return 'Degraded';
  return 'Healthy';
}

/** Against a target the operator set; a latency without one is shown, never coloured. */
export function healthOfLatency(p99Ms: number | null | undefined, targetMs: number): Health {
  if (p99Ms === null || p99Ms === undefined) return 'NoData';
  if (p99Ms > 2 * targetMs) return 'Failing';
  return p99Ms > targetMs ? 'Degraded' : 'Healthy';
}

export function healthOfLifecycle(phase: Lifecycle): Health {
  if (phase === 'Healthy') return 'Healthy';
  if (phase === 'Offline') return 'Failing';
  return 'Degraded';
}

/** The worse of several: Failing > Degraded > Healthy; NoData only when nothing else is known. */
export function worst(...healths: Health[]): Health {
  const known = healths.filter((health) => health !== 'NoData');
  if (known.length === 0) return 'NoData';
  if (known.includes('Failing')) return 'Failing';
  return known.includes('Degraded') ? 'Degraded' : 'Healthy';
}
