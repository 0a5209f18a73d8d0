/**
 * An error-rate circuit breaker with a true closed / open / half-open state machine (Hystrix
 * semantics): closed, it counts outcomes in a rolling window and opens when at least
 * `minimumRequests` were seen and `failureRatePercent` of them failed; open, it fails requests
 * fast for `openDurationMs`; then half-open, it lets `halfOpenProbes` trial requests through: all
 * succeeding closes it, any failing reopens it.
 *
 * Hand-written: cockatiel's SamplingBreaker takes a minimum *rate per second* rather than a minimum
 * number of requests in the window, and its half-open state admits exactly one trial; Hystrix's
 * request-volume threshold and several probes need their own machine. Time is injected.
 *
 * What counts as a failure is the caller's decision (the proxy counts 5xx, connect failures and
 * timeouts).
 */
export interface BreakerSettings {
  minimumRequests: number;
  failureRatePercent: number;
  windowMs: number;
  openDurationMs: number;
  halfOpenProbes: number;
}

export type BreakerState =
  | { name: 'closed' }
  | { name: 'open'; until: number }
  | { name: 'half-open'; probesInFlight: number; probesSucceeded: number };

export type Admission = { allowed: true; probe: boolean } | { allowed: false; state: 'open' | 'half-open'; retryAfterMs: number };

/** The window is kept as this many buckets, so old outcomes expire in steps of window/10. */
const BUCKETS = 10;

export class CircuitBreaker {
  private state: BreakerState = { name: 'closed' };
  private readonly successes = new Array<number>(BUCKETS).fill(0);
  private readonly failures = new Array<number>(BUCKETS).fill(0);
  private bucketStart = 0;
  private bucketIndex = 0;

  constructor(
    readonly settings: BreakerSettings,
    private readonly onTransition: (to: BreakerState['name']) => void = () => undefined,
  ) {}

  current(now: number): BreakerState['name'] {
    this.advance(now);
    return this.state.name;
  }

  tryAcquire(now: number): Admission {
    this.advance(now);
    const state = this.state;
    if (state.name === 'closed') return { allowed: true, probe: false };
    if (state.name === 'open') return { allowed: false, state: 'open', retryAfterMs: state.until - now };
    if (state.probesInFlight + state.probesSucceeded < this.settings.halfOpenProbes) {
      state.probesInFlight++;
      return { allowed: true, probe: true };
    }
    return { allowed: false, state: 'half-open', retryAfterMs: 0 };
  }

  onSuccess(now: number, probe: boolean): void {
    this.advance(now);
    const state = this.state;
    if (probe && state.name === 'half-open') {
      state.probesInFlight--;
      state.probesSucceeded++;
      if (state.probesSucceeded >= this.settings.halfOpenProbes) this.close(now);
      return;
    }
    if (state.name !== 'closed') return;
    this.successes[this.bucketIndex]++;
    this.evaluate(now);
  }

  onFailure(now: number, probe: boolean): void {
    this.advance(now);
    const state = this.state;
    if (probe && state.name === 'half-open') {
      this.open(now);
      return;
    }
    if (state.name !== 'closed') return;
    this.failures[this.bucketIndex]++;
    this.evaluate(now);
  }

  /** Opens when the window holds enough requests and enough of them failed. */
  private evaluate(now: number): void {
    const failures = this.failures.reduce((a, b) => a + b, 0);
    if (failures === 0) return;
    const total = failures + this.successes.reduce((a, b) => a + b, 0);
    if (total >= this.settings.minimumRequests && failures * 100 >= this.settings.failureRatePercent * total) this.open(now);
  }

  private open(now: number): void {
    this.state = { name: 'open', until: now + this.settings.openDurationMs };
    this.onTransition('open');
  }

  private close(now: number): void {
    this.state = { name: 'closed' };
    this.successes.fill(0);
    this.failures.fill(0);
    this.bucketStart = now;
    this.onTransition('closed');
  }

  /** Moves the window and lets an open breaker become half-open once its time is up. */
  private advance(now: number): void {
    if (this.state.name === 'open' && now >= this.state.until) {
      this.state = { name: 'half-open', probesInFlight: 0, probesSucceeded: 0 };
      this.onTransition('half-open');
    }
    const bucketMs = this.settings.windowMs / BUCKETS;
    const steps = Math.floor((now - this.bucketStart) / bucketMs);
    if (steps <= 0) return;
    for (let i = 0; i < Math.min(steps, BUCKETS); i++) {
      this.bucketIndex = (this.bucketIndex + 1) % BUCKETS;
      this.successes[this.bucketIndex] = 0;
      this.failures[this.bucketIndex] = 0;
    }
    this.bucketStart += steps * bucketMs;
  }
}

/**
 * Envoy-style connection limits: requests in flight to a service (`maxConcurrentRequests`) plus
 * those allowed to wait for a connection (`maxPendingRequests`). Beyond both, fail fast rather
 * than pile up on a slow dependency.
 */
export class ConcurrencyLimiter {
  private active = 0;

  constructor(private readonly limit: number) {}

  tryAcquire(): boolean {
    if (this.active >= this.limit) return false;
    this.active++;
    return true;
  }

  release(): void {
    this.active = Math.max(0, this.active - 1);
  }

  inFlight(): number {
    return this.active;
  }
}
