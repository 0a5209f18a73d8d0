/**
 * The trace search as the URL holds it (`/traces?service=…&start=…`), so that any page can link
 * to a search: the parameter names and formats are the query API's
 * (apps/control-plane/src/tracing/trace-query.ts: service, operation, status, minDuration,
 * maxDuration, start, end as RFC 3339, attr as repeatable key=value, limit), plus `range` (15m or
 * 1h) for a window that ends when the search runs. Pure functions; the page reads and writes them.
 */
import { isDuration, parseDuration } from '@portolan/api';
import { toRfc3339 } from '../charts/series';

/** The gateway's resource `service.name` (apps/gateway/src/main.ts, docs/tracing.md). */
export const GATEWAY_SERVICE = 'portolan-gateway';

export const RELATIVE_RANGES = { '15m': 15 * 60_000, '1h': 60 * 60_000 } as const;
export type RelativeRange = keyof typeof RELATIVE_RANGES;
export type TimeRange = RelativeRange | 'custom';

export const LIMITS = [20, 50, 100, 500] as const;
export const DEFAULT_LIMIT = 20;

export interface Attribute {
  key: string;
  value: string;
}

export interface TraceSearch {
  service?: string;
  operation?: string;
  status?: 'ok' | 'error';
  /** As typed: `100ms`, `1.5s`. */
  minDuration?: string;
  maxDuration?: string;
  range: TimeRange;
  /** RFC 3339; with `range: custom`. */
  start?: string;
  end?: string;
  attributes: Attribute[];
  limit: number;
}

const nonEmpty = (value: string | null) => (value === null || value.trim() === '' ? undefined : value.trim());

export function searchFromParams(params: URLSearchParams): TraceSearch {
  const status = params.get('status');
  const start = nonEmpty(params.get('start'));
  const end = nonEmpty(params.get('end'));
  const range = params.get('range');
  const limit = Number(params.get('limit'));
  return {
    service: nonEmpty(params.get('service')),
    operation: nonEmpty(params.get('operation')),
    status: status === 'ok' || status === 'error' ? status : undefined,
    minDuration: nonEmpty(params.get('minDuration')),
    maxDuration: nonEmpty(params.get('maxDuration')),
    range: start || end ? 'custom' : range === '15m' || range === '1h' ? range : '1h',
    start,
    end,
    attributes: params.getAll('attr').flatMap((pair) => {
      const parsed = parseAttribute(pair);
      return parsed ? [parsed] : [];
    }),
    limit: Number.isInteger(limit) && limit >= 1 && limit <= 1000 ? limit : DEFAULT_LIMIT,
  };
}

/** The URL's query for a search: only what is set, in a stable order. */
export function searchToParams(search: TraceSearch): URLSearchParams {
  const params = new URLSearchParams();
  const set = (name: string, value: string | undefined) => value !== undefined && value !== '' && params.set(name, value);
  set('service', search.service);
  set('operation', search.service ? search.operation : undefined);
  set('status', search.status);
  set('minDuration', search.minDuration);
  set('maxDuration', search.maxDuration);
  if (search.range === 'custom') {
    set('start', search.start);
    set('end', search.end);
  } else if (search.range !== '1h') params.set('range', search.range);
  for (const { key, value } of search.attributes) params.append('attr', `${key}=${value}`);
  if (search.limit !== DEFAULT_LIMIT) params.set('limit', String(search.limit));
  return params;
}

/** The query string for `GET /observability/v1/traces`: a relative range becomes a start at `nowMs` minus the range. */
export function apiQuery(search: TraceSearch, nowMs: number): string {
  const params = searchToParams(search);
  params.delete('range');
  if (search.range !== 'custom') params.set('start', toRfc3339(Math.floor((nowMs - RELATIVE_RANGES[search.range]) / 1000)));
  params.set('limit', String(search.limit));
  return params.toString();
}

/** A link to a search, for other pages (charts link to the traces of a time window). */
export function tracesLink(search: Partial<TraceSearch>): string {
  const query = searchToParams({ range: search.start || search.end ? 'custom' : '1h', attributes: [], limit: DEFAULT_LIMIT, ...search }).toString();
  return query ? `/traces?${query}` : '/traces';
}

/** A duration for `minDuration` from milliseconds: whole milliseconds, rounded down (the search is inclusive). */
export function durationParameter(ms: number): string | undefined {
  if (!Number.isFinite(ms) || ms < 1) return undefined;
  return `${Math.floor(ms)}ms`;
}

export function parseAttribute(pair: string): Attribute | undefined {
  const equals = pair.indexOf('=');
  if (equals <= 0) return undefined;
  return { key: pair.slice(0, equals), value: pair.slice(equals + 1) };
}

/**
 * Attributes as typed in the form: `key=value` pairs separated by spaces, a value in double
 * quotes when it has spaces (`http.route="/a b"`). Returns the pairs, or the first bad one.
 */
export function parseAttributeText(text: string): { attributes: Attribute[] } | { error: string } {
  const attributes: Attribute[] = [];
  const pattern = /\s*([^\s=]+)=(?:"((?:[^"\\]|\\.)*)"|(\S*))/y;
  let index = 0;
  const trimmed = text.trim();
  while (index < trimmed.length) {
    pattern.lastIndex = index;
    const match = pattern.exec(trimmed);
    if (!match) {
      const rest = trimmed.slice(index).trim().split(/\s+/)[0];
      return { error: `"${rest}" is not key=value` };
    }
    attributes.push({ key: match[1], value: match[2] !== undefined ? match[2].replace(/\\(.)/g, '$1') : match[3] });
    index = pattern.lastIndex;
  }
  return { attributes };
}

export function formatAttributeText(attributes: readonly Attribute[]): string {
  return attributes.map(({ key, value }) => (/[\s"]/.test(value) || value === '' ? `${key}="${value.replace(/(["\\])/g, '\\$1')}"` : `${key}=${value}`)).join(' ');
}

/** Why a search cannot be sent, per form field; empty when it can. */
export function validateSearch(search: TraceSearch): Partial<Record<'minDuration' | 'maxDuration' | 'start' | 'end', string>> {
  const errors: Partial<Record<'minDuration' | 'maxDuration' | 'start' | 'end', string>> = {};
  for (const field of ['minDuration', 'maxDuration'] as const) {
    const value = search[field];
    if (value !== undefined && !isDuration(value)) errors[field] = `"${value}" is not a duration: use e.g. 100ms, 1.5s, 2m`;
  }
  if (!errors.minDuration && !errors.maxDuration && search.minDuration && search.maxDuration && parseDuration(search.maxDuration) < parseDuration(search.minDuration)) {
    errors.maxDuration = 'is shorter than the minimum';
  }
  if (search.range === 'custom') {
    const start = search.start ? Date.parse(search.start) : undefined;
    const end = search.end ? Date.parse(search.end) : undefined;
    if (search.start && Number.isNaN(start)) errors.start = 'not a time';
    if (search.end && Number.isNaN(end)) errors.end = 'not a time';
    if (start === undefined && end === undefined) errors.start = 'give a start, an end, or both';
    if (start !== undefined && end !== undefined && end < start) errors.end = 'is before the start';
  }
  return errors;
}

/** An RFC 3339 time as a `datetime-local` input shows it (local time, seconds). */
export function toLocalInput(rfc3339: string | undefined): string {
  if (!rfc3339) return '';
  const date = new Date(rfc3339);
  if (Number.isNaN(date.getTime())) return '';
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** A `datetime-local` value (local time) as RFC 3339 in UTC; undefined when empty or invalid. */
export function fromLocalInput(value: string): string | undefined {
  if (!value) return undefined;
  const ms = new Date(value).getTime();
  return Number.isNaN(ms) ? undefined : toRfc3339(ms / 1000);
}
