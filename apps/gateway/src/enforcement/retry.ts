/**
 * Retry decisions of a RetryPolicy: which outcomes are retried, for which methods, after what
 * backoff, and whether the route's retry budget has room.
 *
 * Hand-written: cockatiel's backoffs have no full jitter (uniform between 0 and the ceiling) and
 * its retry policy cannot see a budget shared by all requests of a route; undici's RetryAgent
 * retries inside one dispatcher, out of reach of both the budget and the request deadline.
 *
 * Outcomes follow Envoy's retry_on:
 *   outcome            5xx  gateway-error  connect-failure  reset  retriable-status-codes
 *   500, 501, 505...    x
 *   502, 503, 504       x        x
 *   listed status                                                          x
 *   connect failure     x        x               x             x
 *   reset               x        x                             x
 *   per-try timeout     x        x                             x
 * A per-try timeout counts as a reset (Envoy retries it under 5xx and gateway-error, which treat
 * an upstream that did not answer as one that answered 504).
 */
import { RETRY_ON, type RetryPolicySpec } from '@portolan/api';
import { compiled, durationMs, type Compiled, type FieldProblem } from './compile-result.js';

export type RetryConfig = Omit<RetryPolicySpec, 'targetRef'>;
export type RetryOn = (typeof RETRY_ON)[number];

export type UpstreamOutcome = { status: number } | { error: 'connect-failure' | 'reset' | 'timeout' };

export interface RetryBudgetSettings {
  budgetPercent: number;
  minRetryConcurrency: number;
}

export interface RetrySettings extends RetryBudgetSettings {
  maxRetries: number;
  /** undefined: each try may use what is left of the request timeout. */
  perTryTimeoutMs: number | undefined;
  baseIntervalMs: number;
  maxIntervalMs: number;
  jitter: 'full' | 'none';
  retryOn: ReadonlySet<RetryOn>;
  retriableStatusCodes: ReadonlySet<number>;
  retryNonIdempotent: boolean;
}

/** Schema defaults of RetryPolicy. */
const DEFAULTS = {
  attempts: 3,
  baseInterval: '25ms',
  jitter: 'full',
  retryOn: ['gateway-error', 'connect-failure', 'reset'] as RetryOn[],
  retryNonIdempotent: false,
  percent: 20,
  minRetryConcurrency: 3,
} as const;
const MAX_INTERVAL_PER_BASE = 10;

export function compileRetrySettings(config: RetryConfig): Compiled<RetrySettings> {
  const problems: FieldProblem[] = [];
  const baseIntervalMs = durationMs(config.backoff?.baseInterval ?? DEFAULTS.baseInterval, 'backoff.baseInterval', problems);
  const maxInterval = config.backoff?.maxInterval;
  const settings: RetrySettings = {
    maxRetries: config.attempts ?? DEFAULTS.attempts,
    perTryTimeoutMs: config.perTryTimeout === undefined ? undefined : durationMs(config.perTryTimeout, 'perTryTimeout', problems),
    baseIntervalMs,
    maxIntervalMs: maxInterval === undefined ? baseIntervalMs * MAX_INTERVAL_PER_BASE : durationMs(maxInterval, 'backoff.maxInterval', problems),
    jitter: config.backoff?.jitter ?? DEFAULTS.jitter,
    retryOn: new Set(config.retryOn ?? DEFAULTS.retryOn),
    retriableStatusCodes: new Set(config.retriableStatusCodes ?? []),
    retryNonIdempotent: config.retryNonIdempotent ?? DEFAULTS.retryNonIdempotent,
    budgetPercent: config.budget?.percent ?? DEFAULTS.percent,
    minRetryConcurrency: config.budget?.minRetryConcurrency ?? DEFAULTS.minRetryConcurrency,
  };
  return compiled(settings, problems);
}

/** RFC 9110 section 9.2.2. */
const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

export function isIdempotent(method: string): boolean {
  return IDEMPOTENT_METHODS.has(method.toUpperCase());
}

const isGatewayError = (status: number) => status === 502 || status === 503 || status === 504;

export function isRetriableOutcome(outcome: UpstreamOutcome, retryOn: ReadonlySet<RetryOn>, retriableStatusCodes: ReadonlySet<number>): boolean {
  if ('status' in outcome) {
    const { status } = outcome;
    return (
      (retryOn.has('5xx') && status >= 500) ||
      (retryOn.has('gateway-error') && isGatewayError(status)) ||
      (retryOn.has('retriable-status-codes') && retriableStatusCodes.has(status))
    );
  }
  if (retryOn.has('5xx') || retryOn.has('gateway-error') || retryOn.has('reset')) return true;
  return outcome.error === 'connect-failure' && retryOn.has('connect-failure');
}

/** Backoff before retry number `retryNumber` (1 for the first retry): Envoy's exponential backoff. */
export function backoffMs(retryNumber: number, settings: Pick<RetrySettings, 'baseIntervalMs' | 'maxIntervalMs' | 'jitter'>, random: () => number): number {
  const ceiling = Math.min(settings.baseIntervalMs * 2 ** (retryNumber - 1), settings.maxIntervalMs);
  return settings.jitter === 'full' ? random() * ceiling : ceiling;
}

/** A Retry-After header (delta-seconds or HTTP-date) as a delay from `now`; undefined if unreadable. */
export function retryAfterMs(header: string | undefined, now: number): number | undefined {
  if (header === undefined) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * Envoy's retry budget for one route: retries in flight may be at most `budgetPercent` of the
 * requests in flight, but `minRetryConcurrency` retries are always allowed. Requests count from
 * arrival to answer, whatever their number of tries, so that during an outage of 100 concurrent
 * requests a 20% budget allows 20 retries in flight, not more.
 */
export class RetryBudget {
  private requests = 0;
  private retries = 0;

  constructor(private settings: RetryBudgetSettings) {}

  get activeRequests(): number {
    return this.requests;
  }

  get activeRetries(): number {
    return this.retries;
  }

  update(settings: RetryBudgetSettings): void {
    this.settings = settings;
  }

  startRequest(): void {
    this.requests++;
  }

  finishRequest(): void {
    if (this.requests > 0) this.requests--;
  }

  /** Takes a place for a retry if the budget has one; give it back with finishRetry(). */
  tryStartRetry(): boolean {
    const allowed = Math.max(this.settings.minRetryConcurrency, (this.settings.budgetPercent / 100) * this.requests);
    if (this.retries >= allowed) return false;
    this.retries++;
    return true;
  }

  finishRetry(): void {
    if (this.retries > 0) this.retries--;
  }
}

export interface FailedTry {
  method: string;
  /** Retries already made for this request. */
  retriesSoFar: number;
  outcome: UpstreamOutcome;
  /** The upstream's Retry-After, read only on 429 and 503. */
  retryAfter?: string;
  now: number;
  requestDeadline: number;
}

export type RetryDecision =
  | { retry: true; delayMs: number }
  | { retry: false; reason: 'attempts-exhausted' | 'not-retriable' | 'non-idempotent' | 'retry-after-too-long' | 'deadline' | 'budget-exhausted' };

/**
 * Whether to retry a failed try, and after how long. A connect failure is retried whatever the
 * method, as the request never reached the upstream. A Retry-After from the upstream is honoured
 * when it is within maxInterval and refused otherwise, as Envoy does for rate-limited retries:
 * retrying sooner than the upstream asked would defeat it. The budget is asked last, so a place
 * is taken only for a retry that will happen; the caller gives it back with finishRetry().
 */
export function decideRetry(attempt: FailedTry, settings: RetrySettings, budget: RetryBudget, random: () => number): RetryDecision {
  const { outcome } = attempt;
  if (attempt.retriesSoFar >= settings.maxRetries) return { retry: false, reason: 'attempts-exhausted' };
  if (!isRetriableOutcome(outcome, settings.retryOn, settings.retriableStatusCodes)) return { retry: false, reason: 'not-retriable' };
  const neverSent = 'error' in outcome && outcome.error === 'connect-failure';
  if (!neverSent && !settings.retryNonIdempotent && !isIdempotent(attempt.method)) return { retry: false, reason: 'non-idempotent' };
  let delayMs = backoffMs(attempt.retriesSoFar + 1, settings, random);
  if ('status' in outcome && (outcome.status === 429 || outcome.status === 503)) {
    const askedMs = retryAfterMs(attempt.retryAfter, attempt.now);
    if (askedMs !== undefined) {
      if (askedMs > settings.maxIntervalMs) return { retry: false, reason: 'retry-after-too-long' };
      delayMs = askedMs;
    }
  }
  if (attempt.now + delayMs >= attempt.requestDeadline) return { retry: false, reason: 'deadline' };
  if (!budget.tryStartRetry()) return { retry: false, reason: 'budget-exhausted' };
  return { retry: true, delayMs };
}
