import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_SERVICES_PER_HEARTBEAT, MAX_UPSTREAM_ZONES } from '@portolan/agent-client';
import type { ProxyServer } from '../proxy/proxy-server.js';
import { deadPort, resource, startProxy } from '../proxy/testing/proxy-fixture.js';
import { HeartbeatStatsCollector } from './heartbeat-stats.js';

describe('HeartbeatStatsCollector', () => {
  it('reports the deltas of one period and starts the next from zero', () => {
    let now = 1_000;
    const collector = new HeartbeatStatsCollector(() => now);
    for (let ms = 1; ms <= 100; ms++) collector.recordResponse(ms <= 90 ? 200 : 503, ms);
    collector.recordError('rateLimited');
    collector.recordRetry();
    now = 3_000;
    const stats = collector.collect([{ service: 'default/orders', state: 'open' }, { service: 'default/users', state: 'closed' }], []);
    expect(stats).toMatchObject({
      periodMs: 2_000,
      requests: 100,
      responses: { '2xx': 90, '3xx': 0, '4xx': 0, '5xx': 10 },
      retries: 1,
      latency: { p50Ms: 50, p95Ms: 95, p99Ms: 99 },
      breakers: [{ service: 'default/orders', state: 'open' }],
    });
    expect(stats.errors.rateLimited).toBe(1);
    now = 5_000;
    expect(collector.collect([], [])).toMatchObject({ periodMs: 2_000, requests: 0, latency: null, retries: 0 });
  });

  it('counts every latency in the protocol\'s histogram buckets, a bound itself in its own bucket, and sums them for the mean', () => {
    let now = 0;
    const collector = new HeartbeatStatsCollector(() => now);
    for (const ms of [0.4, 1, 1.2, 30, 30, 10_000, 12_000]) collector.recordResponse(200, ms);
    now = 2_000;
    const { latencyHistogram } = collector.collect([], []);
    // Buckets: <=1, <=2.5, <=5, <=10, <=25, <=50, ... <=10000, above.
    expect(latencyHistogram!.counts).toEqual([2, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 1, 1]);
    expect(latencyHistogram!.sumMs).toBeCloseTo(22_062.6, 3);
    expect(collector.collect([], []).latencyHistogram).toEqual({ counts: new Array(14).fill(0), sumMs: 0 });
  });

  it('keeps memory bounded under a burst', () => {
    const collector = new HeartbeatStatsCollector(() => 0, () => 0.999);
    for (let i = 0; i < 50_000; i++) collector.recordResponse(200, i % 100);
    const stats = collector.collect([], []);
    expect(stats.requests).toBe(50_000);
    expect(stats.latency!.p99Ms).toBeLessThan(100);
  });

  it('counts tries per endpoint zone, failed ones apart, with their latencies in the protocol\'s buckets', () => {
    let now = 0;
    const collector = new HeartbeatStatsCollector(() => now);
    collector.recordTry('zone-b', false, 30);
    collector.recordTry('zone-b', true, 3);
    collector.recordTry('zone-b', true, 12_000);
    collector.recordTry(undefined, true, 1);
    collector.recordTry('', false, 1);
    now = 2_000;
    const { upstreamZones, requests } = collector.collect([], []);
    // Tries are not answers: the answer counters stay as they were.
    expect(requests).toBe(0);
    const counts = (entries: Record<number, number>) => Array.from({ length: 14 }, (_, index) => entries[index] ?? 0);
    expect(upstreamZones).toEqual([
      { zone: 'zone-b', requests: 3, serverErrors: 2, latencyHistogram: { counts: counts({ 2: 1, 5: 1, 13: 1 }), sumMs: 12_033 } },
      // An endpoint without a zone counts under "".
      { zone: '', requests: 2, serverErrors: 1, latencyHistogram: { counts: counts({ 0: 2 }), sumMs: 2 } },
    ]);
  });

  it('starts every zone from zero in the next period, reports only zones with tries, and does not change a report already collected', () => {
    const collector = new HeartbeatStatsCollector(() => 0);
    collector.recordTry('zone-a', true, 5);
    collector.recordTry('zone-b', false, 5);
    const first = collector.collect([], []).upstreamZones!;
    const firstCopy = structuredClone(first);
    collector.recordTry('zone-b', false, 40);
    const second = collector.collect([], []).upstreamZones!;
    expect(second).toEqual([{ zone: 'zone-b', requests: 1, serverErrors: 0, latencyHistogram: { counts: [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0], sumMs: 40 } }]);
    expect(first).toEqual(firstCopy);
    expect(collector.collect([], []).upstreamZones).toEqual([]);
  });

  it('keeps at most the protocol\'s number of zones, and frees the place of a zone without tries', () => {
    const collector = new HeartbeatStatsCollector(() => 0);
    for (let zone = 0; zone <= MAX_UPSTREAM_ZONES; zone++) collector.recordTry(`zone-${zone}`, false, 5);
    const full = collector.collect([], []).upstreamZones!;
    expect(full).toHaveLength(MAX_UPSTREAM_ZONES);
    expect(full.map((entry) => entry.zone)).not.toContain(`zone-${MAX_UPSTREAM_ZONES}`);
    // A period without tries to the first zones: they leave, and a new zone finds a place.
    for (let zone = 2; zone < MAX_UPSTREAM_ZONES; zone++) collector.recordTry(`zone-${zone}`, false, 5);
    collector.collect([], []);
    collector.recordTry('zone-new', true, 5);
    expect(collector.collect([], []).upstreamZones).toEqual([expect.objectContaining({ zone: 'zone-new', requests: 1, serverErrors: 1 })]);
  });

  describe('per service', () => {
    const counts = (entries: Record<number, number>) => Array.from({ length: 14 }, (_, index) => entries[index] ?? 0);

    it('counts the answers per service with their latencies, 5xx and policy actions, and a request without a route under no service', () => {
      let now = 0;
      const collector = new HeartbeatStatsCollector(() => now);
      const ok = collector.startRequest('default/orders');
      collector.recordRetry(ok);
      collector.recordResponse(200, 30, ok);
      const limited = collector.startRequest('default/orders');
      collector.recordError('rateLimited', limited);
      collector.recordResponse(429, 1, limited);
      const late = collector.startRequest('default/orders');
      collector.recordError('timeout', late);
      collector.recordResponse(504, 3, late);
      const refused = collector.startRequest('shop/users');
      collector.recordError('breakerOpen', refused);
      collector.recordResponse(503, 1, refused);
      const failed = collector.startRequest('shop/users');
      // A connect failure is a 5xx answer, not an action of its own.
      collector.recordError('connectFailure', failed);
      collector.recordResponse(503, 2, failed);
      collector.recordError('noRoute');
      collector.recordResponse(404, 1);
      now = 2_000;
      const stats = collector.collect([], []);
      expect(stats.requests).toBe(6);
      expect(stats.services).toEqual([
        { service: 'default/orders', requests: 3, serverErrors: 1, rateLimited: 1, retries: 1, breakerOpen: 0, timeouts: 1, latencyHistogram: { counts: counts({ 0: 1, 2: 1, 5: 1 }), sumMs: 34 } },
        { service: 'shop/users', requests: 2, serverErrors: 2, rateLimited: 0, retries: 0, breakerOpen: 1, timeouts: 0, latencyHistogram: { counts: counts({ 0: 1, 1: 1 }), sumMs: 3 } },
      ]);
    });

    it('keeps one counters object per service from period to period, zeroed, without changing a report already collected', () => {
      const collector = new HeartbeatStatsCollector(() => 0);
      const first = collector.startRequest('default/orders');
      collector.recordResponse(200, 40, first);
      const report = collector.collect([], []).services!;
      const reportCopy = structuredClone(report);
      const second = collector.startRequest('default/orders');
      expect(second).toBe(first);
      collector.recordResponse(500, 5, second);
      expect(collector.collect([], []).services).toEqual([
        { service: 'default/orders', requests: 1, serverErrors: 1, rateLimited: 0, retries: 0, breakerOpen: 0, timeouts: 0, latencyHistogram: { counts: counts({ 2: 1 }), sumMs: 5 } },
      ]);
      expect(report).toEqual(reportCopy);
    });

    it('forgets a service without answers at the end of a period, unless one of its requests is still running, which counts when answered', () => {
      const collector = new HeartbeatStatsCollector(() => 0);
      const services = () => (collector as unknown as { services: Map<string, unknown> }).services;
      collector.recordResponse(200, 1, collector.startRequest('default/quiet'));
      const slow = collector.startRequest('default/slow');
      collector.recordRetry(slow);
      // The retry happened in this period: reported with it, before the answer.
      expect(collector.collect([], []).services).toEqual([
        expect.objectContaining({ service: 'default/quiet', requests: 1 }),
        expect.objectContaining({ service: 'default/slow', requests: 0, retries: 1 }),
      ]);
      expect(collector.collect([], []).services).toEqual([]);
      expect([...services().keys()]).toEqual(['default/slow']);
      collector.recordResponse(200, 9_000, slow);
      expect(collector.collect([], []).services).toEqual([expect.objectContaining({ service: 'default/slow', requests: 1, retries: 0 })]);
      collector.collect([], []);
      expect(services().size).toBe(0);
    });

    it('reports at most the protocol\'s number of services, the busiest', () => {
      const collector = new HeartbeatStatsCollector(() => 0);
      // Service i answers i + 1 requests: service-0 is the quietest.
      for (let index = 0; index <= MAX_SERVICES_PER_HEARTBEAT; index++) {
        for (let request = 0; request <= index; request++) collector.recordResponse(200, 1, collector.startRequest(`default/service-${index}`));
      }
      const { services, requests } = collector.collect([], []);
      expect(services).toHaveLength(MAX_SERVICES_PER_HEARTBEAT);
      expect(services![0]).toMatchObject({ service: `default/service-${MAX_SERVICES_PER_HEARTBEAT}`, requests: MAX_SERVICES_PER_HEARTBEAT + 1 });
      expect(services!.map((entry) => entry.service)).not.toContain('default/service-0');
      // The left-out service still counts in the totals.
      expect(requests).toBe(((MAX_SERVICES_PER_HEARTBEAT + 1) * (MAX_SERVICES_PER_HEARTBEAT + 2)) / 2);
    });
  });
});

describe('tries counted by the proxy', () => {
  /** `/flaky/<id>` answers 503 twice, then 200; anything else 200. */
  const upstream: Server = createServer((incoming, response) => {
    incoming.resume();
    const path = incoming.url ?? '/';
    const seen = (flakyTries.get(path) ?? 0) + 1;
    flakyTries.set(path, seen);
    const status = path.startsWith('/flaky') && seen <= 2 ? 503 : 200;
    response.writeHead(status, { 'content-type': 'text/plain' }).end(String(status));
  });
  const flakyTries = new Map<string, number>();
  let proxy: ProxyServer;
  let stats: HeartbeatStatsCollector;
  let url: string;

  beforeAll(async () => {
    await new Promise<void>((listening) => upstream.listen(0, '127.0.0.1', listening));
    const port = (upstream.address() as AddressInfo).port;
    const dead = await deadPort();
    ({ proxy, stats, url } = await startProxy([
      // The gateway is in zone-a; checkout's only endpoint is in zone-b.
      resource('Service', 'checkout', { ports: [{ port }], endpoints: [{ address: '127.0.0.1', port, zone: 'zone-b' }] }),
      resource('Service', 'ledger', { ports: [{ port: dead }], endpoints: [{ address: '127.0.0.1', port: dead }] }),
      resource('Route', 'checkout', { match: { pathPrefix: '/' }, backendRef: { name: 'checkout' } }),
      resource('Route', 'ledger', { match: { pathPrefix: '/ledger' }, backendRef: { name: 'ledger' } }),
      resource('RetryPolicy', 'checkout-retries', { targetRef: { kind: 'Service', name: 'checkout' }, attempts: 3, backoff: { baseInterval: '1ms', jitter: 'none' } }),
    ]));
  });

  afterAll(async () => {
    await proxy.close();
    upstream.closeAllConnections();
    await new Promise((done) => upstream.close(done));
  });

  const get = async (path: string) => {
    const response = await request(`${url}${path}`, { headers: { host: 'shop.example.com' } });
    await response.body.dump();
    return response.statusCode;
  };

  it('counts every try under its endpoint\'s zone, not the gateway\'s: retried 5xx and connect failures as failed', async () => {
    stats.collect([], []);
    expect(await get('/flaky/1')).toBe(200);
    expect(await get('/ledger')).toBe(503);
    const { requests, upstreamZones } = stats.collect([], []);
    expect(requests).toBe(2);
    const byZone = Object.fromEntries(upstreamZones!.map((entry) => [entry.zone, entry]));
    expect(Object.keys(byZone).sort()).toEqual(['', 'zone-b']);
    // Two 503s and the 200 that answered: three tries to zone-b, two failed.
    expect(byZone['zone-b']).toMatchObject({ requests: 3, serverErrors: 2 });
    expect(byZone['zone-b'].latencyHistogram.counts.reduce((sum, count) => sum + count, 0)).toBe(3);
    expect(byZone['']).toMatchObject({ requests: 1, serverErrors: 1 });
  });

  it('counts every answer under the service of its route once, however many tries it took', async () => {
    stats.collect([], []);
    expect(await get('/flaky/2')).toBe(200);
    expect(await get('/ledger')).toBe(503);
    expect(await get('/ledger')).toBe(503);
    const { services } = stats.collect([], []);
    const byService = Object.fromEntries(services!.map((entry) => [entry.service, entry]));
    expect(Object.keys(byService).sort()).toEqual(['default/checkout', 'default/ledger']);
    // Three tries, two retries, one answer: a 200.
    expect(byService['default/checkout']).toMatchObject({ requests: 1, serverErrors: 0, retries: 2, rateLimited: 0, breakerOpen: 0, timeouts: 0 });
    // The gateway's own 503s for a dead endpoint.
    expect(byService['default/ledger']).toMatchObject({ requests: 2, serverErrors: 2, retries: 0 });
    expect(byService['default/ledger'].latencyHistogram.counts.reduce((sum, count) => sum + count, 0)).toBe(2);
  });
});
