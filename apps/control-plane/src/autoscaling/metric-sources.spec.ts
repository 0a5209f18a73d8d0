/**
 * The readings the autoscaler scales on, as an operator sees them in a policy's status: the
 * heartbeat source over a real PoolTrafficWindow (time given through `now`), and the Prometheus
 * source against a real Prometheus (the Debian package) scraping a small exporter that records
 * known latencies in the gateways' request histogram. Expected latencies are worked out by hand
 * with histogram_quantile's interpolation: rank = q × count, then linear within the bucket the
 * rank falls in.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LATENCY_BUCKETS_MS, type HeartbeatStats } from '@portolan/agent-client';
import { Histogram, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { latencyQuantileQuery } from './latency-queries';
import { HeartbeatMetricSource, PrometheusMetricSource, type MetricQuery, type MetricSpec } from './metric-sources';
import { PoolTrafficWindow } from './pool-traffic-window';
import { PrometheusClient } from './prometheus-client';
import { heartbeatStats, latencyHistogram, type Latencies } from './testing/heartbeat-stats';
import { freePort, PrometheusServer, requirePrometheus } from './testing/prometheus-server';

/** One heartbeat's statistics: `latencies` (and as many requests), or only a request count from a gateway older than latency histograms. */
function heartbeat(latencies: Latencies, options: { withoutHistogram?: boolean } = {}): HeartbeatStats {
  const requests = latencies.reduce((sum, [, count]) => sum + count, 0);
  return heartbeatStats({ requests, periodMs: 10_000, ...(options.withoutHistogram ? {} : { latencyHistogram: latencyHistogram(latencies) }) });
}

const latency = (statistic: 'P99' | 'P95' | 'Mean'): MetricSpec => ({ type: 'latency', statistic, targetMs: 100 });
const LOAD: MetricSpec = { type: 'requestsPerSecond', targetPerGateway: 50 };

describe('HeartbeatMetricSource over a PoolTrafficWindow fed heartbeats', () => {
  // Evaluated at T (a multiple of the 5 s slot) over the minute before it unless a row says otherwise.
  const T = 10_000_000;
  const MINUTE = 60_000;
  const gateway = (name: string, pool: string, zone: string) => ({ name, pool, zone });
  const traffic = new PoolTrafficWindow();
  const source = new HeartbeatMetricSource(traffic);

  // Every pool and zone but fresh was first heard of 200 s ago, so the minute before T is covered in full;
  // edge's zone-a was slow then, which must not count any more.
  traffic.add(gateway('edge-a-1', 'edge', 'zone-a'), heartbeat([[4_000, 500]]), T - 200_000);
  for (const [name, pool, zone] of [['edge-b-1', 'edge', 'zone-b'], ['api-a-1', 'api', 'zone-a'], ['edge-canary-a-1', 'edge-canary', 'zone-a'], ['quiet-a-1', 'quiet', 'zone-a'], ['legacy-a-1', 'legacy', 'zone-a']]) {
    traffic.add(gateway(name, pool, zone), heartbeat([]), T - 200_000);
  }
  // edge, zone-a: two gateways, 240 requests in the window: 216 at 30 ms (25-50 ms bucket), 24 at 300 ms (250-500 ms).
  traffic.add(gateway('edge-a-1', 'edge', 'zone-a'), heartbeat([[30, 120]]), T - 40_000);
  traffic.add(gateway('edge-a-2', 'edge', 'zone-a'), heartbeat([[30, 96], [300, 12]]), T - 30_000);
  traffic.add(gateway('edge-a-1', 'edge', 'zone-a'), heartbeat([[300, 12]]), T - 20_000);
  // edge, zone-b: one gateway, 60 requests at 700 ms (500-1000 ms bucket).
  traffic.add(gateway('edge-b-1', 'edge', 'zone-b'), heartbeat([[700, 60]]), T - 25_000);
  // Other pools in the same zones, much slower and busier: none of it may show in edge's readings.
  traffic.add(gateway('api-a-1', 'api', 'zone-a'), heartbeat([[4_000, 1_000]]), T - 30_000);
  traffic.add(gateway('edge-canary-a-1', 'edge-canary', 'zone-a'), heartbeat([[9_000, 300]]), T - 30_000);
  // fresh: first heard of 15 s ago, 90 requests since.
  traffic.add(gateway('fresh-a-1', 'fresh', 'zone-a'), heartbeat([[30, 45]]), T - 15_000);
  traffic.add(gateway('fresh-a-1', 'fresh', 'zone-a'), heartbeat([[30, 45]]), T - 5_000);
  // quiet: reports, but nothing goes through it.
  traffic.add(gateway('quiet-a-1', 'quiet', 'zone-a'), heartbeat([]), T - 30_000);
  traffic.add(gateway('quiet-a-1', 'quiet', 'zone-a'), heartbeat([]), T - 10_000);
  // gone: its gateway stopped reporting long before the window.
  traffic.add(gateway('gone-a-1', 'gone', 'zone-a'), heartbeat([[30, 100]]), T - 200_000);
  // legacy: busy gateways older than latency histograms, which send request counts only.
  traffic.add(gateway('legacy-a-1', 'legacy', 'zone-a'), heartbeat([[30, 120]], { withoutHistogram: true }), T - 30_000);

  const read = (target: { pool: string; zone?: string }, metric: MetricSpec, extra: Partial<MetricQuery> = {}, now = T) =>
    source.read({ ...target, metric, windowMs: MINUTE, currentReplicas: 2, ...extra }, now);

  it.each([
    // zone-a: 240 requests, 216 up to 50 ms, 24 in 250-500 ms.
    { what: 'P99 of one zone (rank 237.6: 250 + 250 × 21.6/24)', target: { pool: 'edge', zone: 'zone-a' }, statistic: 'P99', ms: 475, detail: '240 requests from 2 gateways over 1m' },
    { what: 'P95 of one zone (rank 228: 250 + 250 × 12/24)', target: { pool: 'edge', zone: 'zone-a' }, statistic: 'P95', ms: 375, detail: '240 requests from 2 gateways over 1m' },
    { what: 'mean of one zone ((216 × 30 + 24 × 300) / 240)', target: { pool: 'edge', zone: 'zone-a' }, statistic: 'Mean', ms: 57, detail: '240 requests from 2 gateways over 1m' },
    // zone-b alone: 60 requests in 500-1000 ms.
    { what: 'P99 of the other zone (rank 59.4: 500 + 500 × 59.4/60)', target: { pool: 'edge', zone: 'zone-b' }, statistic: 'P99', ms: 995, detail: '60 requests from 1 gateways over 1m' },
    // Both zones: 300 requests, 240 up to 500 ms, 60 in 500-1000 ms.
    { what: 'P99 across zones (rank 297: 500 + 500 × 57/60)', target: { pool: 'edge' }, statistic: 'P99', ms: 975, detail: '300 requests from 3 gateways over 1m' },
    { what: 'P95 across zones (rank 285: 500 + 500 × 45/60)', target: { pool: 'edge' }, statistic: 'P95', ms: 875, detail: '300 requests from 3 gateways over 1m' },
    { what: 'mean across zones ((6480 + 7200 + 42000) / 300)', target: { pool: 'edge' }, statistic: 'Mean', ms: 185.6, detail: '300 requests from 3 gateways over 1m' },
    // api: 1000 requests in 2500-5000 ms, none of edge's.
    { what: "P99 of another pool, without edge's requests (rank 990: 2500 + 2500 × 990/1000)", target: { pool: 'api', zone: 'zone-a' }, statistic: 'P99', ms: 4_975, detail: '1000 requests from 1 gateways over 1m' },
  ] as const)('latency: $what', async ({ target, statistic, ms, detail }) => {
    expect(await read(target, latency(statistic))).toEqual({ value: ms, detail });
  });

  it.each([
    { what: 'requests / 60 s / 2 gateways', target: { pool: 'edge', zone: 'zone-a' }, currentReplicas: 2, perGateway: 2, detail: '240 requests from 2 gateways over 1m' },
    { what: 'all zones: 300 requests / 60 s / 3 gateways', target: { pool: 'edge' }, currentReplicas: 3, perGateway: 1.667, detail: '300 requests from 3 gateways over 1m' },
    { what: 'scaled to zero: divided as if by one gateway, never by zero', target: { pool: 'edge', zone: 'zone-a' }, currentReplicas: 0, perGateway: 4, detail: '240 requests from 2 gateways over 1m' },
    { what: 'a fresh window covers only the 15 s since the pool was first heard of, plus the 10 s period its first heartbeat counted: 90 / 25 s / 2', target: { pool: 'fresh', zone: 'zone-a' }, currentReplicas: 2, perGateway: 1.8, detail: '90 requests from 1 gateways over 25s' },
    { what: 'an idle pool reads 0', target: { pool: 'quiet', zone: 'zone-a' }, currentReplicas: 2, perGateway: 0, detail: 'idle: no requests through pool quiet in zone-a in the last 1m' },
    { what: 'gateways without latency histograms still count requests: 120 / 60 s / 1', target: { pool: 'legacy', zone: 'zone-a' }, currentReplicas: 1, perGateway: 2, detail: '120 requests from 1 gateways over 1m' },
  ])('requests per second per gateway: $what', async ({ target, currentReplicas, perGateway, detail }) => {
    expect(await read(target, LOAD, { currentReplicas })).toEqual({ value: perGateway, detail });
  });

  it.each([
    { what: 'P99, one zone', target: { pool: 'quiet', zone: 'zone-a' }, metric: latency('P99'), detail: 'idle: no requests through pool quiet in zone-a in the last 1m' },
    { what: 'mean, all zones', target: { pool: 'quiet' }, metric: latency('Mean'), detail: 'idle: no requests through pool quiet (all zones) in the last 1m' },
  ])('an idle pool (gateways report, no requests) reads latency 0, so it scales down: $what', async ({ target, metric, detail }) => {
    const reading = await read(target, metric);
    expect(reading).toEqual({ value: 0, detail });
    expect(reading.detail).toMatch(/^idle/);
  });

  it.each([
    { what: 'a zone the pool has no gateway in', target: { pool: 'edge', zone: 'zone-x' }, windowMs: MINUTE, detail: 'no gateway of pool edge in zone-x sent statistics to this control plane in the last 1m' },
    { what: 'a pool never heard of', target: { pool: 'nowhere' }, windowMs: MINUTE, detail: 'no gateway of pool nowhere (all zones) sent statistics to this control plane in the last 1m' },
    { what: 'a pool whose gateways stopped reporting before the window', target: { pool: 'gone', zone: 'zone-a' }, windowMs: MINUTE, detail: 'no gateway of pool gone in zone-a sent statistics to this control plane in the last 1m' },
    { what: 'a window shorter than the time since the last heartbeat', target: { pool: 'edge', zone: 'zone-a' }, windowMs: 10_000, detail: 'no gateway of pool edge in zone-a sent statistics to this control plane in the last 10s' },
  ])('nobody reporting is missing (null), not idle, naming the target and window: $what', async ({ target, windowMs, detail }) => {
    for (const metric of [latency('P99'), latency('Mean'), LOAD]) expect(await read(target, metric, { windowMs })).toEqual({ value: null, detail });
  });

  it.each([latency('P99'), latency('P95'), latency('Mean')])('requests counted without any latency histogram make the latency missing, not idle ($statistic)', async (metric) => {
    const reading = await read({ pool: 'legacy', zone: 'zone-a' }, metric);
    expect(reading.value).toBeNull();
    expect(reading.detail).not.toMatch(/^idle/);
    expect(reading.detail).toContain('pool legacy in zone-a');
    expect(reading.detail).toContain('120 requests');
    expect(reading.detail).toContain('latency histogram');
  });

  it("never lets another pool's traffic leak into a pool's reading, even one whose name starts the same", async () => {
    // api (1000 requests at 4 s) and edge-canary (300 at 9 s) share zone-a with edge.
    for (const target of [{ pool: 'edge', zone: 'zone-a' }, { pool: 'edge' }]) {
      expect((await read(target, latency('P99'))).value).toBeLessThan(1_000);
      expect((await read(target, latency('Mean'))).value).toBeLessThan(200);
    }
    expect((await read({ pool: 'edge', zone: 'zone-a' }, LOAD, { currentReplicas: 1 })).value).toBe(4);
    expect(await read({ pool: 'edge-canary', zone: 'zone-a' }, latency('Mean'))).toEqual({ value: 9_000, detail: '300 requests from 1 gateways over 1m' });
  });

  it('reads the same traffic differently as time passes: the window slides past old heartbeats', async () => {
    // 30 s later the window starts at T - 30 s: edge-a-2's heartbeat at T - 30 s ends inside it
    // (its slot runs to T - 25 s) but edge-a-1's at T - 40 s does not: 96 at 30 ms, 24 at 300 ms.
    expect(await read({ pool: 'edge', zone: 'zone-a' }, latency('Mean'), {}, T + 30_000)).toEqual({ value: (96 * 30 + 24 * 300) / 120, detail: '120 requests from 2 gateways over 1m' });
    expect(await read({ pool: 'edge', zone: 'zone-a' }, latency('P99'), {}, T + 90_000)).toMatchObject({ value: null });
  });
});

/**
 * What the exporter records on every scrape: one batch of requests per scrape, so every bucket of
 * every series grows in proportion and rate()'s extrapolation, the same for all of them, cancels
 * out of quantiles and means. Spread over routes, services and status classes, which the queries
 * must sum over.
 */
const BATCH: Array<{ pool: string; zone: string; route: string; service: string; statusClass: string; ms: number; count: number }> = [
  { pool: 'edge', zone: 'zone-a', route: 'checkout', service: 'orders', statusClass: '2xx', ms: 30, count: 90 },
  { pool: 'edge', zone: 'zone-a', route: 'checkout', service: 'orders', statusClass: '2xx', ms: 300, count: 6 },
  { pool: 'edge', zone: 'zone-a', route: 'search', service: 'catalog', statusClass: '5xx', ms: 300, count: 4 },
  { pool: 'edge', zone: 'zone-b', route: 'checkout', service: 'orders', statusClass: '2xx', ms: 700, count: 50 },
  { pool: 'api', zone: 'zone-a', route: 'admin', service: 'accounts', statusClass: '2xx', ms: 4_000, count: 100 },
];
/** Requests per scrape, that is per second: edge has 100 in zone-a and 50 in zone-b. */
const ZONE_A_PER_SCRAPE = 100;
const EDGE_PER_SCRAPE = 150;

/** The range the Prometheus readings use: 5 scrapes. */
const WINDOW_MS = 5_000;

/** `actual` within `relative` (0.1 = 10 %) of `expected`. */
function expectNear(actual: number | null, expected: number, relative: number): void {
  expect(actual).not.toBeNull();
  expect(Math.abs(actual! - expected)).toBeLessThanOrEqual(Math.abs(expected) * relative);
}

async function until(what: string, check: () => Promise<boolean>, output: () => string): Promise<void> {
  const deadline = Date.now() + 40_000;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; Prometheus said:\n${output()}`);
    await new Promise((retry) => setTimeout(retry, 200));
  }
}

// A test of its own, so that a machine without Prometheus shows a failed test saying what to
// install (a failing beforeAll would only mark the tests below as skipped).
it('has the Prometheus binary to test against', () => {
  requirePrometheus();
});

describe('PrometheusMetricSource against a real Prometheus scraping gateway request histograms', () => {
  let exporter: Server;
  let prometheus: PrometheusServer;
  let source: PrometheusMetricSource;
  let dataDir: string;
  /** A moment whose samples Prometheus has certainly stored (scrapes land a little after their timestamp), so readings at it are stable. */
  const settled = () => Date.now() - 2_000;

  beforeAll(async () => {
    requirePrometheus();
    const registry = new Registry();
    const duration = new Histogram({
      name: 'portolan_gateway_request_duration_seconds',
      help: 'Time from request received to response finished, by route, service, status class, gateway pool and gateway zone.',
      labelNames: ['route', 'service', 'status_class', 'pool', 'zone'] as const,
      buckets: LATENCY_BUCKETS_MS.map((ms) => ms / 1000),
      registers: [registry],
    });
    // nightly: served requests once, before Prometheus first looked, and none since: its series exist but do not grow.
    duration.observe({ route: 'report', service: 'reports', status_class: '2xx', pool: 'nightly', zone: 'zone-a' }, 0.2);
    exporter = createServer((request, response) => {
      request.resume();
      if (request.url !== '/metrics') return void response.writeHead(404).end();
      for (const { pool, zone, route, service, statusClass, ms, count } of BATCH) {
        for (let index = 0; index < count; index++) duration.observe({ route, service, status_class: statusClass, pool, zone }, ms / 1000);
      }
      registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (error: Error) => response.writeHead(500).end(error.message),
      );
    });
    await new Promise<void>((listening) => exporter.listen(0, '127.0.0.1', listening));
    dataDir = mkdtempSync(join(tmpdir(), 'portolan-metric-sources-'));
    prometheus = await PrometheusServer.start(dataDir, { gateways: [`http://127.0.0.1:${(exporter.address() as AddressInfo).port}`] });
    const client = new PrometheusClient(prometheus.url);
    source = new PrometheusMetricSource(client);
    // Scrapes from before the reading window on: a window Prometheus has only partly seen reads a
    // lower rate (rate() extrapolates only a little past the samples it has).
    await until(
      'scrapes covering the reading window',
      async () => {
        const [sample] = await client.query(`count_over_time(portolan_gateway_request_duration_seconds_count{pool="edge",zone="zone-b"}[${WINDOW_MS / 1000 + 3}s])`, new Date(settled()));
        return (sample?.value ?? 0) >= WINDOW_MS / 1000 + 2;
      },
      prometheus.output,
    );
  }, 60_000);

  afterAll(async () => {
    await prometheus?.stop();
    exporter?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  const read = (target: { pool: string; zone?: string }, metric: MetricSpec, now: number, currentReplicas = 1) => source.read({ ...target, metric, windowMs: WINDOW_MS, currentReplicas }, now);

  it.each([
    // zone-a per scrape: 100 requests, 90 at 30 ms, 10 at 300 ms (250-500 ms bucket).
    { what: 'P99 of zone-a (rank 99: 250 + 250 × 9/10)', target: { pool: 'edge', zone: 'zone-a' }, statistic: 'P99', ms: 475 },
    { what: 'P95 of zone-a (rank 95: 250 + 250 × 5/10)', target: { pool: 'edge', zone: 'zone-a' }, statistic: 'P95', ms: 375 },
    { what: 'mean of zone-a ((90 × 30 + 10 × 300) / 100)', target: { pool: 'edge', zone: 'zone-a' }, statistic: 'Mean', ms: 57 },
    // zone-b alone: 50 at 700 ms (500-1000 ms).
    { what: 'P99 of zone-b (rank 49.5: 500 + 500 × 49.5/50)', target: { pool: 'edge', zone: 'zone-b' }, statistic: 'P99', ms: 995 },
    // Across zones: 150 requests, 100 up to 500 ms, 50 in 500-1000 ms.
    { what: 'P99 across zones (rank 148.5: 500 + 500 × 48.5/50)', target: { pool: 'edge' }, statistic: 'P99', ms: 985 },
    { what: 'mean across zones ((2700 + 3000 + 35000) / 150)', target: { pool: 'edge' }, statistic: 'Mean', ms: 40_700 / 150 },
    // api, same zone-a: 100 at 4 s (2500-5000 ms), none of edge's.
    { what: "P99 of another pool in zone-a, without edge's requests (rank 99: 2500 + 2500 × 99/100)", target: { pool: 'api', zone: 'zone-a' }, statistic: 'P99', ms: 4_975 },
  ] as const)('latency in ms: $what', async ({ target, statistic, ms }) => {
    const reading = await read(target, latency(statistic), settled());
    // Every bucket grows by the same batch each scrape, so rate()'s extrapolation cancels; 1 % is only slack.
    expectNear(reading.value, ms, 0.01);
    expect(reading.detail).toMatch(/^Prometheus: /);
    expect(reading.detail).toContain(`pool="${target.pool}"`);
    if ('zone' in target) expect(reading.detail).toContain(`zone="${target.zone}"`);
    else expect(reading.detail).not.toContain('zone=');
  });

  it('a zone-less target reads the pool across zones, one answer for all of them', async () => {
    const reading = await read({ pool: 'edge' }, latency('P99'), settled());
    expect(reading.detail).toBe(`Prometheus: ${latencyQuantileQuery(0.99, '5s', { pool: 'edge', acrossZones: true })}`);
    expect(reading.detail).toContain('sum by (le, pool) (');
  });

  it('answers as the heartbeat source would for the same traffic', async () => {
    const traffic = new PoolTrafficWindow();
    for (const zone of ['zone-a', 'zone-b']) {
      const latencies: Latencies = BATCH.filter((entry) => entry.pool === 'edge' && entry.zone === zone).map((entry) => [entry.ms, entry.count]);
      traffic.add({ name: `edge-${zone}-1`, pool: 'edge', zone }, heartbeat(latencies), 1_000_000);
    }
    const heartbeats = new HeartbeatMetricSource(traffic);
    const now = settled();
    for (const target of [{ pool: 'edge', zone: 'zone-a' }, { pool: 'edge', zone: 'zone-b' }, { pool: 'edge' }]) {
      for (const statistic of ['P99', 'P95', 'Mean'] as const) {
        const fromHeartbeats = await heartbeats.read({ ...target, metric: latency(statistic), windowMs: 60_000, currentReplicas: 1 }, 1_010_000);
        expectNear((await read(target, latency(statistic), now)).value, fromHeartbeats.value!, 0.01);
      }
    }
  });

  it.each([
    { what: 'zone-a, 1 gateway', target: { pool: 'edge', zone: 'zone-a' }, currentReplicas: 1, perSecond: ZONE_A_PER_SCRAPE },
    { what: 'zone-a, 4 gateways', target: { pool: 'edge', zone: 'zone-a' }, currentReplicas: 4, perSecond: ZONE_A_PER_SCRAPE },
    { what: 'all zones, 3 gateways', target: { pool: 'edge' }, currentReplicas: 3, perSecond: EDGE_PER_SCRAPE },
    { what: 'scaled to zero: as if one gateway', target: { pool: 'edge', zone: 'zone-a' }, currentReplicas: 0, perSecond: ZONE_A_PER_SCRAPE },
  ])('requests per second per gateway: $what', async ({ target, currentReplicas, perSecond }) => {
    const now = settled();
    const reading = await read(target, LOAD, now, currentReplicas);
    const total = await read(target, LOAD, now, 1);
    // The same data: exactly the pool's rate divided among its gateways (up to the reading's 3 decimals).
    expect(reading.value).toBeCloseTo(total.value! / Math.max(1, currentReplicas), 2);
    // One batch per 1 s scrape; the slack is for scrape timing only.
    expectNear(reading.value, perSecond / Math.max(1, currentReplicas), 0.2);
    expect(reading.detail).toMatch(/^Prometheus: sum by \(pool(, zone)?\) \(rate\(portolan_gateway_request_duration_seconds_count\{/);
  });

  it.each([
    { what: 'P99', metric: latency('P99'), value: 0, detail: 'idle: no requests through pool nightly in zone-a in the last 5s (Prometheus)' },
    { what: 'mean', metric: latency('Mean'), value: 0, detail: 'idle: no requests through pool nightly in zone-a in the last 5s (Prometheus)' },
  ])('a pool whose series exist but stopped growing is idle: latency 0 ($what)', async ({ metric, value, detail }) => {
    expect(await read({ pool: 'nightly', zone: 'zone-a' }, metric, settled())).toEqual({ value, detail });
  });

  it('a pool whose series exist but stopped growing reads load 0', async () => {
    expect((await read({ pool: 'nightly', zone: 'zone-a' }, LOAD, settled(), 2)).value).toBe(0);
  });

  it.each([
    { what: 'a pool Prometheus has no series of', target: { pool: 'backend', zone: 'zone-a' }, described: 'pool backend in zone-a' },
    { what: 'a pool Prometheus has no series of, across zones', target: { pool: 'backend' }, described: 'pool backend (all zones)' },
    { what: 'a zone the pool has no gateway in', target: { pool: 'edge', zone: 'zone-c' }, described: 'pool edge in zone-c' },
  ])('no series is missing (null), naming Prometheus and asking about the scrape: $what', async ({ target, described }) => {
    for (const metric of [latency('P99'), latency('Mean'), LOAD]) {
      const reading = await read(target, metric, settled());
      expect(reading.value).toBeNull();
      expect(reading.detail).toBe(`Prometheus at ${prometheus.url} has no request series for ${described} over 5s (does it scrape the gateways' /metrics?)`);
      expect(reading.detail).toContain('scrape');
    }
  });

  it('an unreachable Prometheus is missing (null), with the query error as the reason', async () => {
    const nowhere = `http://127.0.0.1:${await freePort()}`;
    const unreachable = new PrometheusMetricSource(new PrometheusClient(nowhere));
    const reading = await unreachable.read({ pool: 'edge', zone: 'zone-a', metric: latency('P99'), windowMs: WINDOW_MS, currentReplicas: 2 }, Date.now());
    expect(reading).toEqual({ value: null, detail: `Prometheus at ${nowhere}, query ${JSON.stringify(latencyQuantileQuery(0.99, '5s', { pool: 'edge', zone: 'zone-a' }))}: unreachable: ECONNREFUSED` });
  });
});
