/** Traces for the specs: a gateway request with two upstream attempts (the first failed, retried). */
import type { Trace, TraceSpan } from '@portolan/api';

export const TRACE_ID = 'a'.repeat(32);
const START = Date.parse('2026-05-01T12:00:00Z') * 1000;

export function fixtureSpan(spanId: string, fields: Partial<TraceSpan> & { offset?: number } = {}): TraceSpan {
  const { offset = 0, ...rest } = fields;
  return {
    traceId: TRACE_ID,
    spanId,
    name: `op-${spanId}`,
    kind: 'internal',
    service: 'checkout',
    startTime: new Date((START + offset) / 1000).toISOString(),
    startTimeUnixMicros: START + offset,
    durationMicros: 1_000,
    status: { code: 'unset' },
    attributes: {},
    resource: { 'service.name': 'checkout' },
    events: [],
    ...rest,
  };
}

export function traceOf(spans: TraceSpan[]): Trace {
  const start = Math.min(...spans.map((span) => span.startTimeUnixMicros));
  const end = Math.max(...spans.map((span) => span.startTimeUnixMicros + span.durationMicros));
  const root = spans.find((span) => span.parentSpanId === undefined) ?? spans[0];
  return {
    traceId: spans[0].traceId,
    rootService: root.service,
    rootName: root.name,
    startTime: new Date(start / 1000).toISOString(),
    startTimeUnixMicros: start,
    durationMicros: end - start,
    spanCount: spans.length,
    errorSpanCount: spans.filter((span) => span.status.code === 'error').length,
    services: [...new Set(spans.map((span) => span.service))].sort(),
    spans: [...spans].sort((a, b) => a.startTimeUnixMicros - b.startTimeUnixMicros),
  };
}

export const retriedRequest: Trace = traceOf([
  fixtureSpan('1000000000000001', {
    name: 'GET shop/checkout',
    kind: 'server',
    service: 'portolan-gateway',
    durationMicros: 250_000,
    status: { code: 'unset' },
    attributes: { 'portolan.route': 'shop/checkout', 'portolan.zone': 'zone-a', 'portolan.retry.attempts': 2, 'portolan.rate_limited': false, 'portolan.breaker.state': 'half-open', 'http.response.status_code': 200 },
    resource: { 'service.name': 'portolan-gateway', 'portolan.zone': 'zone-a' },
  }),
  fixtureSpan('1000000000000002', {
    parentSpanId: '1000000000000001',
    name: 'upstream shop/checkout',
    kind: 'client',
    service: 'portolan-gateway',
    offset: 1_000,
    durationMicros: 100_000,
    status: { code: 'error', message: 'upstream answered 503' },
    attributes: { 'portolan.attempt': 1, 'portolan.retry.backoff_ms': 0, 'http.response.status_code': 503, 'error.type': '503' },
    resource: { 'service.name': 'portolan-gateway' },
  }),
  fixtureSpan('1000000000000003', {
    parentSpanId: '1000000000000001',
    name: 'upstream shop/checkout',
    kind: 'client',
    service: 'portolan-gateway',
    offset: 125_000,
    durationMicros: 120_000,
    attributes: { 'portolan.attempt': 2, 'portolan.retry.backoff_ms': 25, 'http.response.status_code': 200 },
    resource: { 'service.name': 'portolan-gateway' },
  }),
  fixtureSpan('1000000000000004', {
    parentSpanId: '1000000000000003',
    name: 'POST /checkout',
    kind: 'server',
    service: 'checkout',
    offset: 127_000,
    durationMicros: 110_000,
    events: [{ name: 'cache miss', time: '2026-05-01T12:00:00.130000Z', timeUnixMicros: START + 130_000, attributes: { key: 'cart' } }],
  }),
]);
