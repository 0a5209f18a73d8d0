/**
 * `GET /v1/events` (viewer): what the control plane's controllers did and why, newest first. The
 * query parameters are parsed once; a bad one is a 400 Status naming it.
 */
import { Controller, Get, Inject, Query } from '@nestjs/common';
import type { EventList } from '@portolan/api';
import { Access } from '../auth/roles';
import { ApiError } from '../errors/api-error';
import { DEFAULT_EVENT_LIMIT, EVENT_JOURNAL, MAX_EVENT_LIMIT, type EventJournal, type EventQuery } from './event-journal';

const PARAMETERS = ['kind', 'namespace', 'name', 'reason', 'source', 'since', 'limit'] as const;
type Parameter = (typeof PARAMETERS)[number];

export type RawEventQuery = Record<string, string | string[] | undefined>;

export type { EventList } from '@portolan/api';

function invalid(parameter: string, message: string): ApiError {
  return ApiError.of(400, 'BadRequest', `query parameter ${parameter}: ${message}`, { causes: [{ field: parameter, message, reason: 'FieldValueInvalid' }] });
}

function single(raw: RawEventQuery, parameter: Parameter): string | undefined {
  const value = raw[parameter];
  if (Array.isArray(value)) throw invalid(parameter, 'give it once');
  return value === undefined || value === '' ? undefined : value;
}

/** Date.parse alone would take "2026-03-01" or "March 1": the parameter promises RFC 3339. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/i;

export function parseEventQuery(raw: RawEventQuery): EventQuery {
  // A misspelt filter (namesapce=shop) would otherwise answer every event as if it matched.
  const unknown = Object.keys(raw).filter((name) => !(PARAMETERS as readonly string[]).includes(name));
  if (unknown.length > 0) throw invalid(unknown[0], `unknown; the parameters are ${PARAMETERS.join(', ')}`);

  const since = single(raw, 'since');
  if (since !== undefined && (!RFC3339.test(since) || Number.isNaN(Date.parse(since.toUpperCase())))) {
    throw invalid('since', `"${since}" is not an RFC 3339 time: use e.g. 2026-05-01T12:00:00Z`);
  }
  const rawLimit = single(raw, 'limit');
  const limit = rawLimit === undefined ? DEFAULT_EVENT_LIMIT : Number(rawLimit);
  if (!/^\d+$/.test(rawLimit ?? '1') || limit < 1 || limit > MAX_EVENT_LIMIT) throw invalid('limit', `"${rawLimit}" is not a whole number from 1 to ${MAX_EVENT_LIMIT}`);

  const kind = single(raw, 'kind');
  const namespace = single(raw, 'namespace');
  const name = single(raw, 'name');
  return {
    ...(kind !== undefined || namespace !== undefined || name !== undefined ? { regarding: { kind, namespace, name } } : {}),
    reason: single(raw, 'reason'),
    source: single(raw, 'source'),
    since: since?.toUpperCase(),
    limit,
  };
}

@Controller('v1')
export class EventsController {
  constructor(@Inject(EVENT_JOURNAL) private readonly journal: EventJournal) {}

  @Get('events')
  @Access('viewer')
  async list(@Query() query: RawEventQuery): Promise<EventList> {
    return { apiVersion: 'v1', kind: 'EventList', items: await this.journal.list(parseEventQuery(query)) };
  }
}
