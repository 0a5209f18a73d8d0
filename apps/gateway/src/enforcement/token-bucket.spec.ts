import { describe, expect, it } from 'vitest';
import { TokenBucket, type BucketShape, type TakeResult } from './token-bucket.js';

interface Step {
  at: number;
  /** Takes at `at`, all expected to give `result`; 1 when omitted. */
  times?: number;
  result: Partial<TakeResult>;
}

const cases: Array<{ name: string; shape: BucketShape; steps: Step[] }> = [
  {
    name: 'starts full at its capacity and denies once empty until the next fill',
    shape: { capacity: 3, tokensPerFill: 1, fillIntervalMs: 1_000 },
    steps: [
      { at: 0, result: { allowed: true, remaining: 2 } },
      { at: 0, times: 2, result: { allowed: true } },
      { at: 0, result: { allowed: false, remaining: 0, retryAfterMs: 1_000, resetMs: 1_000 } },
      { at: 999, result: { allowed: false, retryAfterMs: 1 } },
      { at: 1_000, result: { allowed: true, remaining: 0, resetMs: 1_000 } },
      { at: 1_000, result: { allowed: false } },
    ],
  },
  {
    name: 'fills are discrete: no token trickles in between fills',
    shape: { capacity: 10, tokensPerFill: 10, fillIntervalMs: 1_000 },
    steps: [
      { at: 0, times: 10, result: { allowed: true } },
      { at: 500, result: { allowed: false, retryAfterMs: 500 } },
      { at: 1_000, result: { allowed: true, remaining: 9 } },
    ],
  },
  {
    name: 'missed fills add up but never beyond the capacity',
    shape: { capacity: 5, tokensPerFill: 2, fillIntervalMs: 100 },
    steps: [
      { at: 0, times: 5, result: { allowed: true } },
      { at: 350, result: { allowed: true, remaining: 4, resetMs: 50 } },
    ],
  },
  {
    name: 'a burst larger than the fill: 1 per second with a burst of 3 admits 3 at once, then 1 per second',
    shape: { capacity: 3, tokensPerFill: 1, fillIntervalMs: 1_000 },
    steps: [
      { at: 0, times: 3, result: { allowed: true } },
      { at: 0, result: { allowed: false } },
      { at: 2_500, times: 2, result: { allowed: true } },
      { at: 2_500, result: { allowed: false, retryAfterMs: 500 } },
    ],
  },
  {
    name: 'a bucket that can never hold a token says so',
    shape: { capacity: 0, tokensPerFill: 0, fillIntervalMs: 1_000 },
    steps: [{ at: 5_000, result: { allowed: false, retryAfterMs: Number.POSITIVE_INFINITY } }],
  },
];

describe('TokenBucket', () => {
  it.each(cases)('$name', ({ shape, steps }) => {
    const bucket = new TokenBucket(shape, 0);
    for (const step of steps) {
      for (let i = 0; i < (step.times ?? 1); i++) expect({ at: step.at, ...bucket.take(step.at) }).toMatchObject({ at: step.at, ...step.result });
    }
  });

  it.each([
    { name: 'a smaller capacity drops the tokens above it', taken: 2, shape: { capacity: 5, tokensPerFill: 5, fillIntervalMs: 1_000 }, remainingAfterTake: 4 },
    { name: 'a larger capacity does not top the bucket up', taken: 2, shape: { capacity: 50, tokensPerFill: 50, fillIntervalMs: 1_000 }, remainingAfterTake: 7 },
  ])('reshape: $name', ({ taken, shape, remainingAfterTake }) => {
    const bucket = new TokenBucket({ capacity: 10, tokensPerFill: 10, fillIntervalMs: 1_000 }, 0);
    for (let i = 0; i < taken; i++) bucket.take(0);
    bucket.reshape(shape);
    expect(bucket.take(10).remaining).toBe(remainingAfterTake);
  });
});
