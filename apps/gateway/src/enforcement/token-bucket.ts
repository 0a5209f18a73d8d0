/**
 * Envoy's local rate limit bucket: it starts full, and every fill interval `tokensPerFill` tokens
 * are added at once (discrete fills, not a continuous trickle), up to `capacity`.
 *
 * Hand-written rather than taken from rate-limiter-flexible: its limiters count points per
 * duration window and have no bucket whose capacity (burst) differs from the amount added per
 * fill, nor discrete fills; and its clock cannot be injected, which exact tests need.
 */
export interface BucketShape {
  /** Envoy max_tokens. */
  capacity: number;
  /** Envoy tokens_per_fill. */
  tokensPerFill: number;
  /** Envoy fill_interval, in ms. */
  fillIntervalMs: number;
}

export interface TakeResult {
  allowed: boolean;
  /** Tokens left after this take. */
  remaining: number;
  /** Until the next fill. */
  resetMs: number;
  /** When denied, until a token is available (Infinity if none ever will be); 0 when allowed. */
  retryAfterMs: number;
}

export class TokenBucket {
  private tokens: number;
  private lastFillAt: number;

  constructor(
    private shape: BucketShape,
    now: number,
  ) {
    this.tokens = shape.capacity;
    this.lastFillAt = now;
  }

  /** Adds the fills that fell due by `now`; the fill schedule keeps its phase. */
  refill(now: number): void {
    const elapsed = now - this.lastFillAt;
    if (elapsed < this.shape.fillIntervalMs) return;
    const fills = Math.floor(elapsed / this.shape.fillIntervalMs);
    this.lastFillAt += fills * this.shape.fillIntervalMs;
    this.tokens = Math.min(this.shape.capacity, this.tokens + fills * this.shape.tokensPerFill);
  }

  /** Tokens as of the last refill. */
  get available(): number {
    return this.tokens;
  }

  get isFull(): boolean {
    return this.tokens >= this.shape.capacity;
  }

  /** Takes a token the caller has checked is there (after refill). */
  consume(): void {
    this.tokens--;
  }

  msUntilNextFill(now: number): number {
    return this.lastFillAt + this.shape.fillIntervalMs - now;
  }

  /** Until a token is available, after refill: 0 if one is, Infinity if a fill can never bring one. */
  msUntilToken(now: number): number {
    if (this.tokens >= 1) return 0;
    if (this.shape.tokensPerFill < 1 || this.shape.capacity < 1) return Number.POSITIVE_INFINITY;
    return this.msUntilNextFill(now);
  }

  take(now: number): TakeResult {
    this.refill(now);
    const resetMs = this.msUntilNextFill(now);
    if (this.tokens < 1) return { allowed: false, remaining: 0, resetMs, retryAfterMs: this.msUntilToken(now) };
    this.consume();
    return { allowed: true, remaining: this.tokens, resetMs, retryAfterMs: 0 };
  }

  /**
   * Applies a new shape keeping the tokens and fill phase: tokens above a smaller capacity are
   * dropped, and a larger capacity is not topped up, so a config change never hands out tokens.
   */
  reshape(shape: BucketShape): void {
    this.shape = shape;
    this.tokens = Math.min(this.tokens, shape.capacity);
  }
}
