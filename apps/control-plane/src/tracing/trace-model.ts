/**
 * The trace model the query API returns, whichever backend holds the traces (docs/tracing.md).
 * Times are microseconds, the finest unit both OTLP (nanoseconds) and Jaeger (microseconds) carry,
 * so the embedded store and Jaeger give identical answers for the same spans.
 */

export type { Microseconds, AttributeValue, Attributes, SpanKind, SpanStatusCode, SpanEvent, TraceSpan, Trace, ServiceOperations, TraceQuery } from '@portolan/api';
import type { AttributeValue, Microseconds, Trace, TraceSpan } from '@portolan/api';

export const UNKNOWN_SERVICE = 'unknown_service';

/**
 * The latest time the model holds: 2255-06-05T23:47:34.740991Z, the last microsecond a JavaScript
 * number counts exactly. Beyond it times lose digits, and past the year 275760 Date cannot format
 * them at all: a later span or event time is invalid input, refused where it enters.
 */
export const LATEST_UNIX_MICROS: Microseconds = Number.MAX_SAFE_INTEGER;

export function formatMicros(micros: Microseconds): string {
  const seconds = Math.floor(micros / 1_000_000);
  const fraction = String(micros - seconds * 1_000_000).padStart(6, '0');
  return `${new Date(seconds * 1000).toISOString().slice(0, 19)}.${fraction}Z`;
}

/** How an attribute value compares with a query's `key=value` (Jaeger compares tags as strings too). */
export function attributeText(value: AttributeValue): string {
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** Assembles a trace from its spans (in any order). */
export function assembleTrace(traceId: string, spans: TraceSpan[]): Trace {
  const sorted = [...spans].sort((a, b) => a.startTimeUnixMicros - b.startTimeUnixMicros || a.spanId.localeCompare(b.spanId));
  const ids = new Set(sorted.map((span) => span.spanId));
  const root = sorted.find((span) => span.parentSpanId === undefined) ?? sorted.find((span) => !ids.has(span.parentSpanId!)) ?? sorted[0];
  const start = sorted[0].startTimeUnixMicros;
  // A loop, not Math.max(...spans): spreading a huge trace's spans as arguments overflows the stack.
  let end = start;
  for (const span of sorted) end = Math.max(end, span.startTimeUnixMicros + span.durationMicros);
  return {
    traceId,
    rootService: root.service,
    rootName: root.name,
    startTime: formatMicros(start),
    startTimeUnixMicros: start,
    durationMicros: end - start,
    spanCount: sorted.length,
    errorSpanCount: sorted.filter((span) => span.status.code === 'error').length,
    services: [...new Set(sorted.map((span) => span.service))].sort(),
    spans: sorted,
  };
}

/** Newest first, then by id, so every backend lists search results in the same order. */
export function byNewestFirst(a: Trace, b: Trace): number {
  return b.startTimeUnixMicros - a.startTimeUnixMicros || a.traceId.localeCompare(b.traceId);
}
