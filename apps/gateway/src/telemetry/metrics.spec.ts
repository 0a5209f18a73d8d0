import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { buildResolutionIndex, GROUP_VERSION, resolveGateway, type Resource } from '@portolan/api';
import type { Snapshot } from '@portolan/agent-client';
import { ProxyServer } from '../proxy/proxy-server.js';
import { HeartbeatStatsCollector } from './heartbeat-stats.js';
import { GatewayMetrics } from './metrics.js';

/** Label names that come from the gateway's configuration or a fixed set; anything else (a path, an id, a client address) would grow with traffic. */
const BOUNDED_LABEL_NAMES = new Set(['route', 'service', 'status_class', 'pool', 'zone', 'reason', 'endpoint']);
/** prom-client's process metrics label by facts of the Node.js runtime: handle type, heap space, GC kind, version. */
const RUNTIME_LABEL_NAMES = new Set(['type', 'space', 'kind', 'version', 'major', 'minor', 'patch']);

const requestSeries = async (metrics: GatewayMetrics) => {
  const histogram = (await metrics.registry.getMetricsAsJSON()).find((metric) => metric.name === 'portolan_gateway_request_duration_seconds')!;
  // A histogram's values are its buckets, _sum and _count, each named.
  return histogram.values.filter((value) => (value as { metricName?: string }).metricName === 'portolan_gateway_request_duration_seconds_count');
};

describe('GatewayMetrics', () => {
  it('labels every metric only with configuration-derived label names', () => {
    const metrics = new GatewayMetrics({ pool: 'edge' });
    // prom-client keeps each metric's declared label names on the metric object itself.
    const declared = metrics.registry.getMetricsAsArray() as unknown as Array<{ name: string; labelNames: readonly string[] }>;
    const unbounded = declared.flatMap((metric) => metric.labelNames.filter((name) => !(BOUNDED_LABEL_NAMES.has(name) || (/^(process|nodejs)_/.test(metric.name) && RUNTIME_LABEL_NAMES.has(name)))).map((name) => `${metric.name}{${name}}`));
    expect(declared.map((metric) => metric.name)).toContain('portolan_gateway_request_duration_seconds');
    expect(unbounded).toEqual([]);
  });

  it('labels request durations with the pool it was built with next to the zone the proxy names', async () => {
    const metrics = new GatewayMetrics({ pool: 'edge' });
    metrics.requestDuration.labels('default/orders', 'default/orders', '2xx', 'zone-a').observe(0.004);
    expect(await metrics.registry.metrics()).toContain(
      'portolan_gateway_request_duration_seconds_bucket{le="0.005",route="default/orders",service="default/orders",status_class="2xx",pool="edge",zone="zone-a"} 1',
    );
  });

  it("counts the tracing's dropped spans as a counter that follows its running total", async () => {
    let dropped = 0;
    const metrics = new GatewayMetrics({ droppedTraceSpans: () => dropped });
    const scraped = async () => (await metrics.registry.metrics()).match(/^portolan_gateway_trace_spans_dropped_total (\d+)$/m)?.[1];
    expect(await scraped()).toBe('0');
    dropped = 5;
    expect(await scraped()).toBe('5');
    expect(await scraped()).toBe('5');
    dropped = 12;
    expect(await scraped()).toBe('12');
    expect(await metrics.registry.metrics()).toContain('# TYPE portolan_gateway_trace_spans_dropped_total counter');
  });

  it('resolves request durations from 1 ms to 10 s', async () => {
    const metrics = new GatewayMetrics();
    metrics.requestDuration.labels('none', 'none', '4xx', 'default').observe(0.0001);
    const buckets = (await metrics.registry.metrics()).match(/portolan_gateway_request_duration_seconds_bucket\{le="[^"]+"/g)!.map((line) => line.split('"')[1]);
    expect(buckets).toEqual(['0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '+Inf']);
  });
});

describe('request duration series through the proxy', () => {
  let upstream: Server;
  let proxy: ProxyServer;
  let proxyUrl: string;
  const metrics = new GatewayMetrics({ pool: 'edge' });

  beforeAll(async () => {
    upstream = createServer((incoming, response) => {
      incoming.resume();
      response.writeHead(incoming.url!.includes('missing') ? 404 : 200).end();
    });
    await new Promise<void>((listening) => upstream.listen(0, '127.0.0.1', listening));
    const port = (upstream.address() as AddressInfo).port;
    const resources: Resource[] = [
      { apiVersion: GROUP_VERSION, kind: 'Service', metadata: { name: 'orders', namespace: 'default', resourceVersion: '1', creationTimestamp: '2026-01-01T00:00:00Z' }, spec: { ports: [{ port }], endpoints: [{ address: '127.0.0.1', port, zone: 'zone-a' }] } },
      { apiVersion: GROUP_VERSION, kind: 'Route', metadata: { name: 'orders', namespace: 'default', resourceVersion: '2', creationTimestamp: '2026-01-01T00:00:00Z' }, spec: { match: { pathPrefix: '/orders' }, backendRef: { name: 'orders' } } },
    ];
    const placement = { name: 'g', zone: 'zone-a', pool: 'edge' };
    const snapshot: Snapshot = { version: '2.x', revision: 2, gateway: { id: 'g', ...placement }, share: null, routes: resolveGateway(buildResolutionIndex(resources, 2), placement).routes };
    proxy = new ProxyServer({ zone: 'zone-a', metrics, stats: new HeartbeatStatsCollector() });
    expect(proxy.apply(snapshot).errors).toEqual([]);
    proxyUrl = `http://${await proxy.listen('127.0.0.1', 0)}`;
  });

  afterAll(async () => {
    await proxy.close();
    upstream.closeAllConnections();
    await new Promise((closed) => upstream.close(closed));
  });

  it('keeps one series per route, service and status class however many paths, queries and trace ids the requests carry', async () => {
    const requests = 150;
    for (let i = 0; i < requests; i++) {
      const id = `${i.toString(16).padStart(8, '0')}-request-id`;
      const headers = { 'x-request-id': id, traceparent: `00-${id.replace(/\W/g, '').padEnd(32, 'a').slice(0, 32)}-00f067aa0ba902b7-01` };
      const path = [`/orders/${id}?customer=${i}`, `/orders/missing/${id}`, `/unrouted/${id}`][i % 3];
      await (await request(`${proxyUrl}${path}`, { headers })).body.dump();
    }
    const series = await requestSeries(metrics);
    expect(series.map((value) => value.labels)).toEqual(
      expect.arrayContaining([
        { route: 'default/orders', service: 'default/orders', status_class: '2xx', pool: 'edge', zone: 'zone-a' },
        { route: 'default/orders', service: 'default/orders', status_class: '4xx', pool: 'edge', zone: 'zone-a' },
        { route: 'none', service: 'none', status_class: '4xx', pool: 'edge', zone: 'zone-a' },
      ]),
    );
    expect(series).toHaveLength(3);
    expect(series.reduce((sum, value) => sum + value.value, 0)).toBe(requests);
    expect(await metrics.registry.metrics()).not.toMatch(/request-id|customer|unrouted|missing/);
  });
});
