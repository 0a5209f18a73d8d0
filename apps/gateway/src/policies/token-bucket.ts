/**
 * An Envoy-style token bucket: it starts full, and every `intervalMs` it gains `fill` tokens (in
 * whole steps, not continuously), never more than `capacity`.
 *
 * Hand-written: rate-limiter-flexible counts fixed windows (points per duration) and has no bucket
 * with a capacity separate from the refill amount and discrete fills, which is what Envoy's local
 * rate limit (max_tokens, tokens_per_fill, fill_interval) and our RateLimitPolicy specify; and the
 * time must be injected for exact tests ("exactly 100 pass, the 101st is limited").
 */
export interface BucketShape {
  capacity: number;
  fill: number;
  intervalMs: number;
}

export interface TakeResult {
  allowed: boolean;
  remaining: number;
  /** Until the next fill. */
  resetMs: number;
}

export class TokenBucket {
  private tokens: number;
  /** Start of the current fill interval. */
  private intervalStart: number;

  constructor(
    private shape: BucketShape,
    now: number,
  ) {
    this.tokens = shape.capacity;
    this.intervalStart = now;
  }

  take(now: number): TakeResult {
    this.refill(now);
    const resetMs = this.intervalStart + this.shape.intervalMs - now;
    if (this.tokens < 1) return { allowed: false, remaining: 0, resetMs };
    this.tokens--;
    return { allowed: true, remaining: this.tokens, resetMs };
  }

  /** Whether a token is available, without taking it. */
  peek(now: number): boolean {
    this.refill(now);
    return this.tokens >= 1;
  }

  msUntilReset(now: number): number {
    this.refill(now);
    return this.intervalStart + this.shape.intervalMs - now;
  }

  /** Full again: indistinguishable from a new bucket (fills beyond capacity are lost), so it can be dropped. */
  isFull(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.shape.capacity;
  }

  /** A new shape (policy change or new pool share); tokens already used stay used. */
  reshape(shape: BucketShape, now: number): void {
    this.refill(now);
    this.shape = shape;
    this.tokens = Math.min(this.tokens, shape.capacity);
  }

  private refill(now: number): void {
    const elapsed = Math.floor((now - this.intervalStart) / this.shape.intervalMs);
    if (elapsed <= 0) return;
    this.tokens = Math.min(this.shape.capacity, this.tokens + elapsed * this.shape.fill);
    this.intervalStart += elapsed * this.shape.intervalMs;
  }
}
