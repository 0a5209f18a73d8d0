/**
 * The error-rate circuit breaker of a CircuitBreakerPolicy: closed, open, half-open.
 *
 * Hand-written rather than cockatiel's SamplingBreaker: that one opens on a minimum request *rate
 * per second* rather than a minimum number of requests in the window (Hystrix's
 * requestVolumeThreshold, our minimumRequests), its half-open state admits exactly one probe where
 * we admit `halfOpenProbes`, and its clock cannot be injected.
 *
 * What a failure is belongs to the caller: the proxy reports 5xx answers, connect failures and
 * timeouts as failures, and a client that went away before an answer as neither.
 */
import type { CircuitBreakerPolicySpec } from '@portolan/api';
import type { BreakerState } from '@portolan/agent-client';
import { compiled, durationMs, type Compiled, type FieldProblem } from './compile-result.js';

export type CircuitBreakerConfig = Omit<CircuitBreakerPolicySpec, 'targetRef'>;

export interface BreakerSettings {
  minimumRequests: number;
  failureRatePercent: number;
  windowMs: number;
  openDurationMs: number;
  halfOpenProbes: number;
}

export interface BreakerTransition {
  from: BreakerState;
  to: BreakerState;
  at: number;
}

export type BreakerAdmission =
  | { allowed: true; probe: boolean }
  /** retryAfterMs is 0 when half-open: the probes' outcome, not the clock, decides what comes next. */
  | { allowed: false; state: 'open' | 'half-open'; retryAfterMs: number };

/** Schema defaults of CircuitBreakerPolicy.errorRate. */
const DEFAULTS = { minimumRequests: 10, failureRatePercent: 50, window: '10s', openDuration: '5s', halfOpenProbes: 1 };
/** Sub-windows of the rolling window: old outcomes leave it a tenth of a window at a time. */
const WINDOW_BUCKETS = 10;

const ADMITTED: BreakerAdmission = Object.freeze({ allowed: true, probe: false });
const ADMITTED_AS_PROBE: BreakerAdmission = Object.freeze({ allowed: true, probe: true });

export function compileBreakerSettings(errorRate: CircuitBreakerConfig['errorRate']): Compiled<BreakerSettings> {
  const problems: FieldProblem[] = [];
  const settings: BreakerSettings = {
    minimumRequests: errorRate?.minimumRequests ?? DEFAULTS.minimumRequests,
    failureRatePercent: errorRate?.failureRatePercent ?? DEFAULTS.failureRatePercent,
    windowMs: durationMs(errorRate?.window ?? DEFAULTS.window, 'errorRate.window', problems),
    openDurationMs: durationMs(errorRate?.openDuration ?? DEFAULTS.openDuration, 'errorRate.openDuration', problems),
    halfOpenProbes: errorRate?.halfOpenProbes ?? DEFAULTS.halfOpenProbes,
  };
  return compiled(settings, problems);
}

/** Requests and failures over the last `WINDOW_BUCKETS` sub-windows, kept in a ring. */
class RollingCounts {
  private readonly epochs = new Float64Array(WINDOW_BUCKETS).fill(Number.NEGATIVE_INFINITY);
  private readonly requests = new Uint32Array(WINDOW_BUCKETS);
  private readonly failures = new Uint32Array(WINDOW_BUCKETS);
  totalRequests = 0;
  totalFailures = 0;

  constructor(private readonly bucketMs: number) {}

  /** Records one outcome and refreshes the totals over the window ending at `now`. */
  record(now: number, failed: boolean): void {
    const epoch = Math.floor(now / this.bucketMs);
    const slot = epoch % WINDOW_BUCKETS;
    if (this.epochs[slot] !== epoch) {
      this.epochs[slot] = epoch;
      this.requests[slot] = 0;
      this.failures[slot] = 0;
    }
    this.requests[slot]++;
    if (failed) this.failures[slot]++;
    this.totalRequests = 0;
    this.totalFailures = 0;
    for (let i = 0; i < WINDOW_BUCKETS; i++) {
      if (this.epochs[i] <= epoch - WINDOW_BUCKETS) continue;
      this.totalRequests += this.requests[i];
      this.totalFailures += this.failures[i];
    }
  }
}

type Phase =
  | { readonly state: 'closed'; readonly counts: RollingCounts }
  | { readonly state: 'open'; readonly halfOpensAt: number }
  | { readonly state: 'half-open'; probesInFlight: number; probesSucceeded: number };

export class CircuitBreaker {
  private phase: Phase;

  constructor(
    readonly settings: BreakerSettings,
    private readonly onTransition?: (transition: BreakerTransition) => void,
  ) {
    this.phase = this.closed();
  }

  state(now: number): BreakerState {
    this.halfOpenIfDue(now);
    return this.phase.state;
  }

  tryAcquire(now: number): BreakerAdmission {
    this.halfOpenIfDue(now);
    const phase = this.phase;
    switch (phase.state) {
      case 'closed':
        return ADMITTED;
      case 'open':
        return { allowed: false, state: 'open', retryAfterMs: phase.halfOpensAt - now };
      case 'half-open':
        if (phase.probesInFlight + phase.probesSucceeded >= this.settings.halfOpenProbes) return { allowed: false, state: 'half-open', retryAfterMs: 0 };
        phase.probesInFlight++;
        return ADMITTED_AS_PROBE;
    }
  }

  /**
   * Outcomes of requests admitted in another phase than the current one are ignored: a slow
   * request admitted while closed says nothing about the upstream after the breaker opened.
   */
  onSuccess(now: number, probe: boolean): void {
    const phase = this.phase;
    if (phase.state === 'closed' && !probe) {
      this.recordClosed(phase.counts, now, false);
    } else if (phase.state === 'half-open' && probe) {
      phase.probesInFlight--;
      phase.probesSucceeded++;
      if (phase.probesSucceeded >= this.settings.halfOpenProbes) this.moveTo(this.closed(), now);
    }
  }

  onFailure(now: number, probe: boolean): void {
    const phase = this.phase;
    if (phase.state === 'closed' && !probe) this.recordClosed(phase.counts, now, true);
    else if (phase.state === 'half-open' && probe) this.open(now);
  }

  /** A probe that ended without an outcome (the client went away) frees its place for another. */
  onCancelled(probe: boolean): void {
    if (probe && this.phase.state === 'half-open') this.phase.probesInFlight--;
  }

  private closed(): Phase {
    return { state: 'closed', counts: new RollingCounts(this.settings.windowMs / WINDOW_BUCKETS) };
  }

  private recordClosed(counts: RollingCounts, now: number, failed: boolean): void {
    counts.record(now, failed);
    const { minimumRequests, failureRatePercent } = this.settings;
    if (counts.totalRequests >= minimumRequests && counts.totalFailures * 100 >= failureRatePercent * counts.totalRequests) this.open(now);
  }

  private open(now: number): void {
    this.moveTo({ state: 'open', halfOpensAt: now + this.settings.openDurationMs }, now);
  }

  private halfOpenIfDue(now: number): void {
    if (this.phase.state === 'open' && now >= this.phase.halfOpensAt) this.moveTo({ state: 'half-open', probesInFlight: 0, probesSucceeded: 0 }, now);
  }

  private moveTo(next: Phase, now: number): void {
    const from = this.phase.state;
    this.phase = next;
    this.onTransition?.({ from, to: next.state, at: now });
  }
}
