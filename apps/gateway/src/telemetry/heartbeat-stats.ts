/**
 * Traffic counters since the previous heartbeat (the agent protocol sends deltas). Latency
 * percentiles come from a bounded reservoir per period: exact below the cap, a uniform sample
 * above it, so a traffic spike cannot grow memory.
 */
import { LATENCY_BUCKETS_MS, type BreakerState, type HeartbeatStats } from '@portolan/agent-client';

const RESERVOIR_SIZE = 4_096;

const emptyCounts = () => new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);

/** Index of the histogram bucket a latency falls in: the first bound it does not exceed (Prometheus' `le`). */
function bucketOf(latencyMs: number): number {
  let low = 0;
  let high: number = LATENCY_BUCKETS_MS.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (latencyMs <= LATENCY_BUCKETS_MS[middle]) high = middle;
    else low = middle + 1;
  }
  return low;
}

type ErrorCause = keyof HeartbeatStats['errors'];

function percentile(sorted: number[], p: number): number {
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return Math.round(sorted[rank] * 1000) / 1000;
}

export class HeartbeatStatsCollector {
  private periodStart: number;
  private requests = 0;
  private responses = { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 };
  private errors: HeartbeatStats['errors'] = { rateLimited: 0, breakerOpen: 0, timeout: 0, connectFailure: 0, noRoute: 0, noEndpoint: 0 };
  private retries = 0;
  private latencies: number[] = [];
  private seen = 0;
  private latencyCounts: number[] = emptyCounts();
  private latencySumMs = 0;

  constructor(
    private readonly clock: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {
    this.periodStart = clock();
  }

  recordResponse(status: number, latencyMs: number): void {
    this.requests++;
    const statusClass = `${Math.floor(status / 100)}xx` as keyof typeof this.responses;
    if (statusClass in this.responses) this.responses[statusClass]++;
    this.seen++;
    this.latencyCounts[bucketOf(latencyMs)]++;
    this.latencySumMs += latencyMs;
    if (this.latencies.length < RESERVOIR_SIZE) this.latencies.push(latencyMs);
    else {
      const slot = Math.floor(this.random() * this.seen);
      if (slot < RESERVOIR_SIZE) this.latencies[slot] = latencyMs;
    }
  }

  recordError(cause: ErrorCause): void {
    this.errors[cause]++;
  }

  recordRetry(): void {
    this.retries++;
  }

  /** The counters of the period that ends now; a new period starts. */
  collect(breakers: HeartbeatStats['breakers'], ejectedEndpoints: HeartbeatStats['ejectedEndpoints']): HeartbeatStats {
    const now = this.clock();
    const sorted = this.latencies.sort((a, b) => a - b);
    const stats: HeartbeatStats = {
      periodMs: now - this.periodStart,
      requests: this.requests,
      responses: this.responses,
      errors: this.errors,
      retries: this.retries,
      latency: sorted.length ? { p50Ms: percentile(sorted, 50), p95Ms: percentile(sorted, 95), p99Ms: percentile(sorted, 99) } : null,
      latencyHistogram: { counts: this.latencyCounts, sumMs: Math.round(this.latencySumMs * 1000) / 1000 },
      breakers: breakers.filter((breaker) => breaker.state !== ('closed' satisfies BreakerState)),
      ejectedEndpoints,
    };
    this.periodStart = now;
    this.requests = 0;
    this.responses = { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 };
    this.errors = { rateLimited: 0, breakerOpen: 0, timeout: 0, connectFailure: 0, noRoute: 0, noEndpoint: 0 };
    this.retries = 0;
    this.latencies = [];
    this.seen = 0;
    this.latencyCounts = emptyCounts();
    this.latencySumMs = 0;
    return stats;
  }
}
