import { describe, expect, it } from 'vitest';
import { afterFailure, blockedForMs, isStale, sourceKey, type FailureWindow } from './failure-window';

const LIMITS = { maxFailures: 3, windowMs: 60_000, blockMs: 30_000 };

/** The window after failures at these times, and how long the address waits at `at`. */
function waitAfter(failures: number[], at: number): number {
  const window = failures.reduce<FailureWindow | undefined>((previous, time) => afterFailure(previous, time, LIMITS), undefined);
  return blockedForMs(window, at);
}

describe('the failure window', () => {
  it.each([
    ['no failure', [], 0, 0],
    ['fewer failures than the limit', [0, 1_000], 2_000, 0],
    ['the limit within the window: blocked from the last one', [0, 1_000, 2_000], 2_000, 30_000],
    ['the limit, later in the block', [0, 1_000, 2_000], 12_000, 20_000],
    ['the limit, once the block ended', [0, 1_000, 2_000], 32_000, 0],
    ['the limit spread over two windows', [0, 1_000, 61_000], 61_000, 0],
    ['a new window filled after the first expired', [0, 1_000, 61_000, 62_000, 63_000], 63_000, 30_000],
    ['failures while blocked do not extend the block', [0, 1_000, 2_000, 10_000, 20_000], 20_000, 12_000],
    ['one failure after a block ended starts counting again', [0, 1_000, 2_000, 40_000], 40_000, 0],
    ['the limit again after a block ended', [0, 1_000, 2_000, 40_000, 41_000, 42_000], 42_000, 30_000],
  ])('%s', (_case, failures, at, wait) => {
    expect(waitAfter(failures, at)).toBe(wait);
  });

  it.each([
    ['inside its window', { count: 1, windowStart: 0 }, 59_999, false],
    ['past its window', { count: 2, windowStart: 0 }, 60_000, true],
    ['blocked, past its window', { count: 3, windowStart: 0, blockedUntil: 90_000 }, 70_000, false],
    ['once its block ended', { count: 3, windowStart: 0, blockedUntil: 90_000 }, 90_000, true],
  ])('is stale %s: %s', (_case, window, now, stale) => {
    expect(isStale(window, now, LIMITS)).toBe(stale);
  });
});

describe('sourceKey', () => {
  it.each([
    ['an IPv4 address', '203.0.113.7', '203.0.113.7'],
    ['an IPv4-mapped IPv6 address, as the IPv4 one', '::ffff:203.0.113.7', '203.0.113.7'],
    ['an IPv6 address, by its /64', '2001:db8:1:2:aaaa:bbbb:cccc:dddd', '2001:db8:1:2::/64'],
    ['another address of the same /64 alike', '2001:0db8:0001:0002::1', '2001:db8:1:2::/64'],
    ['a compressed IPv6 address', '2001:db8::1', '2001:db8:0:0::/64'],
    ['the IPv6 loopback', '::1', '0:0:0:0::/64'],
    ['no address (a closed socket)', undefined, 'unknown'],
  ])('counts %s', (_case, address, key) => {
    expect(sourceKey(address)).toBe(key);
  });
});
