/**
 * Acceptance: retries (with growing backoff, idempotent methods only, capped by the retry budget),
 * the circuit breaker (opens at 50% failures over 10+ requests, fails fast while open, a good
 * half-open probe closes it, a bad one reopens it), outlier ejection (5 consecutive 5xx eject an
 * endpoint until its ejection time passes) and timeouts (504), through a real gateway.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { eventually, route, send, service, TestMesh, type ControlPlane, type GatewayProcess, type RecordingUpstream } from './support/mesh.js';

let mesh: TestMesh;
let controlPlane: ControlPlane;
let gateway: GatewayProcess;
let upstreams: Record<string, RecordingUpstream>;

async function applyAndWait(resource: Parameters<ControlPlane['apply']>[0]) {
  const stored = await controlPlane.apply(resource);
  const revision = Number(stored.metadata.resourceVersion);
  await eventually(`the gateway at revision ${revision}`, () => gateway.config(), (c) => c?.revision >= revision);
  return stored;
}

beforeAll(async () => {
  mesh = await TestMesh.start('portolan-resilience-', {
    upstreams: ['flaky', 'broken', 'pair-good', 'pair-bad', 'slow'],
    gateways: [{ name: 'resilience-gw' }],
    configure: async ({ controlPlane, upstreams }) => {
      await controlPlane.apply(service('flaky', [{ port: upstreams.flaky.port }]));
      await controlPlane.apply(service('broken', [{ port: upstreams.broken.port }]));
      await controlPlane.apply(service('pair', [{ port: upstreams['pair-good'].port }, { port: upstreams['pair-bad'].port }]));
      await controlPlane.apply(service('slow', [{ port: upstreams.slow.port }]));
      for (const name of ['flaky', 'broken', 'pair', 'slow']) await controlPlane.apply(route(name, `/${name}`));
    },
  });
  ({ controlPlane, upstreams } = mesh);
  gateway = mesh.gateways[0];
  await applyAndWait({
    kind: 'RetryPolicy',
    metadata: { name: 'flaky-retries' },
    spec: { targetRef: { kind: 'Service', name: 'flaky' }, attempts: 3, backoff: { baseInterval: '100ms', maxInterval: '1s', jitter: 'none' }, retryOn: ['5xx'] },
  });
});

beforeEach(() => {
  for (const upstream of Object.values(upstreams)) {
    upstream.requests.length = 0;
    upstream.respond = () => ({ status: 200 });
  }
});

afterAll(() => mesh?.stop());

describe('RetryPolicy', () => {
  it('retries an upstream that fails twice: the client sees 200, the upstream saw 3 tries with growing gaps', async () => {
    upstreams.flaky.respond = (_request, index) => ({ status: index < 2 ? 503 : 200 });
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const response = await send(gateway.proxyUrl, '/flaky', { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } });
    expect(response.status).toBe(200);
    expect(response.headers['x-portolan-trace-id']).toBe(traceId);
    // Every try carries the trace on, and the usual forwarding headers.
    for (const tried of upstreams.flaky.requests) {
      expect(tried.headers.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
      expect(tried.headers).toMatchObject({ 'x-forwarded-for': '127.0.0.1', 'x-forwarded-proto': 'http' });
    }
    const times = upstreams.flaky.requests.map((request) => request.at);
    expect(times).toHaveLength(3);
    const [first, second] = [times[1] - times[0], times[2] - times[1]];
    expect(first).toBeGreaterThanOrEqual(90);
    expect(second).toBeGreaterThan(first);
    expect(await gateway.metrics()).toMatch(/portolan_gateway_retries_total\{route="default\/flaky",service="default\/flaky"\} 2/);
  });

  it('does not retry a POST by default', async () => {
    upstreams.flaky.respond = () => ({ status: 503 });
    const response = await send(gateway.proxyUrl, '/flaky', { method: 'POST', body: '{"pay": 10}', headers: { 'content-type': 'application/json' } });
    expect(response.status).toBe(503);
    expect(upstreams.flaky.requests).toHaveLength(1);
  });

  it('caps retries with the retry budget during a total outage', async () => {
    await applyAndWait({
      kind: 'RetryPolicy',
      metadata: { name: 'broken-retries' },
      spec: { targetRef: { kind: 'Service', name: 'broken' }, attempts: 3, backoff: { baseInterval: '50ms', jitter: 'none' }, retryOn: ['5xx'], budget: { percent: 20, minRetryConcurrency: 1 } },
    });
    upstreams.broken.respond = () => ({ status: 503, delayMs: 100 });
    const requests = 40;
    const answers = await Promise.all(Array.from({ length: requests }, () => send(gateway.proxyUrl, '/broken')));
    expect(answers.every((answer) => answer.status === 503)).toBe(true);
    const retries = upstreams.broken.requests.length - requests;
    // Without a budget this would be 3 retries each (120). 20% of 40 concurrent requests is 8 at a time.
    expect(retries).toBeGreaterThan(0);
    expect(retries).toBeLessThanOrEqual(requests * 0.2 * 3);
    expect(await gateway.metrics()).toMatch(/portolan_gateway_retry_budget_exhausted_total\{route="default\/broken",service="default\/broken"\} [1-9]/);
  });
});

describe('CircuitBreakerPolicy', () => {
  it('opens at 50% failures over 10 requests, fails fast while open, closes on a good probe and reopens on a bad one', async () => {
    await applyAndWait({
      kind: 'CircuitBreakerPolicy',
      metadata: { name: 'broken-breaker' },
      spec: { targetRef: { kind: 'Service', name: 'broken' }, errorRate: { minimumRequests: 10, failureRatePercent: 50, window: '10s', openDuration: '1s', halfOpenProbes: 1 } },
    });
    await controlPlane.remove('RetryPolicy', 'broken-retries');
    await eventually('retries gone', () => gateway.config(), (c) => c.routes.find((r: any) => r.route.name === 'broken').retry === null);
    upstreams.broken.respond = (_request, index) => ({ status: index % 2 === 0 ? 500 : 200 });
    for (let i = 0; i < 10; i++) await send(gateway.proxyUrl, '/broken');
    expect(upstreams.broken.requests).toHaveLength(10);

    const fastFail = await send(gateway.proxyUrl, '/broken');
    expect(fastFail.status).toBe(503);
    expect(fastFail.headers['x-portolan-breaker']).toBe('default/broken open');
    expect(upstreams.broken.requests).toHaveLength(10);

    // After the open duration one probe goes through; it fails, so the breaker reopens.
    upstreams.broken.respond = () => ({ status: 500 });
    await new Promise((done) => setTimeout(done, 1_100));
    expect((await send(gateway.proxyUrl, '/broken')).status).toBe(500);
    expect((await send(gateway.proxyUrl, '/broken')).headers['x-portolan-breaker']).toBe('default/broken open');
    expect(upstreams.broken.requests).toHaveLength(11);

    // Next probe succeeds: closed again, traffic flows.
    upstreams.broken.respond = () => ({ status: 200 });
    await new Promise((done) => setTimeout(done, 1_100));
    expect((await send(gateway.proxyUrl, '/broken')).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await send(gateway.proxyUrl, '/broken')).status).toBe(200);
    expect(await gateway.metrics()).toMatch(/portolan_gateway_breaker_opens_total\{route="default\/broken",service="default\/broken"\} 2/);
  });

  it('ejects an endpoint after 5 consecutive 5xx and takes it back after the ejection time', async () => {
    await applyAndWait({
      kind: 'CircuitBreakerPolicy',
      metadata: { name: 'pair-outliers' },
      spec: { targetRef: { kind: 'Service', name: 'pair' }, outlierDetection: { consecutive5xx: 5, interval: '100ms', baseEjectionTime: '1s', maxEjectionPercent: 50 } },
    });
    upstreams['pair-bad'].respond = () => ({ status: 503 });
    for (let i = 0; i < 30 && upstreams['pair-bad'].requests.length < 5; i++) await send(gateway.proxyUrl, '/pair');
    expect(upstreams['pair-bad'].requests).toHaveLength(5);
    const good = upstreams['pair-good'].requests.length;
    for (let i = 0; i < 20; i++) expect((await send(gateway.proxyUrl, '/pair')).status).toBe(200);
    expect(upstreams['pair-bad'].requests).toHaveLength(5);
    expect(upstreams['pair-good'].requests.length).toBe(good + 20);

    upstreams['pair-bad'].respond = () => ({ status: 200 });
    await new Promise((done) => setTimeout(done, 1_300));
    for (let i = 0; i < 20; i++) await send(gateway.proxyUrl, '/pair');
    expect(upstreams['pair-bad'].requests.length).toBeGreaterThan(5);
  });
});

describe('TimeoutPolicy', () => {
  it('answers 504 when the request timeout expires', async () => {
    await applyAndWait({ kind: 'TimeoutPolicy', metadata: { name: 'slow-timeout' }, spec: { targetRef: { kind: 'Route', name: 'slow' }, requestTimeout: '300ms' } });
    upstreams.slow.respond = () => ({ status: 200, delayMs: 2_000 });
    const started = Date.now();
    const response = await send(gateway.proxyUrl, '/slow');
    expect(response.status).toBe(504);
    expect(Date.now() - started).toBeLessThan(1_900);
  });

  it('holds a deadline well under a second: an upstream answering after 300 ms misses a 50 ms timeout', async () => {
    // undici's own header timer fires up to a second late; a deadline this short needs the gateway's precise one.
    await applyAndWait({ kind: 'TimeoutPolicy', metadata: { name: 'slow-timeout' }, spec: { targetRef: { kind: 'Route', name: 'slow' }, requestTimeout: '50ms' } });
    upstreams.slow.respond = () => ({ status: 200, delayMs: 300 });
    for (let i = 0; i < 5; i++) expect((await send(gateway.proxyUrl, '/slow')).status).toBe(504);
  });
});
