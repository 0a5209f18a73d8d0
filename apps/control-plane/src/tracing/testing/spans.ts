/** Spans for tests: a readable builder over the Portolan model and an OTLP/JSON export of them. */
import { join } from 'node:path';
import * as protobuf from 'protobufjs';
import { formatMicros, type AttributeValue, type Attributes, type TraceSpan } from '../trace-model';

export const T0 = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z in microseconds

export function span(fields: Partial<TraceSpan> & { traceId: string; spanId: string }): TraceSpan {
  const start = fields.startTimeUnixMicros ?? T0;
  const service = fields.service ?? 'checkout';
  return {
    name: 'GET /checkout',
    kind: 'server',
    service,
    durationMicros: 1000,
    status: { code: 'unset' },
    attributes: {},
    events: [],
    ...fields,
    resource: fields.resource ?? { 'service.name': service },
    startTimeUnixMicros: start,
    startTime: formatMicros(start),
  };
}

export const traceId = (n: number) => n.toString(16).padStart(32, '0');
export const spanId = (n: number) => n.toString(16).padStart(16, '0');

function anyValue(value: AttributeValue): object {
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (typeof value === 'number') return Number.isInteger(value) ? { intValue: String(value) } : { doubleValue: value };
  if (Array.isArray(value)) return { arrayValue: { values: value.map(anyValue) } };
  return { kvlistValue: { values: keyValues(value) } };
}

const keyValues = (attributes: Attributes) => Object.entries(attributes).map(([key, value]) => ({ key, value: anyValue(value) }));
const KIND_NUMBERS = { unspecified: 0, internal: 1, server: 2, client: 3, producer: 4, consumer: 5 } as const;
const STATUS_NUMBERS = { unset: 0, ok: 1, error: 2 } as const;
const nanos = (micros: number) => `${micros}000`;

/** An OTLP/JSON ExportTraceServiceRequest, one ResourceSpans per distinct resource. */
export function otlpJsonExport(spans: TraceSpan[]): object {
  const byResource = new Map<string, TraceSpan[]>();
  for (const s of spans) byResource.set(JSON.stringify(s.resource), [...(byResource.get(JSON.stringify(s.resource)) ?? []), s]);
  return {
    resourceSpans: [...byResource.values()].map((group) => ({
      resource: { attributes: keyValues(group[0].resource) },
      scopeSpans: [
        {
          scope: { name: 'portolan-test' },
          spans: group.map((s) => ({
            traceId: s.traceId,
            spanId: s.spanId,
            ...(s.parentSpanId ? { parentSpanId: s.parentSpanId } : {}),
            name: s.name,
            kind: KIND_NUMBERS[s.kind],
            startTimeUnixNano: nanos(s.startTimeUnixMicros),
            endTimeUnixNano: nanos(s.startTimeUnixMicros + s.durationMicros),
            attributes: keyValues(s.attributes),
            events: s.events.map((e) => ({ timeUnixNano: nanos(e.timeUnixMicros), name: e.name, attributes: keyValues(e.attributes) })),
            status: { code: STATUS_NUMBERS[s.status.code], ...(s.status.message ? { message: s.status.message } : {}) },
          })),
        },
      ],
    })),
  };
}

/** The same export as protobuf, encoded by protobufjs from the committed .proto files (ids as bytes). */
export function otlpProtobufExport(spans: TraceSpan[]): Uint8Array {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(__dirname, '../otlp/proto', target);
  root.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto');
  const request = root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest');
  const json = otlpJsonExport(spans) as { resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<Record<string, unknown>> }> }> };
  for (const resourceSpans of json.resourceSpans) {
    for (const scopeSpans of resourceSpans.scopeSpans) {
      for (const s of scopeSpans.spans) {
        for (const field of ['traceId', 'spanId', 'parentSpanId']) if (typeof s[field] === 'string') s[field] = Buffer.from(s[field] as string, 'hex');
      }
    }
  }
  return request.encode(request.fromObject(json)).finish();
}
