/**
 * The gateway's spans, end to end on loopback: a real proxy with a compiled snapshot, a real
 * upstream, and a real OTLP/HTTP collector stand-in receiving http/json exports.
 */
import { createServer, get as httpGet, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { buildResolutionIndex, GROUP_VERSION, resolveGateway, type Resource } from '@portolan/api';
import type { Snapshot } from '@portolan/agent-client';
import { createTracing, type Tracing } from '@portolan/telemetry';
import { ProxyServer } from '../src/proxy/proxy-server.js';
import { HeartbeatStatsCollector } from '../src/telemetry/heartbeat-stats.js';
import { GatewayMetrics } from '../src/telemetry/metrics.js';
import { startOtlpCaptureServer, type CapturedSpan, type OtlpCaptureServer } from '@portolan/telemetry/testing';

const SERVER = 2;
const CLIENT = 3;
const ERROR = 2;
/** Far above what a healthy request takes on a loaded machine, so only `/slow` is kept as slow. */
const SLOW_THRESHOLD_MS = 2_000;
const INCOMING_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const INCOMING_SPAN = '00f067aa0ba902b7';

/**
 * Upstream: `/flaky/<id>` answers 503 twice then 200, `/fail` 500, `/slow` after a pause past the
 * slow threshold, `/stream` a line every 50 ms until the connection closes; records every traceparent.
 */
function startUpstream() {
  const seen = new Map<string, string[]>();
  const server = createServer((incoming, response) => {
    incoming.resume();
    const path = incoming.url ?? '/';
    const traceparents = seen.get(path) ?? [];
    traceparents.push(String(incoming.headers.traceparent));
    seen.set(path, traceparents);
    if (path === '/stream') {
      response.writeHead(200, { 'content-type': 'text/plain' }).write('tick\n');
      const ticking = setInterval(() => response.write('tick\n'), 50);
      response.on('close', () => clearInterval(ticking));
      return;
    }
    const status = path.startsWith('/flaky') && traceparents.length <= 2 ? 503 : path === '/fail' ? 500 : 200;
    setTimeout(() => response.writeHead(status, { 'content-type': 'text/plain' }).end(`${status}`), path === '/slow' ? SLOW_THRESHOLD_MS + 500 : 0);
  });
  return { server, seen };
}

let revision = 0;
const resource = (kind: string, name: string, spec: unknown): Resource => ({
  apiVersion: GROUP_VERSION,
  kind,
  metadata: { name, namespace: 'default', resourceVersion: String(++revision), creationTimestamp: '2026-01-01T00:00:00Z' },
  spec,
});

function snapshot(port: number): Snapshot {
  const endpoints = [{ address: '127.0.0.1', port, zone: 'zone-a' }];
  const resources = [
    resource('Service', 'checkout', { ports: [{ port }], endpoints }),
    resource('Service', 'ledger', { ports: [{ port }], endpoints }),
    resource('Route', 'checkout', { match: { pathPrefix: '/' }, backendRef: { name: 'checkout' } }),
    resource('Route', 'ledger', { match: { pathPrefix: '/limited' }, backendRef: { name: 'ledger' } }),
    resource('RetryPolicy', 'checkout-retries', { targetRef: { kind: 'Service', name: 'checkout' }, attempts: 3, backoff: { baseInterval: '10ms', jitter: 'none' } }),
    resource('CircuitBreakerPolicy', 'checkout-breaker', { targetRef: { kind: 'Service', name: 'checkout' }, errorRate: { minimumRequests: 1000 }, outlierDetection: { consecutive5xx: 2, maxEjectionPercent: 100 } }),
    resource('RateLimitPolicy', 'ledger-limit', { targetRef: { kind: 'Service', name: 'ledger' }, key: { type: 'none' }, limits: [{ name: 'per-minute', requests: 1, interval: '60s' }] }),
  ];
  const placement = { name: 'edge-1', zone: 'zone-a', pool: 'edge' };
  return { version: `${revision}.x`, revision, gateway: { id: 'g', ...placement }, share: null, routes: resolveGateway(buildResolutionIndex(resources, revision), placement).routes };
}

interface Gateway {
  url: string;
  tracing: Tracing;
  proxy: ProxyServer;
}

async function startGateway(collector: OtlpCaptureServer, upstreamPort: number, sampleRatio: number): Promise<Gateway> {
  const tracing = createTracing({
    serviceName: 'portolan-gateway',
    resourceAttributes: { 'service.instance.id': 'edge-1', 'portolan.zone': 'zone-a', 'portolan.pool': 'edge' },
    endpoint: collector.url,
    protocol: 'http/json',
    sampleRatio,
    slowThresholdMs: SLOW_THRESHOLD_MS,
  });
  const proxy = new ProxyServer({ zone: 'zone-a', pool: 'edge', tracer: tracing.tracer, metrics: new GatewayMetrics(), stats: new HeartbeatStatsCollector() });
  expect(proxy.apply(snapshot(upstreamPort)).errors).toEqual([]);
  return { url: `http://${await proxy.listen('127.0.0.1', 0)}`, tracing, proxy };
}

async function get(gateway: Gateway, path: string, headers: Record<string, string> = {}): Promise<{ status: number; traceId: string }> {
  const response = await request(`${gateway.url}${path}`, { headers: { host: 'shop.example.com', ...headers } });
  await response.body.dump();
  return { status: response.statusCode, traceId: String(response.headers['x-portolan-trace-id']) };
}

/** The spans of `traceId` once `ready` accepts them; exports are flushed while waiting. */
async function spansOf(gateway: Gateway, collector: OtlpCaptureServer, traceId: string, ready: (spans: CapturedSpan[]) => boolean): Promise<CapturedSpan[]> {
  let spans: CapturedSpan[] = [];
  await expect
    .poll(
      async () => {
        await gateway.tracing.forceFlush();
        spans = collector.spans().filter((span) => span.traceId === traceId);
        return ready(spans);
      },
      { timeout: 10_000 },
    )
    .toBe(true);
  return spans;
}

describe('gateway tracing', () => {
  let collector: OtlpCaptureServer;
  let upstream: ReturnType<typeof startUpstream>;
  let upstreamPort: number;
  const gateways: Gateway[] = [];

  beforeAll(async () => {
    collector = await startOtlpCaptureServer();
    upstream = startUpstream();
    await new Promise<void>((listening) => upstream.server.listen(0, '127.0.0.1', listening));
    upstreamPort = (upstream.server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    for (const gateway of gateways) {
      await gateway.proxy.close();
      await gateway.tracing.shutdown();
    }
    upstream.server.closeAllConnections();
    await new Promise((closed) => (upstream.server as Server).close(closed));
    await collector.close();
  });

  it('makes one SERVER span per request and one CLIENT span per attempt, each carried upstream in traceparent', async () => {
    const gateway = await startGateway(collector, upstreamPort, 1);
    gateways.push(gateway);
    const answer = await get(gateway, '/flaky/1?customer=7', { traceparent: `00-${INCOMING_TRACE}-${INCOMING_SPAN}-01` });
    expect(answer).toEqual({ status: 200, traceId: INCOMING_TRACE });

    const spans = await spansOf(gateway, collector, INCOMING_TRACE, (found) => found.length >= 4);
    const servers = spans.filter((span) => span.kind === SERVER);
    expect(servers).toHaveLength(1);
    const [server] = servers;
    expect(server).toMatchObject({
      serviceName: 'portolan-gateway',
      resource: expect.objectContaining({ 'service.instance.id': 'edge-1', 'portolan.zone': 'zone-a', 'portolan.pool': 'edge' }),
      name: 'GET default/checkout',
      parentSpanId: INCOMING_SPAN,
      attributes: {
        'http.request.method': 'GET',
        'url.path': '/flaky/1',
        'http.response.status_code': 200,
        'portolan.route': 'default/checkout',
        'portolan.service': 'default/checkout',
        'portolan.zone': 'zone-a',
        'portolan.pool': 'edge',
        'portolan.rate_limited': false,
        'portolan.breaker.state': 'closed',
        'portolan.retry.attempts': 3,
      },
    });
    expect(server.status.code).not.toBe(ERROR);

    const attempts = spans.filter((span) => span.kind === CLIENT).sort((a, b) => Number(a.attributes['portolan.attempt']) - Number(b.attributes['portolan.attempt']));
    expect(attempts.map((span) => [span.name, span.parentSpanId, span.attributes['portolan.attempt'], span.attributes['http.response.status_code'], span.status.code ?? 0])).toEqual([
      ['upstream default/checkout', server.spanId, 1, 503, ERROR],
      ['upstream default/checkout', server.spanId, 2, 503, ERROR],
      ['upstream default/checkout', server.spanId, 3, 200, 0],
    ]);
    expect(attempts.map((span) => span.attributes['portolan.retry.backoff_ms'])).toEqual([0, expect.any(Number), expect.any(Number)]);
    expect(Number(attempts[1].attributes['portolan.retry.backoff_ms'])).toBeGreaterThan(0);
    expect(Number(attempts[2].attributes['portolan.retry.backoff_ms'])).toBeGreaterThan(0);
    expect(attempts[0].attributes).toMatchObject({ 'portolan.service': 'default/checkout', 'server.address': '127.0.0.1', 'server.port': upstreamPort, 'portolan.endpoint.zone': 'zone-a', 'error.type': '503' });
    // The second consecutive 503 ejected the endpoint (consecutive5xx: 2).
    expect(attempts.map((span) => span.attributes['portolan.outlier.ejected'] ?? false)).toEqual([false, true, false]);
    expect(upstream.seen.get('/flaky/1?customer=7')).toEqual(attempts.map((span) => `00-${INCOMING_TRACE}-${span.spanId}-01`));
  });

  it('marks a rate-limited request', async () => {
    const gateway = gateways[0];
    const first = await get(gateway, '/limited/a');
    const limited = await get(gateway, '/limited/b');
    expect([first.status, limited.status]).toEqual([200, 429]);
    const [server] = await spansOf(gateway, collector, limited.traceId, (found) => found.length > 0);
    expect(server).toMatchObject({ name: 'GET default/ledger', attributes: expect.objectContaining({ 'portolan.rate_limited': true, 'http.response.status_code': 429, 'portolan.retry.attempts': 0 }) });
    const allowed = await spansOf(gateway, collector, first.traceId, (found) => found.some((span) => span.kind === SERVER));
    expect(allowed.find((span) => span.kind === SERVER)!.attributes['portolan.rate_limited']).toBe(false);
  });

  it('with sampling 0 exports a failed and a slow request but not a healthy one', async () => {
    const gateway = await startGateway(collector, upstreamPort, 0);
    gateways.push(gateway);
    const healthy = await get(gateway, '/ok');
    const failed = await get(gateway, '/fail');
    const slow = await get(gateway, '/slow');
    expect([healthy.status, failed.status, slow.status]).toEqual([200, 500, 200]);

    const failedSpans = await spansOf(gateway, collector, failed.traceId, (found) => found.length === 2);
    expect(failedSpans.find((span) => span.kind === SERVER)).toMatchObject({ status: { code: ERROR, message: 'upstream answered 500' }, attributes: expect.objectContaining({ 'http.response.status_code': 500 }) });
    const slowSpans = await spansOf(gateway, collector, slow.traceId, (found) => found.length === 2);
    expect(slowSpans.map((span) => span.kind).sort()).toEqual([SERVER, CLIENT]);
    // Spans are decided and queued in order, so the healthy request's would have arrived by now.
    expect(collector.spans().filter((span) => span.traceId === healthy.traceId)).toEqual([]);
  });

  it('marks a request whose client went away mid-answer as aborted, not as failed', async () => {
    const gateway = await startGateway(collector, upstreamPort, 1);
    gateways.push(gateway);
    const traceId = await new Promise<string>((resolve, reject) => {
      const client = httpGet(`${gateway.url}/stream`, { headers: { host: 'shop.example.com' }, agent: false }, (response) => {
        response.once('data', () => {
          client.destroy();
          resolve(String(response.headers['x-portolan-trace-id']));
        });
      });
      client.on('error', reject);
    });

    const spans = await spansOf(gateway, collector, traceId, (found) => found.length === 2);
    const server = spans.find((span) => span.kind === SERVER)!;
    expect(server.attributes).toMatchObject({ 'url.path': '/stream', 'http.response.status_code': 200, 'portolan.client_aborted': true });
    expect(spans.map((span) => span.status.code ?? 0)).not.toContain(ERROR);
  });

  it('gives an unmatched request a span named for no route, and its trace id', async () => {
    const gateway = gateways[0];
    gateway.proxy.apply({ ...snapshot(upstreamPort), routes: [] });
    const answer = await get(gateway, '/nowhere');
    expect(answer.status).toBe(404);
    const [server] = await spansOf(gateway, collector, answer.traceId, (found) => found.length > 0);
    expect(server).toMatchObject({ name: 'GET unmatched', attributes: expect.objectContaining({ 'url.path': '/nowhere', 'http.response.status_code': 404, 'portolan.zone': 'zone-a', 'portolan.pool': 'edge' }) });
    expect(server.attributes).not.toHaveProperty('portolan.route');
  });
});
