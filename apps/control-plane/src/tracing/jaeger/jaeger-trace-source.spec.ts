/**
 * The Jaeger source against a double of Jaeger's query API (../testing/jaeger-query-double.ts):
 * loaded with the same traces as the embedded store, the same queries give the same answers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startJaegerQueryDouble, toJaegerTrace, type JaegerQueryDouble } from '../testing/jaeger-query-double';
import { span, spanId, traceId, T0 } from '../testing/spans';
import { formatMicros, type TraceSpan } from '../trace-model';
import { parseTraceQuery, type RawQuery } from '../trace-query';
import { TraceStore } from '../trace-store';
import { JaegerTraceSource } from './jaeger-trace-source';

const gateway = { 'service.name': 'portolan-gateway', 'gateway.zone': 'zone-a' };
const checkout = { 'service.name': 'checkout', 'service.namespace': 'default' };

/** A request through a gateway to checkout, which queries its database. */
function request(n: number, options: { at: number; checkoutMicros: number; error?: boolean; route?: string }): TraceSpan[] {
  const id = traceId(0x1000 + n);
  const { at, checkoutMicros } = options;
  return [
    span({ traceId: id, spanId: spanId(1), service: 'portolan-gateway', resource: gateway, kind: 'server', name: 'ingress', startTimeUnixMicros: at, durationMicros: checkoutMicros + 400, attributes: { 'http.route': options.route ?? '/checkout', 'http.status_code': options.error ? 503 : 200 } }),
    span({ traceId: id, spanId: spanId(2), parentSpanId: spanId(1), service: 'portolan-gateway', resource: gateway, kind: 'client', name: 'upstream attempt', startTimeUnixMicros: at + 100, durationMicros: checkoutMicros + 200, attributes: { 'portolan.service': 'default/checkout', 'portolan.attempt': 1 } }),
    span({
      traceId: id,
      spanId: spanId(3),
      parentSpanId: spanId(2),
      service: 'checkout',
      resource: checkout,
      kind: 'server',
      name: 'POST /checkout',
      startTimeUnixMicros: at + 200,
      durationMicros: checkoutMicros,
      ...(options.error ? { status: { code: 'error' as const, message: 'payment declined' }, events: [{ name: 'exception', time: formatMicros(at + 300), timeUnixMicros: at + 300, attributes: { 'exception.type': 'PaymentDeclined' } }] } : { status: { code: 'ok' as const } }),
    }),
  ];
}

const SPANS: TraceSpan[] = [
  ...request(1, { at: T0 + 1_000_000, checkoutMicros: 20_000 }),
  ...request(2, { at: T0 + 2_000_000, checkoutMicros: 1_500_000 }),
  ...request(3, { at: T0 + 3_000_000, checkoutMicros: 80_000, error: true }),
  ...request(4, { at: T0 + 4_000_000, checkoutMicros: 5_000, route: '/cart' }),
  // checkout on its own: a trace it started (no gateway parent)
  span({ traceId: traceId(0x2000), spanId: spanId(9), service: 'checkout', resource: checkout, name: 'cron: expire carts', kind: 'internal', startTimeUnixMicros: T0 + 5_000_000, durationMicros: 300_000 }),
];

let store: TraceStore;
let jaeger: JaegerQueryDouble;
let source: JaegerTraceSource;

beforeAll(async () => {
  store = new TraceStore({ maxTraces: 100, maxBytes: 10_000_000, maxAgeMs: 3_600_000, slowThresholdMs: 1000 }, () => 0);
  store.add(SPANS);
  jaeger = await startJaegerQueryDouble(store.traces().map(toJaegerTrace), () => T0 / 1000 + 600_000);
  source = new JaegerTraceSource(jaeger.url);
});

afterAll(() => jaeger.close());

describe('JaegerTraceSource', () => {
  it.each<[string, RawQuery]>([
    ['a service', { service: 'checkout' }],
    ['an operation', { service: 'portolan-gateway', operation: 'ingress' }],
    ['errors', { service: 'checkout', status: 'error' }],
    ['not errors', { service: 'checkout', status: 'ok' }],
    ['a minimum duration', { service: 'checkout', minDuration: '1s' }],
    ['a duration range', { service: 'checkout', minDuration: '10ms', maxDuration: '100ms' }],
    ['a time range', { service: 'portolan-gateway', start: '2026-01-01T00:00:01.5Z', end: '2026-01-01T00:00:03.5Z' }],
    ['a span attribute', { service: 'portolan-gateway', attr: 'http.route=/cart' }],
    ['a numeric attribute', { service: 'portolan-gateway', attr: 'http.status_code=503' }],
    ['a resource attribute', { service: 'checkout', attr: 'service.namespace=default' }],
    ['several criteria on one span', { service: 'checkout', operation: 'POST /checkout', minDuration: '50ms', attr: 'service.namespace=default' }],
    ['a limit', { service: 'portolan-gateway', limit: '2' }],
  ])('searches like the embedded store: %s', async (_name, raw) => {
    const query = parseTraceQuery(raw);
    const expected = store.search(query);
    expect(expected.length).toBeGreaterThan(0);
    expect(await source.search(query)).toEqual(expected);
  });

  it('gets a trace by id like the embedded store, padding the id Jaeger prints without leading zeros', async () => {
    const id = traceId(0x1003);
    expect(await source.get(id)).toEqual(store.get(id));
    expect(jaeger.requests).toContain('/api/traces/00000000000000000000000000001003');
  });

  it('answers undefined for an unknown trace (Jaeger answers 404)', async () => {
    expect(await source.get(traceId(0xdead))).toBeUndefined();
  });

  it('lists services and operations like the embedded store', async () => {
    expect(await source.services()).toEqual(store.services());
  });

  it('needs a service to search, as Jaeger does, and asks Jaeger nothing without one', async () => {
    const asked = jaeger.requests.length;
    await expect(source.search(parseTraceQuery({ status: 'error' }))).rejects.toMatchObject({ status: { code: 400, reason: 'BadRequest', details: { causes: [{ field: 'service', reason: 'FieldValueRequired' }] } } });
    expect(jaeger.requests).toHaveLength(asked);
  });

  it('turns an unreachable Jaeger into a 503 Status', async () => {
    const unreachable = new JaegerTraceSource('http://127.0.0.1:1');
    await expect(unreachable.services()).rejects.toMatchObject({ status: { code: 503, reason: 'ServiceUnavailable' } });
  });
});

describe('JaegerTraceSource against a Jaeger that misbehaves', () => {
  const unavailable = (message: RegExp) => ({ status: { code: 503, reason: 'ServiceUnavailable', message: expect.stringMatching(message) } });

  it('gives up on a Jaeger that does not answer after the timeout: a 503 naming its URL', async () => {
    const silent = await startJaegerQueryDouble([], undefined, { silent: true });
    try {
      const source = new JaegerTraceSource(silent.url, { timeoutMs: 100 });
      const started = Date.now();
      await expect(source.get(traceId(1))).rejects.toMatchObject(unavailable(new RegExp(`at ${silent.url} did not answer GET /api/traces/\\w+ within 100 ms`)));
      await expect(source.search(parseTraceQuery({ service: 'checkout' }))).rejects.toMatchObject(unavailable(/did not answer/));
      await expect(source.services()).rejects.toMatchObject(unavailable(/did not answer/));
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await silent.close();
    }
  });

  const validSpan = { traceID: '1', spanID: spanId(1), operationName: 'GET', startTime: T0, duration: 5, processID: 'p1' };
  it.each<[string, unknown, (source: JaegerTraceSource) => Promise<unknown>, RegExp]>([
    ['a body that is not its envelope', 'hello', (source) => source.services(), /`data` is not a list/],
    ['`data` that is not a list', { data: { services: ['checkout'] } }, (source) => source.search(parseTraceQuery({ service: 'checkout' })), /`data` is not a list/],
    ['service names that are not strings', { data: [{ name: 'checkout' }] }, (source) => source.services(), /names that are not all strings/],
    ['a trace without spans', { data: [{ traceID: '1', spans: [], processes: {} }] }, (source) => source.get(traceId(1)), /trace 1 without spans/],
    ['a trace without processes', { data: [{ traceID: '1', spans: [validSpan] }] }, (source) => source.get(traceId(1)), /without a valid processes map/],
    ['a span whose start is not microseconds', { data: [{ traceID: '1', spans: [{ ...validSpan, startTime: 'yesterday' }], processes: {} }] }, (source) => source.search(parseTraceQuery({ service: 'checkout' })), /a span that is not a Jaeger span/],
    ['a span past the latest time the model holds', { data: [{ traceID: '1', spans: [{ ...validSpan, startTime: 1e20 }], processes: {} }] }, (source) => source.get(traceId(1)), /a span that is not a Jaeger span/],
    ['tags that are not a list', { data: [{ traceID: '1', spans: [{ ...validSpan, tags: { error: true } }], processes: {} }] }, (source) => source.get(traceId(1)), /a span that is not a Jaeger span/],
  ])('answers a 503 naming Jaeger, not a 500, for %s', async (_name, answer, ask, problem) => {
    const garbage = await startJaegerQueryDouble([], undefined, { answer });
    try {
      await expect(ask(new JaegerTraceSource(garbage.url))).rejects.toMatchObject(unavailable(new RegExp(`at ${garbage.url} answered GET .* with .*${problem.source}`)));
    } finally {
      await garbage.close();
    }
  });

  it('takes null `data` as empty, as Go encodes an empty list', async () => {
    const empty = await startJaegerQueryDouble([], undefined, { answer: { data: null, errors: null } });
    try {
      expect(await new JaegerTraceSource(empty.url).services()).toEqual([]);
    } finally {
      await empty.close();
    }
  });
});
