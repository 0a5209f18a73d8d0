import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { otlpJsonExport, otlpProtobufExport, span, spanId, traceId, T0 } from '../testing/spans';
import type { TraceSpan } from '../trace-model';
import { MAX_VALUE_DEPTH, OtlpDecodeError, decodeJsonExport, decodeProtobufExport, encodeProtobufResponse } from './otlp-decoder';

const resource = { 'service.name': 'checkout', 'service.namespace': 'default', 'host.cores': 4 };
const spans: TraceSpan[] = [
  span({ traceId: traceId(0xabc), spanId: spanId(1), name: 'GET /cart', kind: 'server', resource, service: 'checkout', durationMicros: 1500, attributes: { 'http.route': '/cart', 'http.status_code': 500, retry: false, ratio: 0.5, tags: ['a', 'b'] } }),
  span({
    traceId: traceId(0xabc),
    spanId: spanId(2),
    parentSpanId: spanId(1),
    name: 'SELECT',
    kind: 'client',
    resource,
    service: 'checkout',
    startTimeUnixMicros: T0 + 7,
    status: { code: 'error', message: 'deadlock' },
    events: [{ name: 'exception', time: '2026-01-01T00:00:00.000009Z', timeUnixMicros: T0 + 9, attributes: { 'exception.type': 'Deadlock' } }],
  }),
];

describe('decoding an OTLP trace export', () => {
  it('gives the same spans from protobuf and from JSON', () => {
    const fromJson = decodeJsonExport(Buffer.from(JSON.stringify(otlpJsonExport(spans))));
    const fromProtobuf = decodeProtobufExport(otlpProtobufExport(spans));
    expect(fromJson).toEqual({ spans, rejectedSpans: 0, rejections: [] });
    expect(fromProtobuf).toEqual(fromJson);
  });

  it('reads OTLP/JSON as exporters write it: enums as names too, int64 as numbers, no resource', () => {
    const body = {
      resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: 'ABCDEF00000000000000000000000001', spanId: '00000000000000AA', name: 'x', kind: 'SPAN_KIND_CLIENT', startTimeUnixNano: 1_767_225_600_000_000_000, endTimeUnixNano: '1767225600001000000', status: { code: 'STATUS_CODE_OK' } }] }] }],
    };
    const [decoded] = decodeJsonExport(Buffer.from(JSON.stringify(body))).spans;
    expect(decoded).toMatchObject({ traceId: 'abcdef00000000000000000000000001', spanId: '00000000000000aa', kind: 'client', service: 'unknown_service', startTimeUnixMicros: T0, durationMicros: 1000, status: { code: 'ok' } });
  });

  it.each([
    ['a trace id of the wrong length', { traceId: 'abc' }, /traceId is not 16 bytes/],
    ['an all-zero trace id', { traceId: '0'.repeat(32) }, /traceId/],
    ['a span id that is not hex', { spanId: 'zzzzzzzzzzzzzzzz' }, /spanId is not 8 bytes/],
    ['an end before the start', { endTimeUnixNano: '1' }, /endTimeUnixNano is before startTimeUnixNano/],
    ['no times', { startTimeUnixNano: undefined }, /must be set/],
    // Past what Date can format (year 275760), and past the last exact microsecond (year 2255).
    ['times past the year 275760', { startTimeUnixNano: '9'.repeat(30), endTimeUnixNano: '9'.repeat(30) }, /a time is after 2255-06-05T23:47:34.740991Z/],
    ['an end in the year 2300 given as a JSON number', { endTimeUnixNano: 10_413_792_000_000_000_000 }, /a time is after 2255/],
    ['an event past the year 275760', { events: [{ name: 'late', timeUnixNano: '9'.repeat(30) }] }, /a time is after 2255/],
  ])('rejects a span with %s and keeps the others', (_name, change, reason) => {
    const body = otlpJsonExport(spans) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<Record<string, unknown>> }> }> };
    Object.assign(body.resourceSpans[0].scopeSpans[0].spans[0], change);
    const decoded = decodeJsonExport(Buffer.from(JSON.stringify(body)));
    expect(decoded.spans.map((s) => s.spanId)).toEqual([spanId(2)]);
    expect(decoded.rejectedSpans).toBe(1);
    expect(decoded.rejections.join()).toMatch(reason);
  });

  it.each([
    ['not JSON', () => decodeJsonExport(Buffer.from('{"resourceSpans": [')), /not JSON/],
    ['resourceSpans not a list', () => decodeJsonExport(Buffer.from('{"resourceSpans": {}}')), /resourceSpans is not an array/],
    ['an attribute of the wrong type', () => decodeJsonExport(Buffer.from('{"resourceSpans": [{"resource": {"attributes": [{"key": "k", "value": {"intValue": "x"}}]}}]}')), /resourceSpans\[0\]\.resource\.attributes\[0\]\.value\.intValue is not an integer/],
    ['an unknown span kind', () => decodeJsonExport(Buffer.from(JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: traceId(1), spanId: spanId(1), startTimeUnixNano: '1000000', endTimeUnixNano: '2000000', kind: 9 }] }] }] }))), /kind: 9 is not a known value/],
    ['bytes that are not protobuf', () => decodeProtobufExport(gzipSync('not protobuf')), /not a protobuf ExportTraceServiceRequest/],
  ])('refuses a body that does not decode: %s', (_name, decode, message) => {
    expect(decode).toThrow(OtlpDecodeError);
    expect(decode).toThrow(message);
  });

  it(`takes values nested ${MAX_VALUE_DEPTH} levels deep and refuses deeper ones, rather than overflowing the stack`, () => {
    // Written as text: JSON.stringify itself would overflow on 100,000 levels.
    const nested = (depth: number) => {
      let value = '{"stringValue": "leaf"}';
      for (let level = 1; level < depth; level++) value = level % 2 ? `{"arrayValue": {"values": [${value}]}}` : `{"kvlistValue": {"values": [{"key": "k", "value": ${value}}]}}`;
      return Buffer.from(`{"resourceSpans": [{"resource": {"attributes": [{"key": "deep", "value": ${value}}]}}]}`);
    };
    expect(decodeJsonExport(nested(MAX_VALUE_DEPTH))).toEqual({ spans: [], rejectedSpans: 0, rejections: [] });
    expect(() => decodeJsonExport(nested(MAX_VALUE_DEPTH + 1))).toThrow(OtlpDecodeError);
    expect(() => decodeJsonExport(nested(100_000))).toThrow(/resourceSpans\[0\]\.resource\.attributes\[0\]\.value(\.\w+\.values\[0\](\.value)?)+: values nest deeper than 32 levels/);
  });

  it('answers an empty ExportTraceServiceResponse when nothing was rejected', () => {
    expect(encodeProtobufResponse(0, '')).toHaveLength(0);
    expect(encodeProtobufResponse(2, 'bad ids').length).toBeGreaterThan(0);
  });
});
