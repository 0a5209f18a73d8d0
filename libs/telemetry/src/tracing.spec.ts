import { context, isSpanContextValid, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { InMemorySpanExporter, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import { startOtlpCaptureServer, type OtlpCaptureServer } from './testing/otlp-capture-server.js';
import { extractTraceContext, injectTraceContext } from './trace-context.js';
import { createTracing, startGlobalTracing, type Tracing, type TracingOptions } from './tracing.js';

const INCOMING = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

let collector: OtlpCaptureServer | undefined;
let tracing: Tracing | undefined;
afterEach(async () => {
  await tracing?.shutdown();
  await collector?.close();
  tracing = collector = undefined;
});

describe('createTracing', () => {
  it('exports over OTLP/HTTP JSON with its own resource, continuing an incoming trace', async () => {
    collector = await startOtlpCaptureServer();
    tracing = createTracing({ serviceName: 'checkout', resourceAttributes: { 'service.namespace': 'default', 'portolan.zone': 'zone-a' }, endpoint: collector.url, protocol: 'http/json' });
    const span = tracing.tracer.startSpan('GET /cart', { kind: SpanKind.SERVER, attributes: { 'http.response.status_code': 200 } }, extractTraceContext({ traceparent: INCOMING }));
    span.end();
    await tracing.forceFlush();
    expect(collector.exports.map((e) => [e.path, e.headers['content-type']])).toEqual([['/v1/traces', 'application/json']]);
    expect(collector.spans()).toEqual([
      expect.objectContaining({
        serviceName: 'checkout',
        resource: expect.objectContaining({ 'service.namespace': 'default', 'portolan.zone': 'zone-a' }),
        traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
        parentSpanId: '00f067aa0ba902b7',
        spanId: span.spanContext().spanId,
        name: 'GET /cart',
        kind: 2,
        attributes: { 'http.response.status_code': 200 },
      }),
    ]);
  });

  it('exports protobuf by default, with the configured headers', async () => {
    collector = await startOtlpCaptureServer();
    tracing = createTracing({ serviceName: 'checkout', endpoint: collector.url, headers: { authorization: 'Bearer collector-token' } });
    tracing.tracer.startSpan('work').end();
    await tracing.forceFlush();
    expect(collector.exports).toHaveLength(1);
    expect(collector.exports[0].headers).toMatchObject({ 'content-type': 'application/x-protobuf', authorization: 'Bearer collector-token' });
    expect(collector.exports[0].body.toString('latin1')).toContain('checkout');
  });

  it('keeps only failed traces at ratio 0', async () => {
    collector = await startOtlpCaptureServer();
    tracing = createTracing({ serviceName: 'checkout', endpoint: collector.url, protocol: 'http/json', sampleRatio: 0 });
    tracing.tracer.startSpan('healthy').end();
    const failed = tracing.tracer.startSpan('failed');
    failed.setStatus({ code: SpanStatusCode.ERROR, message: 'upstream answered 503' });
    failed.end();
    await tracing.forceFlush();
    expect(collector.spans().map((span) => [span.name, span.status])).toEqual([['failed', { code: 2, message: 'upstream answered 503' }]]);
  });

  it('without an endpoint or exporter records nothing, yet gives a new trace a valid id that propagates', () => {
    tracing = createTracing({ serviceName: 'checkout' });
    const server = tracing.tracer.startSpan('GET /cart', { kind: SpanKind.SERVER }, extractTraceContext({}));
    const client = tracing.tracer.startSpan('upstream cart', { kind: SpanKind.CLIENT }, trace.setSpan(ROOT_CONTEXT, server));
    const headers: Record<string, string> = {};
    injectTraceContext(trace.setSpan(ROOT_CONTEXT, client), headers);
    expect([server.isRecording(), client.isRecording()]).toEqual([false, false]);
    expect(isSpanContextValid(server.spanContext())).toBe(true);
    expect(client.spanContext().traceId).toBe(server.spanContext().traceId);
    expect(client.spanContext().spanId).not.toBe(server.spanContext().spanId);
    expect(headers).toEqual({ traceparent: `00-${server.spanContext().traceId}-${client.spanContext().spanId}-00` });
    client.end();
    server.end();
  });

  it("without an endpoint or exporter records nothing of a caller's unsampled trace, and carries it on", () => {
    tracing = createTracing({ serviceName: 'checkout', sampleRatio: 1 });
    const span = tracing.tracer.startSpan('GET /cart', {}, extractTraceContext({ traceparent: `00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00` }));
    const headers: Record<string, string> = {};
    injectTraceContext(trace.setSpan(ROOT_CONTEXT, span), headers);
    expect(span.isRecording()).toBe(false);
    expect(headers).toEqual({ traceparent: `00-4bf92f3577b34da6a3ce929d0e0e4736-${span.spanContext().spanId}-00` });
    span.end();
  });

  // The SDK sets the sampled flag only on a recorded span, so this one span is recorded to pass it on.
  it("without an endpoint still passes a caller's sampled flag on", () => {
    tracing = createTracing({ serviceName: 'checkout' });
    const span = tracing.tracer.startSpan('GET /cart', {}, extractTraceContext({ traceparent: INCOMING, tracestate: 'vendor=1' }));
    const headers: Record<string, string> = {};
    injectTraceContext(trace.setSpan(ROOT_CONTEXT, span), headers);
    expect(headers).toEqual({ traceparent: `00-4bf92f3577b34da6a3ce929d0e0e4736-${span.spanContext().spanId}-01`, tracestate: 'vendor=1' });
    span.end();
  });

  it.each([
    ['a malformed traceparent', { traceparent: 'garbage' }],
    ['an all-zero trace id', { traceparent: `00-${'0'.repeat(32)}-00f067aa0ba902b7-01` }],
    ['no traceparent', {}],
  ])('starts a new trace on %s', (_name, headers) => {
    tracing = createTracing({ serviceName: 'checkout' });
    const span = tracing.tracer.startSpan('GET /cart', {}, extractTraceContext(headers));
    expect(span.spanContext().traceId).toMatch(/^(?!0{32})[0-9a-f]{32}$/);
    expect(span.spanContext().traceId).not.toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    span.end();
  });

  it('reports a collector that refuses exports once and never throws into the caller', async () => {
    collector = await startOtlpCaptureServer({ answerStatus: 404 });
    const failures: Error[] = [];
    tracing = createTracing({ serviceName: 'checkout', endpoint: collector.url, protocol: 'http/json', onExportFailure: (error) => failures.push(error) });
    tracing.tracer.startSpan('one').end();
    await tracing.forceFlush();
    tracing.tracer.startSpan('two').end();
    await tracing.forceFlush();
    expect(collector.exports).toHaveLength(2);
    expect(failures).toHaveLength(1);
  });

  it.each<[string, Partial<TracingOptions>, string]>([
    ['a ratio above 1', { sampleRatio: 1.5 }, 'sampleRatio 1.5 is not a number from 0 to 1'],
    ['a negative ratio', { sampleRatio: -0.1 }, 'sampleRatio -0.1 is not a number from 0 to 1'],
    ['a ratio that is not a number', { sampleRatio: Number.NaN }, 'sampleRatio NaN'],
    ['a negative slow threshold', { slowThresholdMs: -1 }, 'slowThresholdMs -1'],
    ['an unknown protocol', { protocol: 'grpc' as never }, 'protocol grpc is not one of http/protobuf, http/json'],
    ['an endpoint without scheme', { endpoint: '127.0.0.1:4318/v1/traces' }, 'is not an http:// or https:// URL'],
    ['an empty buffer', { maxPendingSpans: 0 }, 'maxPendingSpans 0'],
  ])('rejects %s', (_name, options, message) => {
    expect(() => createTracing({ serviceName: 'checkout', ...options })).toThrow(message);
  });
});

describe('createTracing with a custom exporter', () => {
  it('hands kept spans to it instead of OTLP, with the resource and the caller as parent', async () => {
    const exporter = new InMemorySpanExporter();
    tracing = createTracing({ serviceName: 'portolan-control-plane', resourceAttributes: { 'service.instance.id': 'cp-1' }, exporter });
    const span = tracing.tracer.startSpan('GET /version', { kind: SpanKind.SERVER }, extractTraceContext({ traceparent: INCOMING }));
    span.end();
    await tracing.forceFlush();
    expect(exporter.getFinishedSpans().map((exported) => [exported.name, exported.spanContext().traceId, exported.parentSpanContext?.spanId, exported.resource.attributes])).toEqual([
      ['GET /version', '4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7', expect.objectContaining({ 'service.name': 'portolan-control-plane', 'service.instance.id': 'cp-1' })],
    ]);
  });

  it('keeps only failed traces at ratio 0, as with OTLP', async () => {
    const exporter = new InMemorySpanExporter();
    tracing = createTracing({ serviceName: 'checkout', exporter, sampleRatio: 0 });
    tracing.tracer.startSpan('healthy').end();
    const failed = tracing.tracer.startSpan('failed');
    failed.setStatus({ code: SpanStatusCode.ERROR });
    failed.end();
    await tracing.forceFlush();
    expect(exporter.getFinishedSpans().map((exported) => exported.name)).toEqual(['failed']);
  });

  it('reports its failures once to onExportFailure', async () => {
    const refusing: SpanExporter = {
      export: (_spans: ReadableSpan[], done) => done({ code: ExportResultCode.FAILED, error: new Error('store closed') }),
      shutdown: () => Promise.resolve(),
    };
    const failures: Error[] = [];
    tracing = createTracing({ serviceName: 'checkout', exporter: refusing, onExportFailure: (error) => failures.push(error) });
    tracing.tracer.startSpan('one').end();
    await tracing.forceFlush();
    tracing.tracer.startSpan('two').end();
    await tracing.forceFlush();
    expect(failures.map((error) => error.message)).toEqual(['store closed']);
  });

  it('refuses an endpoint as well', () => {
    expect(() => createTracing({ serviceName: 'checkout', endpoint: 'http://127.0.0.1:4318/v1/traces', exporter: new InMemorySpanExporter() })).toThrow('endpoint http://127.0.0.1:4318/v1/traces and exporter are exclusive');
  });
});

describe('startGlobalTracing', () => {
  it('registers the provider, the W3C propagator and AsyncLocalStorage context globally', async () => {
    collector = await startOtlpCaptureServer();
    tracing = startGlobalTracing({ serviceName: 'portolan-gateway', resourceAttributes: { 'service.instance.id': 'edge-1' }, endpoint: collector.url, protocol: 'http/json' });
    const parent = trace.getTracer('test').startSpan('parent');
    const headers: Record<string, string> = {};
    await context.with(trace.setSpan(context.active(), parent), async () => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      propagation.inject(context.active(), headers);
    });
    parent.end();
    expect(headers.traceparent).toBe(`00-${parent.spanContext().traceId}-${parent.spanContext().spanId}-01`);
    await tracing.forceFlush();
    expect(collector.spans()).toEqual([expect.objectContaining({ name: 'parent', serviceName: 'portolan-gateway', resource: expect.objectContaining({ 'service.instance.id': 'edge-1' }) })]);
  });
});
