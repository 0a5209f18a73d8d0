/**
 * Turns an OTLP/HTTP trace export (protobuf or JSON, https://opentelemetry.io/docs/specs/otlp/) into
 * the spans the trace model holds. Protobuf is decoded by protobufjs from the official .proto files
 * in ./proto (see its README); both encodings then go through the same walk, which tells a body that
 * does not decode (400) from single spans that are unusable (rejected, reported in partialSuccess).
 */
import { join, resolve } from 'node:path';
import * as protobuf from 'protobufjs';
import { LATEST_UNIX_MICROS, UNKNOWN_SERVICE, formatMicros, type AttributeValue, type Attributes, type SpanEvent, type SpanKind, type SpanStatusCode, type TraceSpan } from '../trace-model';

/**
 * The .proto files stay in src: tsc does not copy them, and src/tracing/otlp and dist/tracing/otlp
 * are both three levels below the app, so this resolves from either.
 */
const PROTO_DIR = resolve(__dirname, '../../../src/tracing/otlp/proto');

function loadOtlpTypes() {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => join(PROTO_DIR, target);
  root.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto');
  // The error body OTLP/HTTP prescribes for protobuf clients; google/rpc/status.proto minus `details`.
  root.add(new protobuf.Type('GoogleRpcStatus').add(new protobuf.Field('code', 1, 'int32')).add(new protobuf.Field('message', 2, 'string')));
  return {
    request: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest'),
    response: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse'),
    rpcStatus: root.lookupType('GoogleRpcStatus'),
  };
}

const OTLP = loadOtlpTypes();

/** The body is not an OTLP export at all: the whole request is refused with 400. */
export class OtlpDecodeError extends Error {
  readonly code = 'PORTOLAN_OTLP_DECODE';
}

export interface DecodedExport {
  spans: TraceSpan[];
  rejectedSpans: number;
  /** Why spans were rejected, one line per distinct reason. */
  rejections: string[];
}

export function decodeProtobufExport(body: Uint8Array): DecodedExport {
  let message: protobuf.Message;
  try {
    message = OTLP.request.decode(body);
  } catch (error) {
    throw new OtlpDecodeError(`the body is not a protobuf ExportTraceServiceRequest: ${(error as Error).message}`);
  }
  // Ids stay bytes (Uint8Array), 64-bit times become decimal strings as in OTLP/JSON, enums numbers.
  return walkExport(OTLP.request.toObject(message, { longs: String, enums: Number }));
}

export function decodeJsonExport(body: Buffer): DecodedExport {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (error) {
    throw new OtlpDecodeError(`the body is not JSON: ${(error as Error).message}`);
  }
  return walkExport(parsed);
}

export function encodeProtobufResponse(rejectedSpans: number, errorMessage: string): Uint8Array {
  const body = rejectedSpans > 0 ? { partialSuccess: { rejectedSpans, errorMessage } } : {};
  return OTLP.response.encode(OTLP.response.fromObject(body)).finish();
}

/** OTLP/JSON response: int64 as a decimal string, as the protobuf JSON mapping writes it. */
export function jsonResponse(rejectedSpans: number, errorMessage: string): object {
  return rejectedSpans > 0 ? { partialSuccess: { rejectedSpans: String(rejectedSpans), errorMessage } } : {};
}

/** The gRPC codes of the receiver's failures (google.rpc.Code), as gRPC itself uses them. */
export const GRPC_CODES = {
  /** A body that does not decode or cannot be read (400). */
  invalidArgument: 3,
  /** A body over the limit (413), as gRPC answers a message over its maximum size. */
  resourceExhausted: 8,
  /** A Content-Encoding the receiver does not inflate (415), as gRPC answers an unknown compression. */
  unimplemented: 12,
} as const;

/** The google.rpc.Status body OTLP/HTTP prescribes for failures answered to protobuf clients. */
export function encodeProtobufError(code: (typeof GRPC_CODES)[keyof typeof GRPC_CODES], message: string): Uint8Array {
  return OTLP.rpcStatus.encode(OTLP.rpcStatus.fromObject({ code, message })).finish();
}

type Loose = Record<string, unknown>;

function object(value: unknown, path: string): Loose {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new OtlpDecodeError(`${path} is not an object`);
  return value as Loose;
}

function list(value: unknown, path: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new OtlpDecodeError(`${path} is not an array`);
  return value;
}

function text(value: unknown, path: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw new OtlpDecodeError(`${path} is not a string`);
  return value;
}

const SPAN_KINDS: SpanKind[] = ['unspecified', 'internal', 'server', 'client', 'producer', 'consumer'];
const STATUS_CODES: SpanStatusCode[] = ['unset', 'ok', 'error'];

/** Enums are integers in OTLP/JSON; the protobuf JSON mapping also allows the names (SPAN_KIND_SERVER). */
function enumValue<T>(value: unknown, names: T[], prefix: string, path: string): T {
  if (value === undefined || value === null) return names[0];
  const index = typeof value === 'number' ? value : typeof value === 'string' ? names.findIndex((name) => `${prefix}${String(name).toUpperCase()}` === value) : -1;
  if (!Number.isInteger(index) || index < 0 || index >= names.length) throw new OtlpDecodeError(`${path}: ${JSON.stringify(value)} is not a known value`);
  return names[index];
}

/** Ids are bytes in protobuf and hex strings in OTLP/JSON; an id of the wrong size or all zeros is invalid. */
function hexId(value: unknown, bytes: number): string | undefined {
  const hex = value instanceof Uint8Array ? Buffer.from(value).toString('hex') : typeof value === 'string' ? value.toLowerCase() : '';
  return hex.length === bytes * 2 && /^[0-9a-f]+$/.test(hex) && !/^0+$/.test(hex) ? hex : undefined;
}

/**
 * fixed64 nanoseconds: a decimal string (protobuf via protobufjs, or JSON) or a JSON number, which
 * at today's times is beyond 2^53 and so only good to a few hundred nanoseconds; fine for microseconds.
 */
function unixMicros(value: unknown): number | undefined {
  const nanos = typeof value === 'number' && Number.isInteger(value) && value >= 0 ? BigInt(value) : typeof value === 'string' && /^[0-9]+$/.test(value) ? BigInt(value) : undefined;
  return nanos === undefined ? undefined : Number(nanos / 1000n);
}

/**
 * How deep arrayValue and kvlistValue may nest. The walk recurses per level, so without a bound a
 * crafted body overflows the stack (a 500); real attributes nest a level or two.
 */
export const MAX_VALUE_DEPTH = 32;

function anyValue(value: unknown, path: string, depth: number): AttributeValue | undefined {
  if (depth > MAX_VALUE_DEPTH) throw new OtlpDecodeError(`${path}: values nest deeper than ${MAX_VALUE_DEPTH} levels`);
  const v = object(value, path);
  if ('stringValue' in v) return text(v.stringValue, `${path}.stringValue`);
  if ('boolValue' in v) return Boolean(v.boolValue);
  if ('intValue' in v) {
    const raw = v.intValue;
    if (typeof raw !== 'number' && !(typeof raw === 'string' && /^-?[0-9]+$/.test(raw))) throw new OtlpDecodeError(`${path}.intValue is not an integer`);
    const number = Number(raw);
    return Number.isSafeInteger(number) ? number : String(raw);
  }
  if ('doubleValue' in v) {
    const number = Number(v.doubleValue);
    if (Number.isNaN(number) && v.doubleValue !== 'NaN') throw new OtlpDecodeError(`${path}.doubleValue is not a number`);
    return number;
  }
  if ('bytesValue' in v) return v.bytesValue instanceof Uint8Array ? Buffer.from(v.bytesValue).toString('base64') : text(v.bytesValue, `${path}.bytesValue`);
  if ('arrayValue' in v) {
    return list(object(v.arrayValue, `${path}.arrayValue`).values, `${path}.arrayValue.values`)
      .map((item, i) => anyValue(item, `${path}.arrayValue.values[${i}]`, depth + 1))
      .filter((item): item is AttributeValue => item !== undefined);
  }
  if ('kvlistValue' in v) return attributes(object(v.kvlistValue, `${path}.kvlistValue`).values, `${path}.kvlistValue.values`, depth + 1);
  return undefined;
}

function attributes(value: unknown, path: string, depth = 1): Attributes {
  const result: Attributes = {};
  list(value, path).forEach((entry, i) => {
    const kv = object(entry, `${path}[${i}]`);
    const converted = anyValue(kv.value, `${path}[${i}].value`, depth);
    if (converted !== undefined) result[text(kv.key, `${path}[${i}].key`)] = converted;
  });
  return result;
}

function walkExport(body: unknown): DecodedExport {
  const spans: TraceSpan[] = [];
  const rejections = new Set<string>();
  let rejectedSpans = 0;
  const request = object(body, 'the body');
  list(request.resourceSpans, 'resourceSpans').forEach((resourceSpansValue, r) => {
    const resourceSpans = object(resourceSpansValue, `resourceSpans[${r}]`);
    const resource = attributes(object(resourceSpans.resource, `resourceSpans[${r}].resource`).attributes, `resourceSpans[${r}].resource.attributes`);
    const service = typeof resource['service.name'] === 'string' && resource['service.name'] ? resource['service.name'] : UNKNOWN_SERVICE;
    list(resourceSpans.scopeSpans, `resourceSpans[${r}].scopeSpans`).forEach((scopeSpansValue, s) => {
      const scopePath = `resourceSpans[${r}].scopeSpans[${s}]`;
      list(object(scopeSpansValue, scopePath).spans, `${scopePath}.spans`).forEach((spanValue, i) => {
        const path = `${scopePath}.spans[${i}]`;
        const span = object(spanValue, path);
        const traceId = hexId(span.traceId, 16);
        const spanId = hexId(span.spanId, 8);
        const hasParent = span.parentSpanId !== undefined && span.parentSpanId !== '' && !(span.parentSpanId instanceof Uint8Array && span.parentSpanId.length === 0);
        const parentSpanId = hasParent ? hexId(span.parentSpanId, 8) : undefined;
        const start = unixMicros(span.startTimeUnixNano);
        const end = unixMicros(span.endTimeUnixNano);
        const events = list(span.events, `${path}.events`).map((eventValue, e) => object(eventValue, `${path}.events[${e}]`));
        const eventTimes = events.map((event) => unixMicros(event.timeUnixNano) ?? start);
        const problem = !traceId
          ? 'traceId is not 16 bytes (32 hex digits in JSON) or is all zeros'
          : !spanId
            ? 'spanId is not 8 bytes (16 hex digits in JSON) or is all zeros'
            : hasParent && !parentSpanId
              ? 'parentSpanId is not 8 bytes (16 hex digits in JSON)'
              : start === undefined || end === undefined || start === 0
                ? 'startTimeUnixNano and endTimeUnixNano must be set'
                : end < start
                  ? 'endTimeUnixNano is before startTimeUnixNano'
                  : end > LATEST_UNIX_MICROS || eventTimes.some((time) => time! > LATEST_UNIX_MICROS)
                    ? `a time is after ${formatMicros(LATEST_UNIX_MICROS)}, the latest the trace model holds`
                    : undefined;
        if (problem) {
          rejectedSpans += 1;
          rejections.add(problem);
          return;
        }
        const status = object(span.status, `${path}.status`);
        const statusMessage = text(status.message, `${path}.status.message`);
        spans.push({
          traceId: traceId!,
          spanId: spanId!,
          ...(parentSpanId ? { parentSpanId } : {}),
          name: text(span.name, `${path}.name`),
          kind: enumValue(span.kind, SPAN_KINDS, 'SPAN_KIND_', `${path}.kind`),
          service,
          startTime: formatMicros(start!),
          startTimeUnixMicros: start!,
          durationMicros: end! - start!,
          status: { code: enumValue(status.code, STATUS_CODES, 'STATUS_CODE_', `${path}.status.code`), ...(statusMessage ? { message: statusMessage } : {}) },
          attributes: attributes(span.attributes, `${path}.attributes`),
          resource,
          events: events.map((event, e): SpanEvent => {
            const time = eventTimes[e]!;
            return { name: text(event.name, `${path}.events[${e}].name`), time: formatMicros(time), timeUnixMicros: time, attributes: attributes(event.attributes, `${path}.events[${e}].attributes`) };
          }),
        });
      });
    });
  });
  return { spans, rejectedSpans, rejections: [...rejections] };
}
