/**
 * Rate limiting of one route: the RateLimitPolicy's token buckets, one set per key (one for all
 * requests, per client IP, or per value of a header). A request passes only when every bucket of
 * its key has a token; none is taken unless all have one.
 *
 * Scope `mesh`: the limit holds for the whole gateway pool, so this gateway enforces only its
 * share. Shares are whole tokens that add up to the limit exactly: with 100 over 3 gateways they
 * are 34, 33 and 33 (the first `limit mod size` gateways by name take one more).
 */
import { parseDuration, type RateLimitPolicySpec } from '@portolan/api';
import type { PoolShare } from '@portolan/agent-client';
import { TokenBucket, type BucketShape } from './token-bucket.js';

export type RateLimitConfig = Omit<RateLimitPolicySpec, 'targetRef'>;

/** Keys tracked at most per route; beyond it the least recently used key is forgotten. */
const MAX_KEYS = 100_000;
/** RFC 9110 token: what a header name may contain. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export class RateLimitConfigError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

interface CompiledLimit {
  name: string;
  shape: BucketShape;
  /** The limit as the policy states it, before any pool share (for the RateLimit-Policy header). */
  requests: number;
  windowSeconds: number;
  /** The RateLimit-Policy header's value, formatted once per config change rather than per request. */
  policyHeader: string;
}

export interface CompiledRateLimit {
  keyType: 'none' | 'clientIP' | 'header';
  /** Lower-cased header name when keyType is header. */
  header?: string;
  limits: CompiledLimit[];
  statusCode: number;
}

/**
 * An admitted request carries nothing: the proxy forwards it untouched, so building RateLimit
 * headers for it would be work thrown away on every request. A refusal carries its answer.
 */
export type RateLimitDecision = { allowed: true } | { allowed: false; statusCode: number; headers: Record<string, string> };

const ADMITTED: RateLimitDecision = { allowed: true };

/** How often, at most, a key in use moves to the back of the recency order. */
const RECENCY_RESOLUTION_MS = 1_000;

interface KeyBuckets {
  buckets: TokenBucket[];
  /** When the key last moved to the back of the recency order. */
  movedAt: number;
}

/** `total` divided over `size` gateways, for the gateway at `index`. */
export function shareOf(total: number, share: PoolShare): number {
  if (share.size <= 0 || share.index < 0) return Math.ceil(total / Math.max(1, share.size));
  return Math.floor(total / share.size) + (share.index < total % share.size ? 1 : 0);
}

/** Validates and converts the policy once per config change; errors name the offending field. */
export function compileRateLimit(config: RateLimitConfig, share: PoolShare): CompiledRateLimit {
  const keyType = config.key?.type ?? 'none';
  let header: string | undefined;
  if (keyType === 'header') {
    header = config.key?.header;
    if (!header) throw new RateLimitConfigError('spec.key.header', 'key.type is header but key.header is not set');
    if (!HEADER_NAME.test(header)) throw new RateLimitConfigError('spec.key.header', `${JSON.stringify(header)} is not a valid HTTP header name`);
    header = header.toLowerCase();
  }
  const mesh = config.scope === 'mesh';
  const limits = config.limits.map((limit, index): CompiledLimit => {
    let intervalMs: number;
    try {
      intervalMs = parseDuration(limit.interval);
    } catch (error) {
      throw new RateLimitConfigError(`spec.limits[${index}].interval`, (error as Error).message);
    }
    const capacity = limit.burst ?? limit.requests;
    const name = limit.name ?? `limit-${index}`;
    const windowSeconds = Math.max(1, Math.round(intervalMs / 1000));
    return {
      name,
      requests: limit.requests,
      windowSeconds,
      policyHeader: `"${name}";q=${limit.requests};w=${windowSeconds}`,
      shape: { capacity: mesh ? shareOf(capacity, share) : capacity, fill: mesh ? shareOf(limit.requests, share) : limit.requests, intervalMs },
    };
  });
  return { keyType, header, limits, statusCode: config.onLimit?.statusCode ?? 429 };
}

export class RateLimiter {
  /**
   * Key value -> one bucket per limit. Map order is recency order to the second: a key used again
   * moves to the back at most once a second, since moving (delete and set) on every request was
   * the largest part of the check in the decision benchmark. Evicting past MAX_KEYS then drops a
   * key unused for at least about a second before any busier one.
   */
  private buckets = new Map<string, KeyBuckets>();
  private newKeysSinceSweep = 0;

  constructor(private compiled: CompiledRateLimit) {}

  get keyType(): CompiledRateLimit['keyType'] {
    return this.compiled.keyType;
  }

  get header(): string | undefined {
    return this.compiled.header;
  }

  /**
   * A policy update keeps the buckets of keys that still mean the same thing: same key type (and
   * header), limits matched by position. Changed limits are reshaped, keeping used tokens used.
   */
  update(next: CompiledRateLimit, now: number): void {
    const sameKey = next.keyType === this.compiled.keyType && next.header === this.compiled.header && next.limits.length === this.compiled.limits.length;
    this.compiled = next;
    if (!sameKey) {
      this.buckets.clear();
      return;
    }
    for (const { buckets } of this.buckets.values()) buckets.forEach((bucket, index) => bucket.reshape(next.limits[index].shape, now));
  }

  check(key: string, now: number): RateLimitDecision {
    let entry = this.buckets.get(key);
    if (entry === undefined) {
      // Before the new key is in, so that a sweep cannot drop its buckets before their first take.
      this.makeRoom(now);
      entry = { buckets: this.compiled.limits.map((limit) => new TokenBucket(limit.shape, now)), movedAt: now };
      this.buckets.set(key, entry);
    } else if (now - entry.movedAt >= RECENCY_RESOLUTION_MS) {
      this.buckets.delete(key);
      this.buckets.set(key, entry);
      entry.movedAt = now;
    }
    const { buckets } = entry;

    // Plain loops: this runs on every request, and callbacks and intermediate arrays showed in the
    // decision benchmark (docs/benchmarks.md).
    for (let index = 0; index < buckets.length; index++) {
      if (buckets[index].peek(now)) continue;
      const limit = this.compiled.limits[index];
      const resetSeconds = Math.max(1, Math.ceil(buckets[index].msUntilReset(now) / 1000));
      return {
        allowed: false,
        statusCode: this.compiled.statusCode,
        headers: {
          'retry-after': String(resetSeconds),
          'ratelimit-policy': limit.policyHeader,
          ratelimit: `"${limit.name}";r=0;t=${resetSeconds}`,
          'x-ratelimit-limit': String(limit.requests),
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset': String(resetSeconds),
        },
      };
    }
    for (let index = 0; index < buckets.length; index++) buckets[index].take(now);
    return ADMITTED;
  }

  /** Keys tracked now (for tests and metrics). */
  size(): number {
    return this.buckets.size;
  }

  /** Room for one more key: at most MAX_KEYS with it, and now and then idle keys forgotten. */
  private makeRoom(now: number): void {
    while (this.buckets.size >= MAX_KEYS) this.buckets.delete(this.buckets.keys().next().value!);
    // Full buckets are the same as new ones; forget them now and then so idle keys free memory.
    if (++this.newKeysSinceSweep < 1_000) return;
    this.newKeysSinceSweep = 0;
    for (const [key, { buckets }] of this.buckets) if (buckets.every((bucket) => bucket.isFull(now))) this.buckets.delete(key);
  }
}
