import { describe, expect, it } from 'vitest';
import { addHistogram, emptyHistogram, histogramMean, histogramQuantile } from './latency-histogram';

/** A histogram with `count` requests in the bucket whose upper bound is `boundMs` (Infinity: above 10 s). */
function histogramOf(entries: Array<[boundMs: number, count: number]>, sumMs = 0) {
  const bounds = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, Infinity];
  const histogram = emptyHistogram();
  for (const [bound, count] of entries) histogram.counts[bounds.indexOf(bound)] += count;
  histogram.sumMs = sumMs;
  return histogram;
}

describe('histogramQuantile (Prometheus interpolation)', () => {
  it.each([
    { what: 'all requests in the 25-50 ms bucket: p50 halfway through it', entries: [[50, 100]], quantile: 0.5, expected: 37.5 },
    { what: 'p99 of 99 fast and 1 slow request lands at the top of the fast bucket', entries: [[5, 99], [250, 1]], quantile: 0.99, expected: 5 },
    { what: 'p99 of 98 fast and 2 slow requests lands in the slow bucket', entries: [[5, 98], [250, 2]], quantile: 0.99, expected: 175 },
    { what: 'the first bucket starts at 0', entries: [[1, 10]], quantile: 0.5, expected: 0.5 },
    { what: 'above the highest bound answers 10 s', entries: [[Infinity, 5]], quantile: 0.99, expected: 10_000 },
  ] as const)('$what', ({ entries, quantile, expected }) => {
    expect(histogramQuantile(quantile, histogramOf(entries as unknown as Array<[number, number]>))).toBeCloseTo(expected, 6);
  });

  it('answers null, not 0, for no requests', () => {
    expect(histogramQuantile(0.99, emptyHistogram())).toBeNull();
    expect(histogramMean(emptyHistogram())).toBeNull();
  });
});

describe('adding histograms', () => {
  it('adds counts and sums of several gateways, so the mean and quantiles cover all their requests', () => {
    const total = emptyHistogram();
    expect(addHistogram(total, histogramOf([[10, 90]], 700))).toBe(true);
    expect(addHistogram(total, histogramOf([[250, 10]], 2_000))).toBe(true);
    expect(histogramMean(total)).toBeCloseTo(27, 6);
    expect(histogramQuantile(0.95, total)).toBeCloseTo(175, 6);
  });

  it('ignores a histogram with other buckets rather than misplacing its counts', () => {
    const total = emptyHistogram();
    expect(addHistogram(total, { counts: [5, 5], sumMs: 10 })).toBe(false);
    expect(histogramMean(total)).toBeNull();
  });
});
