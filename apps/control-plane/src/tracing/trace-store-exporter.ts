/**
 * Hands the control plane's own finished spans to its embedded trace store, in process: the same
 * `TracingService.receive` the OTLP receiver feeds, without an HTTP round trip to itself or an
 * encode/decode. `toTraceSpan` gives what the OTLP decoder would give for the same span (times
 * truncated to microseconds, empty list entries dropped, links not kept).
 *
 * Spans of requests that never got a principal (no token, a bad one, a public route) are stored
 * only when they are errors (5xx): anyone who reaches the API port can send `traceparent` with the
 * sampled flag, and each of their 401s would otherwise take a place in the store.
 */
import { ExportResultCode, SpanStatusCode, type ExportResult, type ReadableSpan, type SpanExporter } from '@portolan/telemetry';
import type { TracingService } from './tracing.service';
import { UNKNOWN_SERVICE, formatMicros, type AttributeValue, type Attributes, type SpanKind, type SpanStatusCode as TraceSpanStatusCode, type TraceSpan } from './trace-model';

/** Indexed by OpenTelemetry's SpanKind (INTERNAL = 0) and SpanStatusCode (UNSET = 0). */
const SPAN_KINDS: readonly SpanKind[] = ['internal', 'server', 'client', 'producer', 'consumer'];
const STATUS_CODES: readonly TraceSpanStatusCode[] = ['unset', 'ok', 'error'];

/** The name of the token a request authenticated with; set on request spans by self-tracing.ts. */
export const PRINCIPAL_ATTRIBUTE = 'portolan.principal';

const storable = (span: ReadableSpan) => span.attributes[PRINCIPAL_ATTRIBUTE] !== undefined || span.status.code === SpanStatusCode.ERROR;

/** OpenTelemetry's HrTime, [seconds, nanoseconds], as whole microseconds since the epoch. */
const unixMicros = ([seconds, nanos]: readonly [number, number]) => seconds * 1_000_000 + Math.floor(nanos / 1_000);

type OtelAttributes = ReadableSpan['attributes'];

function attributes(source: OtelAttributes | undefined): Attributes {
  const result: Attributes = {};
  if (!source) return result;
  for (const key of Object.keys(source)) {
    const value = source[key];
    if (value === undefined) continue;
    // Lists may hold null or undefined entries, which OTLP carries as empty values and the decoder drops.
    result[key] = Array.isArray(value) ? value.filter((item): item is NonNullable<typeof item> => item !== null && item !== undefined) : (value as AttributeValue);
  }
  return result;
}

export function toTraceSpan(span: ReadableSpan, resource: Attributes): TraceSpan {
  const start = unixMicros(span.startTime);
  const service = resource['service.name'];
  return {
    traceId: span.spanContext().traceId,
    spanId: span.spanContext().spanId,
    ...(span.parentSpanContext ? { parentSpanId: span.parentSpanContext.spanId } : {}),
    name: span.name,
    kind: SPAN_KINDS[span.kind],
    service: typeof service === 'string' && service ? service : UNKNOWN_SERVICE,
    startTime: formatMicros(start),
    startTimeUnixMicros: start,
    durationMicros: unixMicros(span.endTime) - start,
    status: { code: STATUS_CODES[span.status.code], ...(span.status.message ? { message: span.status.message } : {}) },
    attributes: attributes(span.attributes),
    resource,
    events: span.events.map((event) => {
      const time = unixMicros(event.time);
      return { name: event.name, time: formatMicros(time), timeUnixMicros: time, attributes: attributes(event.attributes) };
    }),
  };
}

export class TraceStoreExporter implements SpanExporter {
  /** Every span of one tracer provider shares its resource: converted once, shared like the decoder shares it. */
  private readonly resources = new WeakMap<ReadableSpan['resource'], Attributes>();

  constructor(private readonly tracing: Pick<TracingService, 'receive'>) {}

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    try {
      this.tracing.receive({ spans: spans.filter(storable).map((span) => toTraceSpan(span, this.resourceOf(span))), rejectedSpans: 0, rejections: [] });
      resultCallback({ code: ExportResultCode.SUCCESS });
    } catch (error) {
      resultCallback({ code: ExportResultCode.FAILED, error: error as Error });
    }
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }

  private resourceOf(span: ReadableSpan): Attributes {
    let converted = this.resources.get(span.resource);
    if (!converted) {
      converted = attributes(span.resource.attributes);
      this.resources.set(span.resource, converted);
    }
    return converted;
  }
}
