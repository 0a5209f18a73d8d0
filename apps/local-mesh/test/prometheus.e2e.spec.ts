/**
 * Acceptance: a real Prometheus scrapes the control plane's ops port and every gateway's admin
 * port, and the autoscaler's PromQL (latency-queries.ts, through prometheus-client.ts) reads back
 * what the mesh did: exact request counts per zone, and per pool and zone an average latency and
 * quantiles that match the latency each zone's upstream was set to.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { averageLatencyQuery, latencyQuantileQuery, requestRateQuery } from '@portolan/control-plane/src/autoscaling/latency-queries.js';
import { PrometheusClient, type PrometheusSample } from '@portolan/control-plane/src/autoscaling/prometheus-client.js';
import { startSampleUpstream, type SampleUpstream } from '../src/sample-upstream.js';
import { ControlPlane, eventually, GatewayProcess, route, send, service, tempDir } from './support/mesh.js';
import { PrometheusServer, requirePrometheus } from '@portolan/control-plane/src/autoscaling/testing/prometheus-server.js';

/** Upstream latency per zone, each well inside one histogram bucket: (25 ms, 50 ms] and (100 ms, 250 ms]. */
const UPSTREAM_LATENCY_MS: Record<string, number> = { 'zone-a': 30, 'zone-b': 150 };
/** The gateway histogram's bucket bounds in seconds (docs/metrics.md). */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, Number.POSITIVE_INFINITY];
/** Measured requests per gateway; zone-a has a gateway in each pool, so its count sums over pools. */
const GATEWAYS = [
  { name: 'edge-zone-a', pool: 'edge', zone: 'zone-a', requests: 30 },
  { name: 'edge-zone-b', pool: 'edge', zone: 'zone-b', requests: 20 },
  { name: 'internal-zone-a', pool: 'internal', zone: 'zone-a', requests: 12 },
];
const WINDOW = '1m';

let root: string;
let controlPlane: ControlPlane;
let opsUrl: string;
const upstreams: SampleUpstream[] = [];
const gateways: Array<(typeof GATEWAYS)[number] & { process: GatewayProcess }> = [];
let prometheus: PrometheusServer;
let client: PrometheusClient;

const placement = (gateway: { pool: string; zone: string }) => `${gateway.pool}/${gateway.zone}`;
const byPlacement = (samples: PrometheusSample[]) => Object.fromEntries(samples.map((sample) => [placement(sample.labels as { pool: string; zone: string }), sample.value!]));
/** The bucket (lower, upper] a duration in seconds falls in. */
const bucketOf = (seconds: number): [number, number] => {
  const index = BUCKETS.findIndex((upper) => seconds <= upper);
  return [index === 0 ? 0 : BUCKETS[index - 1], BUCKETS[index]];
};

/** Sends `count` requests through a gateway, five at a time; every one must reach its own zone's upstream. Returns each round trip in seconds, as the client saw it. */
async function sendThrough(gateway: (typeof gateways)[number], count: number): Promise<number[]> {
  const roundTrips: number[] = [];
  const one = async () => {
    const started = performance.now();
    const answer = await send(gateway.process.proxyUrl, '/checkout', { headers: { host: 'shop.example.com' } });
    roundTrips.push((performance.now() - started) / 1000);
    expect({ status: answer.status, zone: JSON.parse(answer.text).zone }).toEqual({ status: 200, zone: gateway.zone });
  };
  for (let sent = 0; sent < count; sent += 5) await Promise.all(Array.from({ length: Math.min(5, count - sent) }, one));
  return roundTrips;
}

/** Resolves once Prometheus has scraped every gateway after `since` (ms), so their counters include everything sent before it. */
async function scrapedAfter(since: number): Promise<void> {
  await eventually(
    'a scrape of every gateway after the last response',
    async () => (await prometheus.targets()).filter((target) => target.scrapePool === 'gateways'),
    (targets) => targets.length === GATEWAYS.length && targets.every((target) => Date.parse(target.lastScrape) > since),
  );
}

// A test of its own, so that a machine without Prometheus shows a failed test saying what to
// install (a failing beforeAll would only mark the tests below as skipped).
it('has the Prometheus binary to test against', () => {
  requirePrometheus();
});

describe('Prometheus scraping the mesh', () => {
  beforeAll(async () => {
    requirePrometheus();
    root = tempDir('portolan-prometheus-');
    controlPlane = new ControlPlane(root, { PORTOLAN_OPS_PORT: '0' });
    await controlPlane.start();
    opsUrl = (JSON.parse(readFileSync(join(root, 'endpoint.json'), 'utf8')) as { opsUrl: string }).opsUrl;
    for (const [zone, latencyMs] of Object.entries(UPSTREAM_LATENCY_MS)) upstreams.push(await startSampleUpstream({ name: `checkout-${zone}`, zone, knobs: { latencyMs } }));
    await controlPlane.apply(service('checkout', upstreams.map((upstream) => ({ port: upstream.port, zone: upstream.zone }))));
    const { metadata } = await controlPlane.apply(route('checkout', '/checkout'));
    for (const spec of GATEWAYS) {
      const process = new GatewayProcess(spec.name, controlPlane, { zone: spec.zone, pool: spec.pool, root });
      await process.start();
      gateways.push({ ...spec, process });
    }
    for (const gateway of gateways) await eventually(`${gateway.process.name} to run the checkout route`, () => gateway.process.config(), (config) => config?.revision >= Number(metadata.resourceVersion));
    prometheus = await PrometheusServer.start(root, { 'control-plane': [opsUrl], gateways: gateways.map((gateway) => gateway.process.adminUrl) });
    client = new PrometheusClient(prometheus.url);
  });

  afterAll(async () => {
    await prometheus?.stop();
    await Promise.all(gateways.map((gateway) => gateway.process.stop()));
    await Promise.all(upstreams.map((upstream) => upstream.close()));
    await controlPlane?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  }, 30_000);

  it('scrapes the control plane and every gateway: each target is up', async () => {
    const targets = await eventually('every target scraped and up', () => prometheus.targets(), (all) => all.length === GATEWAYS.length + 1 && all.every((target) => target.health === 'up'));
    expect(targets.map((target) => target.scrapeUrl).sort()).toEqual([opsUrl, ...gateways.map((gateway) => gateway.process.adminUrl)].map((url) => `${url}/metrics`).sort());
    const up = await client.query('up');
    expect(up.map((sample) => ({ job: sample.labels.job, value: sample.value })).sort((a, b) => a.job.localeCompare(b.job))).toEqual([
      { job: 'control-plane', value: 1 },
      ...GATEWAYS.map(() => ({ job: 'gateways', value: 1 })),
    ]);
  });

  it('counts exactly the requests sent per zone, and reads each pool and zone latency back through the autoscaler queries', async () => {
    // One request per gateway first, scraped, so that every series exists before the measured
    // requests: rate() sees increases between samples, and a series' first sample holds this one.
    const firstRoundTrips: Record<string, number[]> = {};
    for (const gateway of gateways) firstRoundTrips[placement(gateway)] = await sendThrough(gateway, 1);
    await scrapedAfter(Date.now());
    const roundTrips: Record<string, number[]> = {};
    for (const gateway of gateways) roundTrips[placement(gateway)] = await sendThrough(gateway, gateway.requests);
    await scrapedAfter(Date.now());

    const sentPerZone: Record<string, number> = {};
    for (const gateway of gateways) sentPerZone[gateway.zone] = (sentPerZone[gateway.zone] ?? 0) + 1 + gateway.requests;
    const counted = await client.query('sum by (zone) (portolan_gateway_request_duration_seconds_count{route="default/checkout"})');
    expect(Object.fromEntries(counted.map((sample) => [sample.labels.zone, sample.value]))).toEqual(sentPerZone);

    // The gateway times each request inside the client's round trip and cannot answer before its
    // upstream does, so its latency lies between the upstream's and the client's. Allowances: 1 ms
    // below (it reads a millisecond clock) and 10% above, because rate() extrapolates _sum and
    // _count of a series that starts inside the window by slightly different factors.
    const placements = gateways.map(placement).sort();
    const average = byPlacement(await client.query(averageLatencyQuery(WINDOW)));
    expect(Object.keys(average).sort()).toEqual(placements);
    for (const gateway of gateways) {
      const at = placement(gateway);
      const clientMean = roundTrips[at].reduce((sum, seconds) => sum + seconds, 0) / roundTrips[at].length;
      expect(average[at], `average latency of ${at}`).toBeGreaterThanOrEqual(UPSTREAM_LATENCY_MS[gateway.zone] / 1000 - 0.001);
      expect(average[at], `average latency of ${at}`).toBeLessThanOrEqual(clientMean * 1.1);
    }

    // Every quantile lies between the bucket of the upstream's latency and the bucket of the
    // slowest request the client saw there (buckets above it all grew alike, whatever rate()
    // extrapolates). The median also lies no higher than the bucket of the client's median.
    for (const quantile of [0.5, 0.9, 0.99]) {
      const latency = byPlacement(await client.query(latencyQuantileQuery(quantile, WINDOW)));
      expect(Object.keys(latency).sort()).toEqual(placements);
      for (const gateway of gateways) {
        const at = placement(gateway);
        const slowest = Math.max(...roundTrips[at], ...firstRoundTrips[at]);
        expect(latency[at], `p${quantile * 100} of ${at}`).toBeGreaterThanOrEqual(bucketOf(UPSTREAM_LATENCY_MS[gateway.zone] / 1000)[0]);
        expect(latency[at], `p${quantile * 100} of ${at}`).toBeLessThanOrEqual(bucketOf(slowest + 0.001)[1]);
      }
    }
    const medians = byPlacement(await client.query(latencyQuantileQuery(0.5, WINDOW)));
    for (const gateway of gateways) {
      const at = placement(gateway);
      const clientMedian = [...roundTrips[at]].sort((a, b) => a - b)[Math.ceil(roundTrips[at].length / 2) - 1];
      expect(medians[at], `p50 of ${at}`).toBeLessThanOrEqual(bucketOf(clientMedian + 0.001)[1]);
    }

    // One pool in one zone alone: the filter narrows the answer to it.
    expect((await client.query(latencyQuantileQuery(0.5, WINDOW, { pool: 'edge', zone: 'zone-b' }))).map((sample) => sample.labels)).toEqual([{ pool: 'edge', zone: 'zone-b' }]);
    const rates = byPlacement(await client.query(requestRateQuery(WINDOW)));
    expect(Object.keys(rates).sort()).toEqual(placements);
    for (const rate of Object.values(rates)) expect(rate).toBeGreaterThan(0);
  });
});
