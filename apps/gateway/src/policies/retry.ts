/**
 * Retry decisions for one request, from the RetryPolicy: which outcomes are retriable (`retryOn`),
 * idempotent methods only unless the policy allows others, exponential backoff with full jitter,
 * and a retry budget shared by every request of the route so retries cannot multiply an outage.
 *
 * Hand-written: cockatiel's backoffs have no full jitter and its retry policy cannot consult a
 * budget shared across requests; undici's RetryAgent retries inside one dispatcher, blind to both.
 */
import { parseDuration, type RetryPolicySpec } from '@portolan/api';

export type RetryConfig = Omit<RetryPolicySpec, 'targetRef'>;
export type TryOutcome = { status: number; retryAfter?: string } | { error: 'connect-failure' | 'reset' | 'timeout' };

/** RFC 9110 §9.2.2. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
const GATEWAY_ERRORS = new Set([502, 503, 504]);

export interface CompiledRetry {
  attempts: number;
  perTryTimeoutMs?: number;
  baseMs: number;
  maxMs: number;
  jitter: 'full' | 'none';
  retryOn: ReadonlySet<string>;
  statusCodes: ReadonlySet<number>;
  retryNonIdempotent: boolean;
  budgetPercent: number;
  minRetryConcurrency: number;
}

export function compileRetry(config: RetryConfig): CompiledRetry {
  const baseMs = parseDuration(config.backoff?.baseInterval ?? '25ms');
  return {
    attempts: config.attempts ?? 3,
    perTryTimeoutMs: config.perTryTimeout ? parseDuration(config.perTryTimeout) : undefined,
    baseMs,
    maxMs: config.backoff?.maxInterval ? parseDuration(config.backoff.maxInterval) : baseMs * 10,
    jitter: config.backoff?.jitter ?? 'full',
    retryOn: new Set(config.retryOn ?? ['gateway-error', 'connect-failure', 'reset']),
    statusCodes: new Set(config.retriableStatusCodes ?? []),
    retryNonIdempotent: config.retryNonIdempotent ?? false,
    budgetPercent: config.budget?.percent ?? 20,
    minRetryConcurrency: config.budget?.minRetryConcurrency ?? 3,
  };
}

export function isIdempotent(method: string): boolean {
  return IDEMPOTENT.has(method.toUpperCase());
}

/**
 * Whether `outcome` is one `retryOn` covers. A per-try timeout counts as a gateway error (504), as
 * in Envoy, where per-try timeouts are retried under 5xx and gateway-error.
 */
export function isRetriable(outcome: TryOutcome, retry: CompiledRetry): boolean {
  const on = retry.retryOn;
  if ('error' in outcome) {
    if (outcome.error === 'timeout') return on.has('gateway-error') || on.has('5xx');
    return on.has(outcome.error) || on.has('5xx') || (outcome.error === 'connect-failure' && on.has('gateway-error'));
  }
  const { status } = outcome;
  if (on.has('5xx') && status >= 500) return true;
  if (on.has('gateway-error') && GATEWAY_ERRORS.has(status)) return true;
  return on.has('retriable-status-codes') && retry.statusCodes.has(status);
}

/** Backoff before retry number `retry` (1-based): base doubling, capped; full jitter draws below the cap. */
export function backoffMs(retry: number, compiled: Pick<CompiledRetry, 'baseMs' | 'maxMs' | 'jitter'>, random: () => number): number {
  const ceiling = Math.min(compiled.baseMs * 2 ** (retry - 1), compiled.maxMs);
  return compiled.jitter === 'full' ? Math.floor(random() * ceiling) : ceiling;
}

/** Seconds of an upstream's Retry-After (delta-seconds form only), for honouring it on 429/503. */
export function retryAfterMs(value: string | undefined): number | undefined {
  if (!value || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value) * 1000;
}

/**
 * Envoy's retry budget: retries in flight may be at most `percent` of the requests in flight, but
 * `minRetryConcurrency` are always allowed. One budget per route, shared by its requests.
 */
export class RetryBudget {
  private requests = 0;
  private retries = 0;

  constructor(private settings: Pick<CompiledRetry, 'budgetPercent' | 'minRetryConcurrency'>) {}

  update(settings: Pick<CompiledRetry, 'budgetPercent' | 'minRetryConcurrency'>): void {
    this.settings = settings;
  }

  requestStarted(): void {
    this.requests++;
  }

  requestFinished(): void {
    this.requests = Math.max(0, this.requests - 1);
  }

  tryStartRetry(): boolean {
    const allowed = Math.max(this.settings.minRetryConcurrency, Math.floor((this.requests * this.settings.budgetPercent) / 100));
    if (this.retries >= allowed) return false;
    this.retries++;
    return true;
  }

  retryFinished(): void {
    this.retries = Math.max(0, this.retries - 1);
  }
}

export interface RetryDecision {
  retry: boolean;
  delayMs: number;
  /** A retry was wanted but the budget refused it. */
  budgetExhausted: boolean;
}

/** The retry state of one request. */
export class RequestRetries {
  private retried = 0;
  private retryInFlight = false;

  constructor(
    private readonly compiled: CompiledRetry | undefined,
    private readonly budget: RetryBudget | undefined,
    private readonly allowed: boolean,
    private readonly random: () => number,
  ) {
    budget?.requestStarted();
  }

  get perTryTimeoutMs(): number | undefined {
    return this.compiled?.perTryTimeoutMs;
  }

  next(outcome: TryOutcome): RetryDecision {
    this.endRetry();
    const compiled = this.compiled;
    if (!compiled || !this.allowed || this.retried >= compiled.attempts || !isRetriable(outcome, compiled)) return { retry: false, delayMs: 0, budgetExhausted: false };
    if (!this.budget!.tryStartRetry()) return { retry: false, delayMs: 0, budgetExhausted: true };
    this.retryInFlight = true;
    this.retried++;
    const backoff = backoffMs(this.retried, compiled, this.random);
    const serverAsked = 'status' in outcome && (outcome.status === 503 || outcome.status === 429) ? retryAfterMs(outcome.retryAfter) : undefined;
    return { retry: true, delayMs: serverAsked !== undefined ? Math.min(serverAsked, compiled.maxMs) : backoff, budgetExhausted: false };
  }

  finish(): void {
    this.endRetry();
    this.budget?.requestFinished();
  }

  private endRetry(): void {
    if (!this.retryInFlight) return;
    this.retryInFlight = false;
    this.budget!.retryFinished();
  }
}
