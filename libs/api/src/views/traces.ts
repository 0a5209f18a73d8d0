/**
 * The trace model the trace query API (`/observability/v1/…`) returns, whichever backend holds the
 * traces (docs/tracing.md). Times are microseconds, the finest unit both OTLP (nanoseconds) and
 * Jaeger (microseconds) carry, so the embedded store and Jaeger give identical answers.
 */

/** Microseconds since the Unix epoch, or a duration in microseconds. */
export type Microseconds = number & { readonly __unit?: 'us' };

export type AttributeValue = string | number | boolean | AttributeValue[] | { [key: string]: AttributeValue };
export type Attributes = Record<string, AttributeValue>;

export type SpanKind = 'unspecified' | 'internal' | 'server' | 'client' | 'producer' | 'consumer';
export type SpanStatusCode = 'unset' | 'ok' | 'error';

export interface SpanEvent {
  name: string;
  time: string;
  timeUnixMicros: Microseconds;
  attributes: Attributes;
}

export interface TraceSpan {
  /** 32 lowercase hex digits. */
  traceId: string;
  /** 16 lowercase hex digits. */
  spanId: string;
  /** Absent on a root span. */
  parentSpanId?: string;
  name: string;
  kind: SpanKind;
  /** The resource's `service.name` (`unknown_service` when the exporter sent none, as the OpenTelemetry SDKs do). */
  service: string;
  /** RFC 3339 with microseconds. */
  startTime: string;
  startTimeUnixMicros: Microseconds;
  durationMicros: Microseconds;
  status: { code: SpanStatusCode; message?: string };
  attributes: Attributes;
  /** Attributes of the process that sent the span, `service.name` included. */
  resource: Attributes;
  events: SpanEvent[];
}

export interface Trace {
  traceId: string;
  /** The span without a parent (the earliest one when there are several), or the earliest span when the root has not arrived. */
  rootService: string;
  rootName: string;
  startTime: string;
  startTimeUnixMicros: Microseconds;
  /** From the earliest start to the latest end among the spans. */
  durationMicros: Microseconds;
  spanCount: number;
  errorSpanCount: number;
  /** Services with spans in the trace, sorted. */
  services: string[];
  /** Sorted by start time, then span id. */
  spans: TraceSpan[];
}

export interface ServiceOperations {
  name: string;
  /** Span names seen for the service, sorted. */
  operations: string[];
}

/** A search: every field narrows it; span criteria must all hold for one and the same span (as in Jaeger). */
export interface TraceQuery {
  service?: string;
  operation?: string;
  status?: 'ok' | 'error';
  minDurationMicros?: Microseconds;
  maxDurationMicros?: Microseconds;
  /** The matching span started at or after this. */
  startUnixMicros?: Microseconds;
  /** The matching span started at or before this. */
  endUnixMicros?: Microseconds;
  /** Each must equal (as a string) an attribute of the span or of its resource. */
  attributes: Array<{ key: string; value: string }>;
  limit: number;
}
