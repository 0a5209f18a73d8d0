/**
 * The connection limits of a CircuitBreakerPolicy (Envoy's max_requests and max_pending_requests):
 * counters that make requests fail fast instead of piling up on a slow upstream. The limiter
 * objects survive config changes, with only their limit replaced, so requests already in flight
 * still count against the new limit.
 */
import type { CircuitBreakerPolicySpec } from '@portolan/api';

type ConnectionLimitsConfig = Omit<CircuitBreakerPolicySpec, 'targetRef'>['connectionLimits'];

/** Schema defaults of CircuitBreakerPolicy.connectionLimits (Envoy's defaults too). */
const DEFAULTS = { maxConcurrentRequests: 1024, maxPendingRequests: 1024 };

export class ConcurrencyLimiter {
  private active = 0;

  constructor(private max: number) {}

  get inFlight(): number {
    return this.active;
  }

  get limit(): number {
    return this.max;
  }

  tryAcquire(): boolean {
    if (this.active >= this.max) return false;
    this.active++;
    return true;
  }

  release(): void {
    if (this.active > 0) this.active--;
  }

  setLimit(max: number): void {
    this.max = max;
  }
}

export interface ConnectionLimits {
  /** Requests in flight to the upstream. */
  requests: ConcurrencyLimiter;
  /** Requests waiting for a connection to the upstream. */
  pending: ConcurrencyLimiter;
}

/** New limiters, or the previous ones with the new limits. */
export function connectionLimits(config: ConnectionLimitsConfig, previous?: ConnectionLimits): ConnectionLimits {
  const maxConcurrentRequests = config?.maxConcurrentRequests ?? DEFAULTS.maxConcurrentRequests;
  const maxPendingRequests = config?.maxPendingRequests ?? DEFAULTS.maxPendingRequests;
  if (!previous) return { requests: new ConcurrencyLimiter(maxConcurrentRequests), pending: new ConcurrencyLimiter(maxPendingRequests) };
  previous.requests.setLimit(maxConcurrentRequests);
  previous.pending.setLimit(maxPendingRequests);
  return previous;
}
