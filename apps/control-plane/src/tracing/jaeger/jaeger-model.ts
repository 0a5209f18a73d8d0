/**
 * Jaeger's JSON model as its HTTP query API returns it (the API the Jaeger UI uses), after
 * jaegertracing/jaeger model/json/model.go, and the envelope `structuredResponse` of
 * cmd/query/app/http_handler.go: `{ data, total, limit, offset, errors }`.
 *
 * Mapping to the Portolan model follows how Jaeger stores OTLP spans (the collector's OTLP-to-Jaeger
 * translation): the resource's service.name becomes the process's serviceName and the other resource
 * attributes its tags; span kind, status and scope become the tags `span.kind`, `otel.status_code`,
 * `otel.status_description`, `error`, `otel.scope.name`/`otel.scope.version` (older:
 * `otel.library.*`); the parent becomes a CHILD_OF reference; events become logs whose `event`
 * field is the name; times and durations are microseconds.
 */
import { LATEST_UNIX_MICROS, formatMicros, type AttributeValue, type Attributes, type SpanKind, type SpanStatusCode, type TraceSpan, assembleTrace, type Trace } from '../trace-model';

export interface JaegerKeyValue {
  key: string;
  type?: 'string' | 'bool' | 'int64' | 'float64' | 'binary';
  value: unknown;
}

export interface JaegerSpan {
  traceID: string;
  spanID: string;
  flags?: number;
  operationName: string;
  references?: Array<{ refType: 'CHILD_OF' | 'FOLLOWS_FROM'; traceID: string; spanID: string }>;
  /** Microseconds since the epoch. */
  startTime: number;
  /** Microseconds. */
  duration: number;
  tags?: JaegerKeyValue[];
  logs?: Array<{ timestamp: number; fields?: JaegerKeyValue[] }>;
  processID: string;
  warnings?: string[] | null;
}

export interface JaegerTrace {
  traceID: string;
  spans: JaegerSpan[];
  processes: Record<string, { serviceName: string; tags?: JaegerKeyValue[] }>;
  warnings?: string[] | null;
}

export interface JaegerResponse<T> {
  data: T | null;
  total?: number;
  limit?: number;
  offset?: number;
  errors?: Array<{ code?: number; msg: string; traceID?: string }> | null;
}

/** Tags Jaeger derives from span fields rather than from the span's attributes. */
export const DERIVED_TAGS = new Set(['span.kind', 'otel.status_code', 'otel.status_description', 'error', 'otel.scope.name', 'otel.scope.version', 'otel.library.name', 'otel.library.version', 'w3c.tracestate', 'internal.span.format']);

const KINDS = new Set<SpanKind>(['internal', 'server', 'client', 'producer', 'consumer']);

/**
 * Jaeger prints trace ids without leading zeros (model.TraceID.String() uses %x for the high half),
 * span ids as 16 digits; the Portolan model always has 32 and 16.
 */
export function padId(id: string, digits: 32 | 16): string {
  return id.toLowerCase().padStart(digits, '0');
}

function tagValue(tag: JaegerKeyValue): AttributeValue {
  if (tag.type === 'bool') return tag.value === true || tag.value === 'true';
  if (tag.type === 'int64' || tag.type === 'float64') return Number(tag.value);
  return typeof tag.value === 'number' || typeof tag.value === 'boolean' ? tag.value : String(tag.value);
}

function tagsToAttributes(tags: JaegerKeyValue[] | undefined, skip: Set<string> = new Set()): Attributes {
  const attributes: Attributes = {};
  for (const tag of tags ?? []) if (!skip.has(tag.key)) attributes[tag.key] = tagValue(tag);
  return attributes;
}

function spanFromJaeger(span: JaegerSpan, processes: JaegerTrace['processes']): TraceSpan {
  const tags = new Map((span.tags ?? []).map((tag) => [tag.key, tagValue(tag)]));
  const process = processes[span.processID] ?? { serviceName: 'unknown_service' };
  const parent = (span.references ?? []).find((reference) => reference.refType === 'CHILD_OF');
  const kind = String(tags.get('span.kind') ?? '');
  const statusCode = String(tags.get('otel.status_code') ?? '').toUpperCase();
  const status: SpanStatusCode = statusCode === 'ERROR' || (statusCode === '' && tags.get('error') === true) ? 'error' : statusCode === 'OK' ? 'ok' : 'unset';
  const statusMessage = tags.get('otel.status_description');
  return {
    traceId: padId(span.traceID, 32),
    spanId: padId(span.spanID, 16),
    ...(parent ? { parentSpanId: padId(parent.spanID, 16) } : {}),
    name: span.operationName,
    kind: KINDS.has(kind as SpanKind) ? (kind as SpanKind) : 'unspecified',
    service: process.serviceName,
    startTime: formatMicros(span.startTime),
    startTimeUnixMicros: span.startTime,
    durationMicros: span.duration,
    status: { code: status, ...(statusMessage !== undefined ? { message: String(statusMessage) } : {}) },
    attributes: tagsToAttributes(span.tags, DERIVED_TAGS),
    resource: { 'service.name': process.serviceName, ...tagsToAttributes(process.tags) },
    events: (span.logs ?? []).map((log) => ({
      name: String((log.fields ?? []).find((field) => field.key === 'event')?.value ?? ''),
      time: formatMicros(log.timestamp),
      timeUnixMicros: log.timestamp,
      attributes: tagsToAttributes(log.fields, new Set(['event'])),
    })),
  };
}

export function traceFromJaeger(trace: JaegerTrace): Trace {
  return assembleTrace(padId(trace.traceID, 32), trace.spans.map((span) => spanFromJaeger(span, trace.processes)));
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
/** Microseconds, as a time or a duration, that the model can format (trace-model.ts LATEST_UNIX_MICROS). */
const isMicros = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0 && (value as number) <= LATEST_UNIX_MICROS;
/** Go encodes an empty slice as null and omitempty leaves it out: both are an empty list. */
const isOptionalListOf = (value: unknown, isItem: (item: unknown) => boolean) => value === undefined || value === null || (Array.isArray(value) && value.every(isItem));
const isKeyValue = (value: unknown) => isObject(value) && typeof value.key === 'string';

function isJaegerSpan(value: unknown): boolean {
  return (
    isObject(value) &&
    typeof value.traceID === 'string' &&
    typeof value.spanID === 'string' &&
    typeof value.operationName === 'string' &&
    typeof value.processID === 'string' &&
    isMicros(value.startTime) &&
    isMicros(value.duration) &&
    isMicros(value.startTime + value.duration) &&
    isOptionalListOf(value.references, (reference) => isObject(reference) && typeof reference.spanID === 'string') &&
    isOptionalListOf(value.tags, isKeyValue) &&
    isOptionalListOf(value.logs, (log) => isObject(log) && isMicros(log.timestamp) && isOptionalListOf(log.fields, isKeyValue))
  );
}

/**
 * What makes a trace in Jaeger's answer unusable, or undefined when traceFromJaeger can map it: the
 * answer is checked here, at the boundary, so that something else answering at Jaeger's URL is a
 * 503 naming Jaeger rather than a 500 from deep inside the mapping.
 */
export function jaegerTraceProblem(value: unknown): string | undefined {
  if (!isObject(value) || typeof value.traceID !== 'string') return 'a trace without a traceID';
  if (!Array.isArray(value.spans) || value.spans.length === 0) return `trace ${value.traceID} without spans`;
  const processesValid = isObject(value.processes) && Object.values(value.processes).every((process) => isObject(process) && typeof process.serviceName === 'string' && isOptionalListOf(process.tags, isKeyValue));
  if (!processesValid) return `trace ${value.traceID} without a valid processes map`;
  const invalidSpan = value.spans.find((span) => !isJaegerSpan(span));
  if (invalidSpan !== undefined) return `trace ${value.traceID} with a span that is not a Jaeger span (ids, operationName, processID, times in microseconds): ${JSON.stringify(invalidSpan).slice(0, 200)}`;
  return undefined;
}
