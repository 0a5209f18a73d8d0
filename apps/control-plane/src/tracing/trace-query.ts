/**
 * The search parameters of GET /observability/v1/traces: parsed once (a bad one is a 400 Status
 * naming it) and matched against single spans, with Jaeger's semantics so that both backends give
 * the same answers: a trace matches when one of its spans meets every criterion.
 */
import { parseDuration } from '@portolan/api';
import { invalidParameter, refuseUnknownParameters, singleParameter, timeParameter, type RawQuery } from '../errors/query-parameters';
import { attributeText, type Microseconds, type TraceQuery, type TraceSpan } from './trace-model';

export const DEFAULT_SEARCH_LIMIT = 20;
export const MAX_SEARCH_LIMIT = 1000;
const PARAMETERS = ['service', 'operation', 'status', 'minDuration', 'maxDuration', 'start', 'end', 'attr', 'limit'] as const;
type Parameter = (typeof PARAMETERS)[number];

export type { RawQuery } from '../errors/query-parameters';

const single = (raw: RawQuery, parameter: Parameter) => singleParameter(raw, parameter);

function durationMicros(raw: RawQuery, parameter: 'minDuration' | 'maxDuration'): Microseconds | undefined {
  const value = single(raw, parameter);
  if (value === undefined) return undefined;
  try {
    return parseDuration(value) * 1000;
  } catch {
    throw invalidParameter(parameter, `"${value}" is not a duration: use e.g. 250ms, 1.5s, 2m`);
  }
}

/** RFC 3339 to microseconds, keeping sub-millisecond digits that Date would drop. */
function timeMicros(raw: RawQuery, parameter: 'start' | 'end'): Microseconds | undefined {
  const value = single(raw, parameter);
  if (value === undefined) return undefined;
  const { ms, fraction } = timeParameter(parameter, value);
  // ms holds the whole milliseconds; the fraction's 4th-6th digits are the microseconds Date drops.
  return ms * 1000 + Number(fraction.padEnd(6, '0').slice(3, 6));
}

export function parseTraceQuery(raw: RawQuery): TraceQuery {
  refuseUnknownParameters(raw, PARAMETERS);

  const status = single(raw, 'status');
  if (status !== undefined && status !== 'ok' && status !== 'error') throw invalidParameter('status', `"${status}" is not a status: use ok or error`);

  const minDurationMicros = durationMicros(raw, 'minDuration');
  const maxDurationMicros = durationMicros(raw, 'maxDuration');
  if (minDurationMicros !== undefined && maxDurationMicros !== undefined && maxDurationMicros < minDurationMicros) {
    throw invalidParameter('maxDuration', 'is shorter than minDuration');
  }
  const startUnixMicros = timeMicros(raw, 'start');
  const endUnixMicros = timeMicros(raw, 'end');
  if (startUnixMicros !== undefined && endUnixMicros !== undefined && endUnixMicros < startUnixMicros) throw invalidParameter('end', 'is before start');

  const attrs = raw.attr === undefined ? [] : Array.isArray(raw.attr) ? raw.attr : [raw.attr];
  const attributes = attrs.map((pair) => {
    const equals = pair.indexOf('=');
    if (equals <= 0) throw invalidParameter('attr', `"${pair}" is not key=value`);
    return { key: pair.slice(0, equals), value: pair.slice(equals + 1) };
  });

  const rawLimit = single(raw, 'limit');
  const limit = rawLimit === undefined ? DEFAULT_SEARCH_LIMIT : Number(rawLimit);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_SEARCH_LIMIT) throw invalidParameter('limit', `"${rawLimit}" is not a whole number from 1 to ${MAX_SEARCH_LIMIT}`);

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
