import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.js';
import { jittered } from './heartbeat.js';

const fixed = (value: number) => () => value;

describe('backoffDelay', () => {
  it.each([
    // attempt, base, max, random, expected
    [0, 1_000, 30_000, 0.999, 999],
    [0, 1_000, 30_000, 0.5, 500],
    [1, 1_000, 30_000, 0.5, 1_000],
    [2, 1_000, 30_000, 0.5, 2_000],
    [3, 1_000, 30_000, 0.5, 4_000],
    [4, 1_000, 30_000, 0.5, 8_000],
    [5, 1_000, 30_000, 0.5, 15_000], // 32 s ceiling capped at 30 s
    [6, 1_000, 30_000, 0.999, 29_970],
    [50, 1_000, 30_000, 0.999, 29_970],
    [5_000, 1_000, 30_000, 0.5, 15_000], // 2^5000 overflows to Infinity; the cap still holds
    [3, 1_000, 30_000, 0, 0], // full jitter reaches down to zero
    [-1, 1_000, 30_000, 0.5, 500], // a negative attempt is the first one
    [2, 20, 200, 0.5, 40],
  ])('attempt %i, base %i, max %i, random %f -> %i ms', (attempt, base, max, random, expected) => {
    expect(backoffDelay(attempt, base, max, fixed(random))).toBe(expected);
  });

  it('stays below the ceiling of every attempt', () => {
    for (let attempt = 0; attempt < 12; attempt++) {
      const delay = backoffDelay(attempt, 1_000, 30_000, fixed(0.999_999));
      expect(delay).toBeLessThan(Math.min(30_000, 1_000 * 2 ** attempt));
    }
  });
});

describe('jittered', () => {
  it.each([
    [2_000, 0.1, 0, 1_800],
    [2_000, 0.1, 0.5, 2_000],
    [2_000, 0.1, 1, 2_200],
    [50, 0.1, 0.25, 48],
    [2_000, 0, 0.9, 2_000],
  ])('%i ms ± %f with random %f -> %i ms', (interval, spread, random, expected) => {
    expect(jittered(interval, spread, fixed(random))).toBe(expected);
  });
});
