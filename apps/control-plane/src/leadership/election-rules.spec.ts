import { describe, expect, it } from 'vitest';
import type { KvEntry } from '../consul/consul-client';
import { electionTimings, LOCK_DELAY_MARGIN_MS, lockHolder, mustStepDown, nextAttemptInMs, waitWithin } from './election-rules';

describe('mustStepDown', () => {
  it.each([
    { case: 'just renewed', now: 1_000, lastRenewedAt: 1_000, ttlMs: 15_000, expected: false },
    { case: 'half the TTL since the renewal', now: 8_500, lastRenewedAt: 1_000, ttlMs: 15_000, expected: false },
    { case: '1 ms before the TTL runs out', now: 15_999, lastRenewedAt: 1_000, ttlMs: 15_000, expected: false },
    { case: 'exactly the TTL: the server may invalidate from now on', now: 16_000, lastRenewedAt: 1_000, ttlMs: 15_000, expected: true },
    { case: 'past the TTL (Consul may still keep the session up to 2×TTL, but this replica cannot know)', now: 25_000, lastRenewedAt: 1_000, ttlMs: 15_000, expected: true },
    { case: 'short test TTL, within', now: 1_999, lastRenewedAt: 1_000, ttlMs: 1_000, expected: false },
    { case: 'short test TTL, past', now: 2_000, lastRenewedAt: 1_000, ttlMs: 1_000, expected: true },
  ])('$case -> $expected', ({ now, lastRenewedAt, ttlMs, expected }) => {
    expect(mustStepDown(now, lastRenewedAt, ttlMs)).toBe(expected);
  });
});

describe('lockHolder', () => {
  const entry = (Session?: string): KvEntry => ({ Key: 'p/leader', Value: '{}', Flags: 0, CreateIndex: 5, ModifyIndex: 9, LockIndex: 1, ...(Session ? { Session } : {}) });
  it.each([
    { case: 'no key yet', read: undefined, expected: 'nobody' },
    { case: 'key released (no Session)', read: entry(), expected: 'nobody' },
    { case: 'held by this session', read: entry('s-1'), expected: 'this-session' },
    { case: 'held by another session', read: entry('s-2'), expected: 'another-session' },
  ])('$case -> $expected', ({ read, expected }) => {
    expect(lockHolder(read, 's-1')).toBe(expected);
  });
});

describe('waitWithin', () => {
  it.each([
    { withinMs: 1_000, expected: 941 },
    { withinMs: 100, expected: 94 },
    { withinMs: 17, expected: 16 },
  ])('$withinMs ms -> wait $expected ms, which with the jitter of up to wait/16 stays within the bound', ({ withinMs, expected }) => {
    expect(waitWithin(withinMs)).toBe(expected);
    expect(expected + expected / 16).toBeLessThanOrEqual(withinMs);
  });
});

describe('electionTimings', () => {
  it.each([
    { case: 'the defaults', input: { ttlMs: 15_000, lockDelayMs: 15_000, retryMs: 1_000 }, expected: { ttlMs: 15_000, lockDelayMs: 15_000, renewEveryMs: 7_500, retryMs: 1_000 } },
    { case: 'no lock-delay', input: { ttlMs: 10_000, lockDelayMs: 0, retryMs: 1_000 }, expected: { ttlMs: 10_000, lockDelayMs: 0, renewEveryMs: 5_000, retryMs: 1_000 } },
    { case: 'retries never slower than renewals', input: { ttlMs: 1_000, lockDelayMs: 500, retryMs: 1_000 }, expected: { ttlMs: 1_000, lockDelayMs: 500, renewEveryMs: 500, retryMs: 500 } },
  ])('$case', ({ input, expected }) => {
    expect(electionTimings(input)).toEqual(expected);
  });

  it('lists every invalid timing at once', () => {
    expect(() => electionTimings({ ttlMs: 0, lockDelayMs: 61_000, retryMs: -1 })).toThrow(
      'invalid leader election timings: ttlMs must be a positive whole number of milliseconds, got 0; ' +
        'lockDelayMs must be a whole number of milliseconds between 0 and 60000, got 61000; ' +
        'retryMs must be a positive whole number of milliseconds, got -1',
    );
  });
});

describe('nextAttemptInMs', () => {
  const lockDelayMs = 2_000;
  const retryMs = 1_000;
  it.each([
    ['the lock was never seen held: the retry period', 5_000, undefined, retryMs],
    ['lock-delay ends in 300 ms: just after it', 1_700, 0, 300 + LOCK_DELAY_MARGIN_MS],
    ['lock-delay ends in 5 s: the retry period first', 0, 3_000, retryMs],
    ['lock-delay is over (a lost race): at once, after the margin', 9_000, 0, LOCK_DELAY_MARGIN_MS],
  ])('%s', (_case, now, freedAt, expected) => {
    expect(nextAttemptInMs(now, freedAt, lockDelayMs, retryMs)).toBe(expected);
  });
});
