import { createTracing, ExportResultCode, extractTraceContext, SpanKind, SpanStatusCode, type ExportResult, type ReadableSpan, type SpanExporter, type Tracing } from '@portolan/telemetry';
import { afterEach, describe, expect, it } from 'vitest';
import type { DecodedExport } from './otlp/otlp-decoder';
import { PRINCIPAL_ATTRIBUTE, TraceStoreExporter, toTraceSpan } from './trace-store-exporter';

const CALLER = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const T0_SECONDS = 1_767_225_600; // 2026-01-01T00:00:00Z

/** Finished spans as the SDK hands them to an exporter. */
class CollectingExporter implements SpanExporter {
  readonly spans: ReadableSpan[] = [];
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.spans.push(...spans);
    done({ code: ExportResultCode.SUCCESS });
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

let tracing: Tracing | undefined;
afterEach(async () => {
  await tracing?.shutdown();
  tracing = undefined;
});

async function finishedSpan(record: (tracing: Tracing) => void): Promise<ReadableSpan> {
  const collected = new CollectingExporter();
  tracing = createTracing({ serviceName: 'portolan-control-plane', resourceAttributes: { 'service.instance.id': 'cp-1' }, exporter: collected });
  record(tracing);
  await tracing.forceFlush();
  expect(collected.spans).toHaveLength(1);
  return collected.spans[0];
}

describe('toTraceSpan', () => {
  it('gives the trace model of a server span that continues a caller', async () => {
    const readable = await finishedSpan(({ tracer }) => {
      const span = tracer.startSpan('POST /apis/mesh.portolan.dev/v1alpha1/namespaces/:namespace/:plural', { kind: SpanKind.SERVER, startTime: [T0_SECONDS, 123_456_789] }, extractTraceContext({ traceparent: CALLER }));
      span.setAttributes({ 'http.response.status_code': 503, 'http.route': '/x/:y', retried: true, ratio: 0.5, hosts: ['a', 'b'] });
      span.addEvent('store unavailable', { attempt: 2 }, [T0_SECONDS, 124_000_999]);
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'Consul did not answer' });
      span.end([T0_SECONDS, 125_456_999]);
    });
    const resource = { 'service.name': 'portolan-control-plane', 'service.instance.id': 'cp-1' };
    expect(toTraceSpan(readable, resource)).toEqual({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: readable.spanContext().spanId,
      parentSpanId: '00f067aa0ba902b7',
      name: 'POST /apis/mesh.portolan.dev/v1alpha1/namespaces/:namespace/:plural',
      kind: 'server',
      service: 'portolan-control-plane',
      startTime: '2026-01-01T00:00:00.123456Z',
      startTimeUnixMicros: 1_767_225_600_123_456,
      durationMicros: 2_000,
      status: { code: 'error', message: 'Consul did not answer' },
      attributes: { 'http.response.status_code': 503, 'http.route': '/x/:y', retried: true, ratio: 0.5, hosts: ['a', 'b'] },
      resource,
      events: [{ name: 'store unavailable', time: '2026-01-01T00:00:00.124000Z', timeUnixMicros: 1_767_225_600_124_000, attributes: { attempt: 2 } }],
    });
  });

  it('leaves out the parent of a root span and the message of an unset status', async () => {
    const readable = await finishedSpan(({ tracer }) => tracer.startSpan('GET /version').end());
    const converted = toTraceSpan(readable, { 'service.name': 'portolan-control-plane' });
    expect(converted).not.toHaveProperty('parentSpanId');
    expect(converted).toMatchObject({ kind: 'internal', status: { code: 'unset' }, events: [] });
    expect(converted.status).not.toHaveProperty('message');
  });

  it('drops empty entries of list attributes, as OTLP carries them', async () => {
    const readable = await finishedSpan(({ tracer }) => tracer.startSpan('work', { attributes: { tags: ['a', null, 'b', undefined] } }).end());
    expect(toTraceSpan(readable, {}).attributes).toEqual({ tags: ['a', 'b'] });
    expect(toTraceSpan(readable, {}).service).toBe('unknown_service');
  });
});

describe('TraceStoreExporter', () => {
  it('hands finished spans to the trace store, every one with its resource', async () => {
    const received: DecodedExport[] = [];
    tracing = createTracing({ serviceName: 'portolan-control-plane', resourceAttributes: { 'service.instance.id': 'cp-1' }, exporter: new TraceStoreExporter({ receive: (decoded) => received.push(decoded) }) });
    tracing.tracer.startSpan('GET /v1/self-checks', { attributes: { [PRINCIPAL_ATTRIBUTE]: 'alice' } }).end();
    tracing.tracer.startSpan('GET /observability/v1/services', { attributes: { [PRINCIPAL_ATTRIBUTE]: 'bob' } }).end();
    await tracing.forceFlush();
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ rejectedSpans: 0, rejections: [] });
    expect(received[0].spans.map((span) => [span.name, span.service, span.resource['service.instance.id']])).toEqual([
      ['GET /v1/self-checks', 'portolan-control-plane', 'cp-1'],
      ['GET /observability/v1/services', 'portolan-control-plane', 'cp-1'],
    ]);
  });

  it('stores the spans of requests without a principal only when they are errors', async () => {
    const received: DecodedExport[] = [];
    tracing = createTracing({ serviceName: 'portolan-control-plane', exporter: new TraceStoreExporter({ receive: (decoded) => received.push(decoded) }) });
    const request = (name: string, code: number, principal?: string) => {
      const span = tracing!.tracer.startSpan(name, { attributes: { 'http.response.status_code': code, ...(principal ? { [PRINCIPAL_ATTRIBUTE]: principal } : {}) } });
      if (code >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    };
    request('unauthenticated 401', 401);
    request('public 200', 200);
    request('unauthenticated 503', 503);
    request('authenticated 404', 404, 'alice');
    await tracing.forceFlush();
    expect(received.flatMap((decoded) => decoded.spans.map((span) => span.name))).toEqual(['unauthenticated 503', 'authenticated 404']);
  });

  it('reports a store that throws as a failed export', async () => {
    const failures: Error[] = [];
    const exporter = new TraceStoreExporter({
      receive: () => {
        throw new Error('store closed');
      },
    });
    tracing = createTracing({ serviceName: 'portolan-control-plane', exporter, onExportFailure: (error) => failures.push(error) });
    tracing.tracer.startSpan('GET /version').end();
    await tracing.forceFlush();
    expect(failures.map((error) => error.message)).toEqual(['store closed']);
  });
});
