import { describe, expect, it } from 'vitest';
import { compileRateLimit, RateLimiter, shareOf, type RateLimitConfig } from './rate-limiter.js';

const solo = { pool: 'edge', size: 1, index: 0 };
const perMinute = (overrides: Partial<RateLimitConfig> = {}): RateLimitConfig => ({ scope: 'gateway', key: { type: 'none' }, limits: [{ name: 'per-minute', requests: 100, interval: '60s' }], ...overrides });

describe('shareOf', () => {
  it.each([
    [100, 3, [34, 33, 33]],
    [100, 2, [50, 50]],
    [2, 3, [1, 1, 0]],
    [7, 1, [7]],
  ])('%i over %i gateways is %j, adding up to the limit', (total, size, expected) => {
    const shares = Array.from({ length: size }, (_, index) => shareOf(total, { pool: 'p', size, index }));
    expect(shares).toEqual(expected);
    expect(shares.reduce((a, b) => a + b, 0)).toBe(total);
  });

  it('gives a gateway outside the pool (not routable) an even share rather than nothing', () => {
    expect(shareOf(100, { pool: 'p', size: 2, index: -1 })).toBe(50);
  });
});

describe('RateLimiter', () => {
  it('admits exactly 100 per 60 s, adding nothing to them, and answers the 101st with its status, Retry-After and RateLimit headers', () => {
    const limiter = new RateLimiter(compileRateLimit(perMinute(), solo));
    const decisions = Array.from({ length: 101 }, (_, i) => limiter.check('', 1_000 + i));
    expect(decisions.filter((d) => d.allowed)).toHaveLength(100);
    expect(decisions[99]).toEqual({ allowed: true });
    expect(decisions[100]).toEqual({
      allowed: false,
      statusCode: 429,
      headers: {
        'retry-after': '60',
        'ratelimit-policy': '"per-minute";q=100;w=60',
        ratelimit: '"per-minute";r=0;t=60',
        'x-ratelimit-limit': '100',
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': '60',
      },
    });
    expect(limiter.check('', 61_000).allowed).toBe(true);
  });

  it('past 100,000 keys forgets the least recently used, not a key still in use', () => {
    const limiter = new RateLimiter(compileRateLimit({ key: { type: 'clientIP' }, limits: [{ name: 'two', requests: 2, interval: '60s' }] }, solo));
    expect(limiter.check('busy', 0).allowed).toBe(true);
    expect(limiter.check('busy', 0).allowed).toBe(true);
    for (let i = 0; i < 99_999; i++) limiter.check(`client-${i}`, 1);
    expect(limiter.check('busy', 2_000).allowed).toBe(false);
    limiter.check('newcomer', 2_001);
    expect(limiter.size()).toBe(100_000);
    // Still remembered with its tokens used: refused, where a forgotten key would start afresh.
    expect(limiter.check('busy', 2_002).allowed).toBe(false);
    // The oldest idle key was forgotten instead: it starts with full buckets again.
    expect(limiter.check('client-0', 2_003).allowed).toBe(true);
    expect(limiter.check('client-0', 2_003).allowed).toBe(true);
    expect(limiter.check('client-0', 2_003).allowed).toBe(false);
  });

  it('keeps one bucket set per key', () => {
    const limiter = new RateLimiter(compileRateLimit(perMinute({ limits: [{ name: 'per-second', requests: 1, interval: '1s' }] }), solo));
    expect(limiter.check('a', 0).allowed).toBe(true);
    expect(limiter.check('a', 0).allowed).toBe(false);
    expect(limiter.check('b', 0).allowed).toBe(true);
  });

  it('takes no token when another bucket of the key is empty', () => {
    const limiter = new RateLimiter(compileRateLimit(perMinute({ limits: [{ name: 'per-second', requests: 2, interval: '1s' }, { name: 'per-minute', requests: 1, interval: '1m' }] }), solo));
    expect(limiter.check('', 0).allowed).toBe(true);
    expect(limiter.check('', 1).allowed).toBe(false);
    // The per-second bucket still has its second token: the minute bucket refused without taking it.
    expect(limiter.check('', 60_000).allowed).toBe(true);
  });

  it('enforces only its share of a mesh-scoped limit', () => {
    const limiter = new RateLimiter(compileRateLimit(perMinute({ scope: 'mesh' }), { pool: 'edge', size: 3, index: 2 }));
    let admitted = 0;
    while (limiter.check('', 0).allowed) admitted++;
    expect(admitted).toBe(33);
  });

  it('keeps buckets across an update when the key is unchanged, and resets them when it changes', () => {
    const limiter = new RateLimiter(compileRateLimit(perMinute(), solo));
    for (let i = 0; i < 90; i++) limiter.check('', 0);
    limiter.update(compileRateLimit(perMinute({ limits: [{ name: 'per-minute', requests: 200, interval: '60s' }] }), solo), 1);
    let admitted = 0;
    while (limiter.check('', 2).allowed) admitted++;
    expect(admitted).toBe(10);
    limiter.update(compileRateLimit(perMinute({ key: { type: 'header', header: 'X-Tenant' } }), solo), 3);
    expect(limiter.check('', 4).allowed).toBe(true);
  });

  it.each([
    [{ key: { type: 'header' as const } }, 'spec.key.header', 'key.header is not set'],
    [{ key: { type: 'header' as const, header: 'x tenant' } }, 'spec.key.header', 'not a valid HTTP header name'],
  ])('rejects %j naming %s', (overrides, field, message) => {
    expect(() => compileRateLimit(perMinute(overrides), solo)).toThrow(expect.objectContaining({ field, message: expect.stringContaining(message) }));
  });
});
