/**
 * Rate limiting of one route by its RateLimitPolicy: per key (all requests, client IP, or a header
 * value), one token bucket per limit. A request passes only when every bucket of its key has a
 * token, and then takes one from each; a denied request takes none.
 *
 * Scope `mesh`: the limit holds for the whole gateway pool, so this gateway enforces only its
 * share of it. Shares are whole tokens that add up to the limit: 100 over 3 gateways gives 34, 33
 * and 33, the first `limit mod size` gateways in name order taking one more.
 */
import type { EffectivePolicy, RateLimitPolicySpec } from '@portolan/api';
import type { PoolShare } from '@portolan/agent-client';
import { compiled, durationMs, type Compiled, type FieldProblem } from './compile-result.js';
import { headerValue, isHeaderName, type RequestHeaders } from './request-headers.js';
import { TokenBucket, type BucketShape } from './token-bucket.js';

export type RateLimitConfig = Omit<RateLimitPolicySpec, 'targetRef'>;

export type RateLimitKey = { type: 'none' } | { type: 'clientIP' } | { type: 'header'; header: string };

export interface Quota {
  /** Identity across config changes: the limit's name, or its position when it has none (or a taken one). */
  id: string;
  /** The name as an RFC 8941 string, ready for the RateLimit headers. */
  quotedName: string;
  bucket: BucketShape;
  /** Requests per window this gateway enforces (its share, for a mesh-wide limit). */
  limit: number;
  windowSeconds: number;
  /** Value of the RateLimit-Policy header, built once. */
  policyHeader: string;
}

export interface RateLimitSettings {
  key: RateLimitKey;
  quotas: Quota[];
  statusCode: number;
}

interface VerdictBase {
  /** The quota the headers report: the one that denied, or the one closest to running out. */
  quota: Quota;
  remaining: number;
  resetSeconds: number;
}

export type RateLimitVerdict =
  | (VerdictBase & { allowed: true })
  | (VerdictBase & { allowed: false; retryAfterSeconds: number; statusCode: number });

const DEFAULT_STATUS_CODE = 429;
const DEFAULT_MAX_KEYS = 100_000;
/** Oldest keys looked at for idleness each time a key is added; keeps the cost per request constant. */
const IDLE_CHECKS_PER_NEW_KEY = 2;

/**
 * This gateway's part of `total` over the routable gateways of its pool. A gateway that is not
 * routable (index -1) still gets traffic from clients that have not noticed, so it enforces the
 * rounded-up equal part rather than the whole limit.
 */
export function poolShare(total: number, share: PoolShare): number {
  if (share.index < 0 || share.size <= 0) return Math.ceil(total / Math.max(share.size, 1));
  return Math.floor(total / share.size) + (share.index < total % share.size ? 1 : 0);
}

/** A Structured Field string (RFC 8941): printable ASCII, with `"` and `\` escaped. */
function structuredString(text: string): string {
  return `"${text.replace(/[^\x20-\x7e]/g, '').replace(/[\\"]/g, '\\$&')}"`;
}

/**
 * `share` is ignored unless the scope is mesh; a mesh-scoped limit without a share (the control
 * plane sends none outside a pool) is enforced in full, the only limit this gateway can know.
 */
export function compileRateLimit(policy: EffectivePolicy<RateLimitConfig>, share: PoolShare | null): Compiled<RateLimitSettings> {
  const { config } = policy;
  const problems: FieldProblem[] = [];
  let key: RateLimitKey = { type: 'none' };
  const keyType = config.key?.type ?? 'none';
  if (keyType === 'header') {
    const header = config.key?.header;
    if (header === undefined) problems.push({ provenancePath: 'key.type', field: 'spec.key.header', message: 'key.type is header but key.header is not set' });
    else if (!isHeaderName(header)) problems.push({ provenancePath: 'key.header', field: 'spec.key.header', message: `${JSON.stringify(header)} is not a valid HTTP header name` });
    else key = { type: 'header', header: header.toLowerCase() };
  } else if (keyType === 'clientIP') {
    key = { type: 'clientIP' };
  }

  const limitsSource = policy.provenance.limits;
  const policyName = limitsSource && limitsSource.kind !== 'Default' ? limitsSource.name : 'limit';
  const portion = (total: number) => (config.scope === 'mesh' && share ? poolShare(total, share) : total);
  const usedNames = new Set<string>();
  const quotas = config.limits.map((limit, index): Quota => {
    const fillIntervalMs = durationMs(limit.interval, 'limits', problems, `spec.limits[${index}].interval`);
    const name = limit.name ?? (config.limits.length === 1 ? policyName : `${policyName}-${index}`);
    const id = limit.name !== undefined && !usedNames.has(limit.name) ? `name:${limit.name}` : `index:${index}`;
    if (limit.name !== undefined) usedNames.add(limit.name);
    const requests = portion(limit.requests);
    const windowSeconds = Math.max(1, Math.ceil(fillIntervalMs / 1000));
    const quotedName = structuredString(name);
    return {
      id,
      quotedName,
      bucket: { capacity: portion(limit.burst ?? limit.requests), tokensPerFill: requests, fillIntervalMs },
      limit: requests,
      windowSeconds,
      policyHeader: `${quotedName};q=${requests};w=${windowSeconds}`,
    };
  });
  return compiled({ key, quotas, statusCode: config.onLimit?.statusCode ?? DEFAULT_STATUS_CODE }, problems);
}

interface KeyState {
  /** One per quota, in the order of `settings.quotas`. */
  buckets: TokenBucket[];
  lastUsedAt: number;
}

function sameKey(a: RateLimitKey, b: RateLimitKey): boolean {
  return a.type === b.type && (a.type !== 'header' || a.header === (b as { header: string }).header);
}

export class RateLimiter {
  /** Insertion order is use order: the first entry is the least recently used key. */
  private readonly keys = new Map<string, KeyState>();
  private longestFillIntervalMs = 0;

  constructor(
    private settings: RateLimitSettings,
    private readonly maxKeys = DEFAULT_MAX_KEYS,
  ) {
    this.longestFillIntervalMs = longestInterval(settings);
  }

  get trackedKeys(): number {
    return this.keys.size;
  }

  /** The bucket key of a request; a missing key header is a key of its own (''). */
  keyOf(clientAddress: string, headers: RequestHeaders): string {
    const { key } = this.settings;
    if (key.type === 'clientIP') return clientAddress;
    if (key.type === 'header') return headerValue(headers, key.header) ?? '';
    return '';
  }

  check(key: string, now: number): RateLimitVerdict {
    const { buckets } = this.stateOf(key, now);
    const { quotas } = this.settings;
    let denying = -1;
    let longestWaitMs = 0;
    for (let i = 0; i < buckets.length; i++) {
      const bucket = buckets[i];
      bucket.refill(now);
      if (bucket.available >= 1) continue;
      const waitMs = bucket.msUntilToken(now);
      if (denying < 0 || waitMs > longestWaitMs) {
        denying = i;
        longestWaitMs = waitMs;
      }
    }
    if (denying >= 0) {
      const quota = quotas[denying];
      return {
        allowed: false,
        quota,
        remaining: 0,
        resetSeconds: Math.ceil(buckets[denying].msUntilNextFill(now) / 1000),
        // A bucket that never refills (a zero share of a mesh limit) sends the client away for a
        // window: its retry may land on another gateway of the pool.
        retryAfterSeconds: Math.max(1, Number.isFinite(longestWaitMs) ? Math.ceil(longestWaitMs / 1000) : quota.windowSeconds),
        statusCode: this.settings.statusCode,
      };
    }
    let tightest = 0;
    for (let i = 0; i < buckets.length; i++) {
      buckets[i].consume();
      if (buckets[i].available < buckets[tightest].available) tightest = i;
    }
    return {
      allowed: true,
      quota: quotas[tightest],
      remaining: buckets[tightest].available,
      resetSeconds: Math.ceil(buckets[tightest].msUntilNextFill(now) / 1000),
    };
  }

  /**
   * Applies new settings (a policy edit, or a new pool share) keeping the buckets whose quota id
   * and key are unchanged, with their tokens clamped to the new capacity. A new key type forgets
   * every bucket, as the old keys mean nothing under it.
   */
  update(settings: RateLimitSettings, now: number): void {
    const previous = this.settings;
    this.settings = settings;
    this.longestFillIntervalMs = longestInterval(settings);
    if (!sameKey(previous.key, settings.key)) {
      this.keys.clear();
      return;
    }
    const previousIndex = new Map(previous.quotas.map((quota, index) => [quota.id, index]));
    for (const state of this.keys.values()) {
      state.buckets = settings.quotas.map((quota) => {
        const index = previousIndex.get(quota.id);
        if (index === undefined) return new TokenBucket(quota.bucket, now);
        const bucket = state.buckets[index];
        bucket.reshape(quota.bucket);
        return bucket;
      });
    }
  }

  private stateOf(key: string, now: number): KeyState {
    let state = this.keys.get(key);
    if (state) {
      this.keys.delete(key);
    } else {
      this.forgetIdleKeys(now);
      if (this.keys.size >= this.maxKeys) this.keys.delete(this.keys.keys().next().value!);
      state = { buckets: this.settings.quotas.map((quota) => new TokenBucket(quota.bucket, now)), lastUsedAt: now };
    }
    state.lastUsedAt = now;
    this.keys.set(key, state);
    return state;
  }

  /**
   * A key idle for longer than a fill interval whose buckets are all full behaves exactly as a new
   * one would, so forgetting it changes nothing for the client. Only the least recently used keys
   * are looked at, a few per new key, which is enough to keep up with the keys added.
   */
  private forgetIdleKeys(now: number): void {
    let checked = 0;
    for (const [key, state] of this.keys) {
      if (checked++ >= IDLE_CHECKS_PER_NEW_KEY || now - state.lastUsedAt <= this.longestFillIntervalMs) return;
      for (const bucket of state.buckets) bucket.refill(now);
      if (!state.buckets.every((bucket) => bucket.isFull)) return;
      this.keys.delete(key);
    }
  }
}

function longestInterval(settings: RateLimitSettings): number {
  return Math.max(0, ...settings.quotas.map((quota) => quota.bucket.fillIntervalMs));
}

/**
 * Response headers for a verdict: the IETF draft RateLimit-Policy and RateLimit fields, their
 * legacy X-RateLimit-* equivalents, and Retry-After on a denial.
 */
export function rateLimitHeaders(verdict: RateLimitVerdict): Record<string, string> {
  const { quota, remaining, resetSeconds } = verdict;
  const headers: Record<string, string> = {
    'RateLimit-Policy': quota.policyHeader,
    RateLimit: `${quota.quotedName};r=${remaining};t=${resetSeconds}`,
    'X-RateLimit-Limit': String(quota.limit),
    'X-RateLimit-Remaining': String(remaining),
    'X-RateLimit-Reset': String(resetSeconds),
  };
  if (!verdict.allowed) headers['Retry-After'] = String(verdict.retryAfterSeconds);
  return headers;
}
