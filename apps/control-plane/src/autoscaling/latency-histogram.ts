/**
 * Latency histograms from gateway heartbeats (agent protocol: counts per LATENCY_BUCKETS_MS bucket
 * plus the sum), added up across gateways and periods, and read the way Prometheus'
 * histogram_quantile reads its buckets, so the heartbeat source and the Prometheus source answer
 * alike for the same traffic.
 */
import { LATENCY_BUCKETS_MS, type LatencyHistogram } from '@portolan/agent-client';

export function emptyHistogram(): LatencyHistogram {
  return { counts: new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0), sumMs: 0 };
}

/** Adds `histogram` into `total`. A histogram of another length (another protocol version) is ignored: merging it would misplace every count. */
export function addHistogram(total: LatencyHistogram, histogram: LatencyHistogram): boolean {
  if (histogram.counts.length !== total.counts.length) return false;
  for (let index = 0; index < total.counts.length; index++) total.counts[index] += histogram.counts[index];
  total.sumMs += histogram.sumMs;
  return true;
}

export function histogramCount(histogram: LatencyHistogram): number {
  return histogram.counts.reduce((sum, count) => sum + count, 0);
}

/**
 * The `quantile` (0.99 for p99) in milliseconds, interpolated linearly within its bucket, as
 * Prometheus does; null when the histogram is empty. A quantile in the bucket above the highest
 * bound answers that bound (10 s), as histogram_quantile does for its +Inf bucket.
 */
export function histogramQuantile(quantile: number, histogram: LatencyHistogram): number | null {
  const total = histogramCount(histogram);
  if (total === 0) return null;
  const rank = quantile * total;
  let below = 0;
  for (let index = 0; index < histogram.counts.length; index++) {
    const inBucket = histogram.counts[index];
    if (below + inBucket >= rank && inBucket > 0) {
      if (index === LATENCY_BUCKETS_MS.length) return LATENCY_BUCKETS_MS[index - 1];
      const lower = index === 0 ? 0 : LATENCY_BUCKETS_MS[index - 1];
      const upper = LATENCY_BUCKETS_MS[index];
      return lower + (upper - lower) * ((rank - below) / inBucket);
    }
    below += inBucket;
  }
  return LATENCY_BUCKETS_MS[LATENCY_BUCKETS_MS.length - 1];
}

/** Mean latency in milliseconds; null when the histogram is empty. */
export function histogramMean(histogram: LatencyHistogram): number | null {
  const total = histogramCount(histogram);
  return total === 0 ? null : histogram.sumMs / total;
}
