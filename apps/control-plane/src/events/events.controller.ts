/**
 * `GET /v1/events` (viewer): what the control plane's controllers did and why, newest first. The
 * query parameters are parsed once; a bad one is a 400 Status naming it.
 */
import { Controller, Get, Inject, Query } from '@nestjs/common';
import type { EventList } from '@portolan/api';
import { Access } from '../auth/roles';
import { invalidParameter, refuseUnknownParameters, singleParameter, timeParameter, type RawQuery } from '../errors/query-parameters';
import { DEFAULT_EVENT_LIMIT, EVENT_JOURNAL, MAX_EVENT_LIMIT, type EventJournal, type EventQuery } from './event-journal';

const PARAMETERS = ['kind', 'namespace', 'name', 'reason', 'source', 'since', 'limit'] as const;
type Parameter = (typeof PARAMETERS)[number];

export type RawEventQuery = RawQuery;

export type { EventList } from '@portolan/api';

const single = (raw: RawEventQuery, parameter: Parameter) => singleParameter(raw, parameter);

export function parseEventQuery(raw: RawEventQuery): EventQuery {
  refuseUnknownParameters(raw, PARAMETERS);
  const since = single(raw, 'since');
  if (since !== undefined) timeParameter('since', since);
  const rawLimit = single(raw, 'limit');
  const limit = rawLimit === undefined ? DEFAULT_EVENT_LIMIT : Number(rawLimit);
  if (!/^\d+$/.test(rawLimit ?? '1') || limit < 1 || limit > MAX_EVENT_LIMIT) throw invalidParameter('limit', `"${rawLimit}" is not a whole number from 1 to ${MAX_EVENT_LIMIT}`);

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
