/**
 * Acceptance: one request through the mesh is one trace. The gateway's SERVER span, a CLIENT span
 * per upstream attempt (the upstream fails twice, so three), and the upstream's own span under
 * each attempt; exported by two processes over OTLP/HTTP protobuf to the control plane, and found
 * through the trace API by id and by search. Then the Jaeger switch: a second control plane reads
 * the same trace from a Jaeger query API (a double, loaded with it) and answers the same.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startJaegerQueryDouble, toJaegerTrace, type JaegerQueryDouble } from '@portolan/control-plane/src/tracing/testing/jaeger-query-double.js';
import { startSampleUpstream, type SampleUpstream } from '../src/sample-upstream.js';
import { ControlPlane, eventually, GatewayProcess, route, send, service, tempDir } from './support/mesh.js';

let root: string;
let controlPlane: ControlPlane;
let upstream: SampleUpstream;
let gateway: GatewayProcess;

beforeAll(async () => {
  root = tempDir('portolan-tracing-');
  controlPlane = new ControlPlane(root, { PORTOLAN_OPS_PORT: '0' });
  await controlPlane.start();
  const { opsUrl } = JSON.parse(readFileSync(join(root, 'endpoint.json'), 'utf8')) as { opsUrl: string };
  const otlpEndpoint = `${opsUrl}/v1/traces`;
  upstream = await startSampleUpstream({ name: 'checkout-zone-a', zone: 'zone-a', service: 'checkout', otlpEndpoint });
  await controlPlane.apply(service('checkout', [{ port: upstream.port, zone: 'zone-a' }]));
  await controlPlane.apply(route('checkout', '/checkout'));
  await controlPlane.apply({
    kind: 'RetryPolicy',
    metadata: { name: 'checkout-retries' },
    spec: { targetRef: { kind: 'Service', name: 'checkout' }, attempts: 3, backoff: { baseInterval: '10ms', maxInterval: '50ms', jitter: 'none' } },
  });
  gateway = new GatewayProcess('edge-a', controlPlane, { zone: 'zone-a', root, extraArgs: ['--otlp-endpoint', otlpEndpoint, '--trace-sampling', '1'] });
  await gateway.start();
  await eventually('the retry policy to reach the gateway', () => gateway.config(), (config) => config?.routes?.[0]?.retry?.config?.attempts === 3);
});

afterAll(async () => {
  await gateway?.stop();
  await upstream?.close();
  await controlPlane?.stop();
});

describe('a request traced through gateway, retries and upstream', () => {
  let traceId: string;
  let trace: any;

  it('is one trace: the server span, one client span per attempt, the upstream span under each attempt', async () => {
    upstream.knobs = { ...upstream.knobs, failNext: 2 };
    const answer = await send(gateway.proxyUrl, '/checkout/42');
    expect(answer.status).toBe(200);
    traceId = answer.headers['x-portolan-trace-id'] as string;
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);

    trace = await eventually(
      'the gateway and upstream spans to arrive',
      async () => (await controlPlane.call('GET', `/observability/v1/traces/${traceId}`)).body,
      (body) => body?.spans?.length === 7,
      30_000,
    );
    const server = trace.spans.filter((span: any) => span.kind === 'server' && span.service === 'portolan-gateway');
    expect(server).toHaveLength(1);
    expect(server[0]).toMatchObject({
      name: 'GET default/checkout',
      attributes: { 'portolan.route': 'default/checkout', 'portolan.service': 'default/checkout', 'portolan.zone': 'zone-a', 'portolan.retry.attempts': 3, 'http.response.status_code': 200, 'portolan.rate_limited': false },
    });
    expect(server[0].parentSpanId).toBeUndefined();
    const attempts = trace.spans.filter((span: any) => span.kind === 'client').sort((a: any, b: any) => a.attributes['portolan.attempt'] - b.attributes['portolan.attempt']);
    expect(attempts.map((span: any) => [span.parentSpanId, span.attributes['portolan.attempt'], span.attributes['http.response.status_code'], span.status.code])).toEqual([
      [server[0].spanId, 1, 503, 'error'],
      [server[0].spanId, 2, 503, 'error'],
      [server[0].spanId, 3, 200, 'unset'],
    ]);
    expect(attempts[1].attributes['portolan.retry.backoff_ms']).toBeGreaterThan(0);
    const upstreamSpans = trace.spans.filter((span: any) => span.service === 'checkout');
    expect(upstreamSpans.map((span: any) => span.parentSpanId).sort()).toEqual(attempts.map((span: any) => span.spanId).sort());
    expect(upstreamSpans.every((span: any) => span.resource['service.namespace'] === 'default')).toBe(true);
    expect(trace).toMatchObject({ traceId, rootService: 'portolan-gateway', spanCount: 7, errorSpanCount: 4, services: ['checkout', 'portolan-gateway'] });
  });

  it('is found by search: by service and attribute, and by the upstream service with errors', async () => {
    const byAttempts = (await controlPlane.call('GET', '/observability/v1/traces?service=portolan-gateway&attr=portolan.retry.attempts%3D3')).body.traces;
    expect(byAttempts.map((found: any) => found.traceId)).toEqual([traceId]);
    const failing = (await controlPlane.call('GET', '/observability/v1/traces?service=checkout&status=error&minDuration=0ms')).body.traces;
    expect(failing.map((found: any) => found.traceId)).toContain(traceId);
    const unrelated = (await controlPlane.call('GET', '/observability/v1/traces?service=portolan-gateway&attr=portolan.retry.attempts%3D1')).body.traces;
    expect(unrelated.map((found: any) => found.traceId)).not.toContain(traceId);
  });

  describe('with the Jaeger switch', () => {
    let jaeger: JaegerQueryDouble;
    let jaegerControlPlane: ControlPlane;

    beforeAll(async () => {
      jaeger = await startJaegerQueryDouble([toJaegerTrace(trace)]);
      jaegerControlPlane = new ControlPlane(tempDir('portolan-tracing-jaeger-'), { PORTOLAN_TRACE_BACKEND: 'jaeger', PORTOLAN_JAEGER_QUERY_URL: jaeger.url });
      await jaegerControlPlane.start();
    });

    afterAll(async () => {
      await jaegerControlPlane?.stop();
      await jaeger?.close();
    });

    it('answers the same queries from Jaeger\'s HTTP API', async () => {
      const byId = (await jaegerControlPlane.call('GET', `/observability/v1/traces/${traceId}`)).body;
      expect(byId).toEqual(trace);
      const searched = (await jaegerControlPlane.call('GET', '/observability/v1/traces?service=portolan-gateway&attr=portolan.retry.attempts%3D3')).body.traces;
      expect(searched.map((found: any) => found.traceId)).toEqual([traceId]);
      expect(jaeger.requests).toContainEqual(`/api/traces/${traceId}`);
      expect(jaeger.requests.some((request) => request.startsWith('/api/traces?') && request.includes('service=portolan-gateway'))).toBe(true);
    });
  });
});
