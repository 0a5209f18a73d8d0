/**
 * Heartbeat statistics for specs: what a gateway would send for a number of requests, with its
 * latency histogram counted the way the gateway counts it (the agent protocol's buckets).
 */
import { LATENCY_BUCKETS_MS, type HeartbeatStats, type LatencyHistogram } from '@portolan/agent-client';

/** [latency in ms, how many requests took it] */
export type Latencies = Array<[ms: number, count: number]>;

/** The histogram a gateway counts `latencies` into: bucket i is (LATENCY_BUCKETS_MS[i-1], LATENCY_BUCKETS_MS[i]], the last one above 10 s. */
export function latencyHistogram(latencies: Latencies): LatencyHistogram {
  const counts = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
  let sumMs = 0;
  for (const [ms, count] of latencies) {
    const bucket = LATENCY_BUCKETS_MS.findIndex((bound) => ms <= bound);
    counts[bucket === -1 ? LATENCY_BUCKETS_MS.length : bucket] += count;
    sumMs += ms * count;
  }
  return { counts, sumMs };
}

/** One heartbeat period: `requests` answers, `serverErrors` of them 5xx, nothing else going wrong. */
export function heartbeatStats(fields: { requests: number; serverErrors?: number; periodMs?: number } & Partial<Pick<HeartbeatStats, 'latencyHistogram' | 'upstreamZones' | 'services'>>): HeartbeatStats {
  const { requests, serverErrors = 0, periodMs = 5_000, ...rest } = fields;
  return {
    periodMs,
    requests,
    responses: { '2xx': requests - serverErrors, '3xx': 0, '4xx': 0, '5xx': serverErrors },
    errors: { rateLimited: 0, breakerOpen: 0, timeout: 0, connectFailure: 0, noRoute: 0, noEndpoint: 0 },
    retries: 0,
    latency: null,
    ...rest,
    breakers: [],
    ejectedEndpoints: [],
  };
}
