import { describe, expect, it } from 'vitest';
import { TokenBucket } from './token-bucket.js';

describe('TokenBucket', () => {
  it('admits exactly its capacity, then refills in whole steps every interval', () => {
    const bucket = new TokenBucket({ capacity: 100, fill: 100, intervalMs: 60_000 }, 0);
    const admitted = Array.from({ length: 101 }, (_, i) => bucket.take(i).allowed);
    expect(admitted.filter(Boolean)).toHaveLength(100);
    expect(admitted[100]).toBe(false);
    expect(bucket.take(59_999)).toEqual({ allowed: false, remaining: 0, resetMs: 1 });
    expect(bucket.take(60_000)).toEqual({ allowed: true, remaining: 99, resetMs: 60_000 });
  });

  it.each([
    ['burst larger than fill: refills accumulate up to capacity', { capacity: 10, fill: 2, intervalMs: 1_000 }, 10, 3_500, 6],
    ['never above capacity after a long idle', { capacity: 5, fill: 5, intervalMs: 1_000 }, 5, 100_000, 5],
    ['a fill smaller than one interval does not count', { capacity: 3, fill: 3, intervalMs: 1_000 }, 3, 999, 0],
  ])('%s', (_name, shape, drained, later, available) => {
    const bucket = new TokenBucket(shape, 0);
    for (let i = 0; i < drained; i++) bucket.take(0);
    let count = 0;
    while (bucket.take(later).allowed) count++;
    expect(count).toBe(available);
  });

  it('keeps used tokens used when reshaped, and clamps to a smaller capacity', () => {
    const bucket = new TokenBucket({ capacity: 34, fill: 34, intervalMs: 60_000 }, 0);
    for (let i = 0; i < 30; i++) bucket.take(0);
    bucket.reshape({ capacity: 50, fill: 50, intervalMs: 60_000 }, 1);
    expect(bucket.take(2).remaining).toBe(3);
    bucket.reshape({ capacity: 2, fill: 2, intervalMs: 60_000 }, 3);
    expect(bucket.take(4)).toMatchObject({ allowed: true, remaining: 1 });
  });

  it('is full again after the fill that restores what was taken', () => {
    const bucket = new TokenBucket({ capacity: 2, fill: 2, intervalMs: 1_000 }, 0);
    bucket.take(500);
    expect(bucket.isFull(999)).toBe(false);
    expect(bucket.isFull(1_000)).toBe(true);
  });
});
