/**
 * The search parameters of GET /observability/v1/traces: parsed once (a bad one is a 400 Status
 * naming it) and matched against single spans, with Jaeger's semantics so that both backends give
 * the same answers: a trace matches when one of its spans meets every criterion.
 */
import { parseDuration } from '@portolan/api';
import { ApiError } from '../errors/api-error';
import { attributeText, type Microseconds, type TraceQuery, type TraceSpan } from './trace-model';

export const DEFAULT_SEARCH_LIMIT = 20;
export const MAX_SEARCH_LIMIT = 1000;
const PARAMETERS = ['service', 'operation', 'status', 'minDuration', 'maxDuration', 'start', 'end', 'attr', 'limit'] as const;
type Parameter = (typeof PARAMETERS)[number];

export type RawQuery = Record<string, string | string[] | undefined>;

function invalid(parameter: string, message: string): ApiError {
  return ApiError.of(400, 'BadRequest', `query parameter ${parameter}: ${message}`, { causes: [{ field: parameter, message, reason: 'FieldValueInvalid' }] });
}

function single(raw: RawQuery, parameter: Parameter): string | undefined {
  const value = raw[parameter];
  if (Array.isArray(value)) throw invalid(parameter, 'give it once');
  return value === undefined || value === '' ? undefined : value;
}

function durationMicros(raw: RawQuery, parameter: 'minDuration' | 'maxDuration'): Microseconds | undefined {
  const value = single(raw, parameter);
  if (value === undefined) return undefined;
  try {
    return parseDuration(value) * 1000;
  } catch {
    throw invalid(parameter, `"${value}" is not a duration: use e.g. 250ms, 1.5s, 2m`);
  }
}

const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/i;

/** RFC 3339 to microseconds, keeping sub-millisecond digits that Date would drop. */
function timeMicros(raw: RawQuery, parameter: 'start' | 'end'): Microseconds | undefined {
  const value = single(raw, parameter);
  if (value === undefined) return undefined;
  const match = RFC3339.exec(value);
  const seconds = match ? Date.parse(`${match[1]}${match[3].toUpperCase()}`) : NaN;
  if (!match || Number.isNaN(seconds)) throw invalid(parameter, `"${value}" is not an RFC 3339 time: use e.g. 2026-05-01T12:00:00Z`);
  return seconds * 1000 + Number((match[2] ?? '').padEnd(6, '0').slice(0, 6));
}

export function parseTraceQuery(raw: RawQuery): TraceQuery {
  const unknown = Object.keys(raw).filter((name) => !(PARAMETERS as readonly string[]).includes(name));
  if (unknown.length > 0) throw invalid(unknown[0], `unknown; the parameters are ${PARAMETERS.join(', ')}`);

  const status = single(raw, 'status');
  if (status !== undefined && status !== 'ok' && status !== 'error') throw invalid('status', `"${status}" is not a status: use ok or error`);

  const minDurationMicros = durationMicros(raw, 'minDuration');
  const maxDurationMicros = durationMicros(raw, 'maxDuration');
  if (minDurationMicros !== undefined && maxDurationMicros !== undefined && maxDurationMicros < minDurationMicros) {
    throw invalid('maxDuration', 'is shorter than minDuration');
  }
  const startUnixMicros = timeMicros(raw, 'start');
  const endUnixMicros = timeMicros(raw, 'end');
  if (startUnixMicros !== undefined && endUnixMicros !== undefined && endUnixMicros < startUnixMicros) throw invalid('end', 'is before start');

  const attrs = raw.attr === undefined ? [] : Array.isArray(raw.attr) ? raw.attr : [raw.attr];
  const attributes = attrs.map((pair) => {
    const equals = pair.indexOf('=');
    if (equals <= 0) throw invalid('attr', `"${pair}" is not key=value`);
    return { key: pair.slice(0, equals), value: pair.slice(equals + 1) };
  });

  const rawLimit = single(raw, 'limit');
  const limit = rawLimit === undefined ? DEFAULT_SEARCH_LIMIT : Number(rawLimit);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_SEARCH_LIMIT) throw invalid('limit', `"${rawLimit}" is not a whole number from 1 to ${MAX_SEARCH_LIMIT}`);

  return {
    service: single(raw, 'service'),
    operation: single(raw, 'operation'),
    ...(status ? { status } : {}),
    minDurationMicros,
    maxDurationMicros,
    startUnixMicros,
    endUnixMicros,
    attributes,
    limit,
  };
}

export function spanMatches(span: TraceSpan, query: TraceQuery): boolean {
  if (query.service !== undefined && span.service !== query.service) return false;
  if (query.operation !== undefined && span.name !== query.operation) return false;
  if (query.status === 'error' && span.status.code !== 'error') return false;
  if (query.status === 'ok' && span.status.code === 'error') return false;
  if (query.minDurationMicros !== undefined && span.durationMicros < query.minDurationMicros) return false;
  if (query.maxDurationMicros !== undefined && span.durationMicros > query.maxDurationMicros) return false;
  if (query.startUnixMicros !== undefined && span.startTimeUnixMicros < query.startUnixMicros) return false;
  if (query.endUnixMicros !== undefined && span.startTimeUnixMicros > query.endUnixMicros) return false;
  return query.attributes.every(({ key, value }) => {
    const actual = span.attributes[key] ?? span.resource[key];
    return actual !== undefined && attributeText(actual) === value;
  });
}
