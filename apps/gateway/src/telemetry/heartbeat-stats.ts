/**
 * Traffic counters since the previous heartbeat (the agent protocol sends deltas). Latency
 * percentiles come from a bounded reservoir per period: exact below the cap, a uniform sample
 * above it, so a traffic spike cannot grow memory.
 *
 * Besides the answers this gateway gave, it counts the tries it sent per endpoint zone (tries,
 * failed tries, latency histogram): the control plane judges a zone by the traffic that went to its
 * endpoints, from whichever gateway, not by the traffic through the zone's own gateways.
 *
 * It also counts the answers per service of the matched route (the dashboard's per-service
 * metrics). A request looks its service's counters up once, when its route is known, and passes
 * them to every record call of its own: the request path pays one Map lookup and a few increments.
 */
import { LATENCY_BUCKETS_MS, MAX_SERVICES_PER_HEARTBEAT, MAX_UPSTREAM_ZONES, type BreakerState, type HeartbeatStats, type ServiceTraffic, type UpstreamZoneStats } from '@portolan/agent-client';

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

/** One endpoint zone's counters of the current period. */
interface ZoneTries {
  requests: number;
  serverErrors: number;
  counts: number[];
  sumMs: number;
}

/**
 * One service's counters of the current period. The same object serves the service from one
 * period to the next (collect zeroes it), so counting allocates nothing.
 */
export interface ServiceCounters {
  requests: number;
  serverErrors: number;
  rateLimited: number;
  retries: number;
  breakerOpen: number;
  timeouts: number;
  counts: number[];
  sumMs: number;
  /**
   * Requests that hold these counters and are not answered yet: while there are any, the entry
   * stays, or a request running across a quiet period would count into counters nobody reports.
   */
  inFlight: number;
}

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
  /**
   * Per endpoint zone ("" for endpoints without one). Entries stay from one period to the next, so
   * a try allocates nothing; a zone without tries in a period is dropped at its end, which keeps
   * zones that left the configuration from holding one of the MAX_UPSTREAM_ZONES places.
   */
  private readonly zoneTries = new Map<string, ZoneTries>();
  /**
   * Per service (`namespace/name`). Services come from the routes in configuration, not from
   * requests, so this holds at most the configured services; one without answers, retries or
   * requests in flight is dropped at the end of a period, as a zone is.
   */
  private readonly services = new Map<string, ServiceCounters>();

  constructor(
    private readonly clock: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {
    this.periodStart = clock();
  }

  /**
   * A request matched a route of `service`: the counters its record calls take, up to its
   * recordResponse, which must be called with them (it ends the request).
   */
  startRequest(service: string): ServiceCounters {
    let counters = this.services.get(service);
    if (!counters) {
      counters = { requests: 0, serverErrors: 0, rateLimited: 0, retries: 0, breakerOpen: 0, timeouts: 0, counts: emptyCounts(), sumMs: 0, inFlight: 0 };
      this.services.set(service, counters);
    }
    counters.inFlight++;
    return counters;
  }

  /** The answer to a request; `service`: its service's counters, when it matched a route (startRequest). */
  recordResponse(status: number, latencyMs: number, service?: ServiceCounters): void {
    this.requests++;
    const statusClass = `${Math.floor(status / 100)}xx` as keyof typeof this.responses;
    if (statusClass in this.responses) this.responses[statusClass]++;
    this.seen++;
    const bucket = bucketOf(latencyMs);
    this.latencyCounts[bucket]++;
    this.latencySumMs += latencyMs;
    if (service) {
      service.inFlight--;
      service.requests++;
      if (status >= 500) service.serverErrors++;
      service.counts[bucket]++;
      service.sumMs += latencyMs;
    }
    if (this.latencies.length < RESERVOIR_SIZE) this.latencies.push(latencyMs);
    else {
      const slot = Math.floor(this.random() * this.seen);
      if (slot < RESERVOIR_SIZE) this.latencies[slot] = latencyMs;
    }
  }

  recordError(cause: ErrorCause, service?: ServiceCounters): void {
    this.errors[cause]++;
    if (!service) return;
    if (cause === 'rateLimited') service.rateLimited++;
    else if (cause === 'breakerOpen') service.breakerOpen++;
    else if (cause === 'timeout') service.timeouts++;
  }

  recordRetry(service?: ServiceCounters): void {
    this.retries++;
    if (service) service.retries++;
  }

  /**
   * One try sent to an endpoint of `zone` ("" or undefined: an endpoint without a zone): `failed`
   * when it ended in a 5xx answer or without an answer (connect failure, reset, timeout), and how
   * long it took until its answer started or it failed. A new zone is not counted while
   * MAX_UPSTREAM_ZONES others are (a protocol bound; zones come from configuration).
   */
  recordTry(zone: string | undefined, failed: boolean, latencyMs: number): void {
    const key = zone ?? '';
    let tries = this.zoneTries.get(key);
    if (!tries) {
      if (this.zoneTries.size >= MAX_UPSTREAM_ZONES) return;
      this.zoneTries.set(key, (tries = { requests: 0, serverErrors: 0, counts: emptyCounts(), sumMs: 0 }));
    }
    tries.requests++;
    if (failed) tries.serverErrors++;
    tries.counts[bucketOf(latencyMs)]++;
    tries.sumMs += latencyMs;
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
      upstreamZones: this.collectZoneTries(),
      services: this.collectServices(),
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

  /** The period's tries per endpoint zone (zones with none are left out and forgotten), zeroing the counters. */
  private collectZoneTries(): UpstreamZoneStats[] {
    const upstreamZones: UpstreamZoneStats[] = [];
    for (const [zone, tries] of this.zoneTries) {
      if (tries.requests === 0) {
        this.zoneTries.delete(zone);
        continue;
      }
      upstreamZones.push({ zone, requests: tries.requests, serverErrors: tries.serverErrors, latencyHistogram: { counts: tries.counts, sumMs: Math.round(tries.sumMs * 1000) / 1000 } });
      tries.requests = 0;
      tries.serverErrors = 0;
      tries.counts = emptyCounts();
      tries.sumMs = 0;
    }
    return upstreamZones;
  }

  /**
   * The period's answers per service, the busiest MAX_SERVICES_PER_HEARTBEAT when more had any
   * (the others still count in the totals), zeroing the counters. A service without answers or
   * retries is left out, and forgotten unless a request of it is still running.
   */
  private collectServices(): ServiceTraffic[] {
    const services: ServiceTraffic[] = [];
    for (const [service, counters] of this.services) {
      if (counters.requests === 0 && counters.retries === 0) {
        if (counters.inFlight === 0) this.services.delete(service);
        continue;
      }
      const { requests, serverErrors, rateLimited, retries, breakerOpen, timeouts } = counters;
      services.push({ service, requests, serverErrors, rateLimited, retries, breakerOpen, timeouts, latencyHistogram: { counts: counters.counts, sumMs: Math.round(counters.sumMs * 1000) / 1000 } });
      counters.requests = 0;
      counters.serverErrors = 0;
      counters.rateLimited = 0;
      counters.retries = 0;
      counters.breakerOpen = 0;
      counters.timeouts = 0;
      counters.counts = emptyCounts();
      counters.sumMs = 0;
    }
    if (services.length > MAX_SERVICES_PER_HEARTBEAT) {
      services.sort((a, b) => b.requests - a.requests);
      services.length = MAX_SERVICES_PER_HEARTBEAT;
    }
    return services;
  }
}
