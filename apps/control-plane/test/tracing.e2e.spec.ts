/**
 * Traces end to end, in process: exporters post OTLP/HTTP (protobuf, gzipped protobuf, JSON) to
 * the ops port without a token; viewers query them through the HTTPS API. Then the Jaeger switch:
 * the same API reads a double of Jaeger's query API and the receiver points exporters elsewhere.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startJaegerQueryDouble, toJaegerTrace, type JaegerQueryDouble } from '../src/tracing/testing/jaeger-query-double';
import { otlpJsonExport, otlpProtobufExport, span, spanId, traceId } from '../src/tracing/testing/spans';
import { assembleTrace, type Trace } from '../src/tracing/trace-model';
import { ApiClient } from './support/api-client';
import { startInProcess, type InProcessControlPlane } from './support/in-process';

const VIEWER = 'viewer-token-0123456789';
const ADMIN = 'admin-token-01234567890';
const now = Date.now() * 1000;
const gateway = { 'service.name': 'portolan-gateway' };
const checkout = { 'service.name': 'checkout', 'service.namespace': 'default' };
const ID = traceId(0x5eed);

// One request: the gateway's spans and the upstream's, exported by two processes.
const gatewaySpans = [
  span({ traceId: ID, spanId: spanId(1), service: 'portolan-gateway', resource: gateway, name: 'ingress', startTimeUnixMicros: now - 5000, durationMicros: 4000, attributes: { 'http.route': '/checkout' } }),
  span({ traceId: ID, spanId: spanId(2), parentSpanId: spanId(1), service: 'portolan-gateway', resource: gateway, kind: 'client', name: 'upstream attempt', startTimeUnixMicros: now - 4900, durationMicros: 3500, attributes: { 'portolan.service': 'default/checkout' } }),
];
const checkoutSpans = [
  span({ traceId: ID, spanId: spanId(3), parentSpanId: spanId(2), service: 'checkout', resource: checkout, name: 'POST /checkout', startTimeUnixMicros: now - 4800, durationMicros: 3000, status: { code: 'error', message: 'payment declined' } }),
];
const otherTrace = [span({ traceId: traceId(0x5eee), spanId: spanId(1), service: 'checkout', resource: checkout, name: 'cron', startTimeUnixMicros: now - 9000 })];

function tokensFile(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'portolan-tokens-')), 'tokens.yaml');
  writeFileSync(file, `tokens:\n  - {name: viewer-user, role: viewer, token: ${VIEWER}}\n  - {name: admin-user, role: admin, token: ${ADMIN}}\n`);
  return file;
}

function postOtlp(opsUrl: string, body: Uint8Array | string, headers: Record<string, string>) {
  return fetch(`${opsUrl}/v1/traces`, { method: 'POST', headers, body });
}

describe('traces on the embedded store', () => {
  let cp: InProcessControlPlane;
  let viewer: ApiClient;
  let opsUrl: string;
  let tokens: string;

  beforeAll(async () => {
    tokens = tokensFile();
    // Sampling 0: the control plane's own API spans would join the store this test counts.
    cp = await startInProcess({ PORTOLAN_TOKENS_FILE: tokens, PORTOLAN_TRACE_SAMPLING: '0' }, ADMIN);
    viewer = cp.client.withToken(VIEWER);
    opsUrl = cp.running.opsUrl!;
  });

  afterAll(async () => {
    await cp.stop();
    rmSync(tokens, { force: true });
  });

  it('receives protobuf and JSON exports of one trace on the ops port and merges them', async () => {
    const protobuf = await postOtlp(opsUrl, otlpProtobufExport(gatewaySpans), { 'content-type': 'application/x-protobuf' });
    expect(protobuf.status).toBe(200);
    expect(protobuf.headers.get('content-type')).toMatch(/^application\/x-protobuf/);
    expect((await protobuf.arrayBuffer()).byteLength).toBe(0); // an empty ExportTraceServiceResponse: nothing rejected

    const json = await postOtlp(opsUrl, JSON.stringify(otlpJsonExport(checkoutSpans)), { 'content-type': 'application/json' });
    expect(json.status).toBe(200);
    expect(await json.json()).toEqual({});

    const gzipped = await postOtlp(opsUrl, gzipSync(otlpProtobufExport(otherTrace)), { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' });
    expect(gzipped.status).toBe(200);

    const trace = await viewer.call<Trace>('GET', `/observability/v1/traces/${ID}`);
    expect(trace.status).toBe(200);
    expect(trace.body).toEqual(assembleTrace(ID, [...gatewaySpans, ...checkoutSpans]));
  });

  it('reports rejected spans as a partial success', async () => {
    const body = otlpJsonExport([span({ traceId: traceId(0x77), spanId: spanId(1), startTimeUnixMicros: now })]) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<Record<string, unknown>> }> }> };
    body.resourceSpans[0].scopeSpans[0].spans.push({ traceId: 'abc', spanId: spanId(2), startTimeUnixNano: '1', endTimeUnixNano: '2' });
    const response = await postOtlp(opsUrl, JSON.stringify(body), { 'content-type': 'application/json' });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ partialSuccess: { rejectedSpans: '1', errorMessage: expect.stringContaining('traceId') } });
  });

  it.each([
    ['JSON that does not parse', '{"resourceSpans": [', 'application/json', 400],
    ['another content type', 'hello', 'text/plain', 415],
  ])('refuses %s', async (_name, body, contentType, code) => {
    const response = await postOtlp(opsUrl, body, { 'content-type': contentType });
    expect(response.status).toBe(code);
    expect(await response.json()).toMatchObject({ kind: 'Status', code });
  });

  it.each([
    ['bytes that are not protobuf', Buffer.from([0xff, 0xff, 0xff]), {}, 400, 'not a protobuf ExportTraceServiceRequest'],
    ['a gzip body that does not inflate', Buffer.from('not gzip'), { 'content-encoding': 'gzip' }, 400, 'could not be read'],
    ['a Content-Encoding it does not know', otlpProtobufExport(otherTrace), { 'content-encoding': 'zstd-of-the-future' }, 415, 'Content-Encoding gzip'],
    // 9 MB of zeros, a few KB on the wire: the limit applies after inflating.
    ['a body over 8 MB once inflated', gzipSync(Buffer.alloc(9 * 1024 * 1024)), { 'content-encoding': 'gzip' }, 413, 'larger than 8mb'],
  ])('answers protobuf clients a google.rpc.Status for %s', async (_name, body, headers, code, message) => {
    const response = await postOtlp(opsUrl, body, { 'content-type': 'application/x-protobuf', ...headers });
    expect(response.status).toBe(code);
    expect(response.headers.get('content-type')).toMatch(/^application\/x-protobuf/);
    expect(Buffer.from(await response.arrayBuffer()).toString('latin1')).toContain(message);
  });

  it('does not receive on the HTTPS API port', async () => {
    const response = await cp.client.call('POST', '/v1/traces', otlpJsonExport(checkoutSpans));
    expect(response.status).toBe(404);
    expect(response.body.message).toMatch(/ops port/);
  });

  it('searches for viewers, by service and status, and by attribute', async () => {
    const errors = await viewer.call<{ traces: Trace[] }>('GET', '/observability/v1/traces?service=checkout&status=error');
    expect(errors.status).toBe(200);
    expect(errors.body.traces.map((trace) => trace.traceId)).toEqual([ID]);
    const byAttribute = await viewer.call<{ traces: Trace[] }>('GET', `/observability/v1/traces?attr=${encodeURIComponent('portolan.service=default/checkout')}&minDuration=3ms`);
    expect(byAttribute.body.traces.map((trace) => trace.traceId)).toEqual([ID]);
    const services = await viewer.call('GET', '/observability/v1/services');
    expect(services.body.services).toEqual([
      { name: 'checkout', operations: ['GET /checkout', 'POST /checkout', 'cron'] },
      { name: 'portolan-gateway', operations: ['ingress', 'upstream attempt'] },
    ]);
  });

  it('answers Statuses for bad parameters, unknown traces and missing tokens', async () => {
    const bad = await viewer.call('GET', '/observability/v1/traces?minDuration=soon');
    expect(bad).toMatchObject({ status: 400, body: { kind: 'Status', reason: 'BadRequest', details: { causes: [{ field: 'minDuration' }] } } });
    expect((await viewer.call('GET', `/observability/v1/traces/${traceId(0xdead)}`)).status).toBe(404);
    expect((await viewer.call('GET', '/observability/v1/traces/not-an-id')).status).toBe(400);
    expect((await cp.client.withToken(undefined).call('GET', '/observability/v1/traces')).status).toBe(401);
  });

  it('counts received spans and what the store holds in /metrics', async () => {
    const metrics = await (await fetch(`${opsUrl}/metrics`)).text();
    expect(metrics).toMatch(/portolan_otlp_spans_received_total\{result="accepted"\} 5/);
    expect(metrics).toMatch(/portolan_otlp_spans_received_total\{result="rejected"\} 1/);
    expect(metrics).toMatch(/portolan_trace_store_traces 3/);
  });
});

describe('traces on Jaeger (PORTOLAN_TRACE_BACKEND=jaeger)', () => {
  let cp: InProcessControlPlane;
  let jaeger: JaegerQueryDouble;
  let tokens: string;
  const trace = assembleTrace(ID, [...gatewaySpans, ...checkoutSpans]);

  beforeAll(async () => {
    tokens = tokensFile();
    jaeger = await startJaegerQueryDouble([toJaegerTrace(trace)]);
    cp = await startInProcess({ PORTOLAN_TOKENS_FILE: tokens, PORTOLAN_TRACE_BACKEND: 'jaeger', PORTOLAN_JAEGER_QUERY_URL: jaeger.url }, ADMIN);
  });

  afterAll(async () => {
    await cp.stop();
    await jaeger.close();
    rmSync(tokens, { force: true });
  });

  it('serves the trace API from Jaeger with the same answers', async () => {
    const viewer = cp.client.withToken(VIEWER);
    expect((await viewer.call('GET', `/observability/v1/traces/${ID}`)).body).toEqual(trace);
    expect((await viewer.call('GET', '/observability/v1/traces?service=checkout&status=error')).body).toEqual({ traces: [trace] });
    expect(jaeger.requests).toContain(`/api/traces?service=checkout&limit=20&tags=${encodeURIComponent('{"error":"true"}')}`);
  });

  it('tells exporters to send to Jaeger instead', async () => {
    const response = await postOtlp(cp.running.opsUrl!, JSON.stringify(otlpJsonExport(checkoutSpans)), { 'content-type': 'application/json' });
    expect(response.status).toBe(404);
    expect(((await response.json()) as { message: string }).message).toMatch(/point OTLP exporters at Jaeger/);
  });
});
