import Database from 'better-sqlite3';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MeshEvent } from '@portolan/api';
import { ApiError } from '../errors/api-error';
import { ApiExceptionFilter } from '../errors/api-exception.filter';
import { EVENT_JOURNAL, type NewMeshEvent } from './event-journal';
import { EventsController, parseEventQuery, type RawEventQuery } from './events.controller';
import { SqliteEventJournal } from './sqlite-event-journal';

describe('parseEventQuery', () => {
  it('reads every parameter', () => {
    expect(parseEventQuery({ kind: 'AutoscalePolicy', namespace: 'shop', name: 'checkout', reason: 'ScaledUp', source: 'autoscaler', since: '2026-03-01T12:00:00.5+01:00', limit: '20' })).toEqual({
      regarding: { kind: 'AutoscalePolicy', namespace: 'shop', name: 'checkout' },
      reason: 'ScaledUp',
      source: 'autoscaler',
      since: '2026-03-01T12:00:00.5+01:00',
      limit: 20,
    });
  });

  it('defaults to the newest 100 events and no criteria; an empty parameter is no criterion', () => {
    expect(parseEventQuery({})).toEqual({ limit: 100 });
    expect(parseEventQuery({ name: '', limit: '' })).toEqual({ limit: 100 });
  });

  it.each<[RawEventQuery, string]>([
    [{ limit: '0' }, 'limit'],
    [{ limit: '1001' }, 'limit'],
    [{ limit: 'ten' }, 'limit'],
    [{ limit: '2.5' }, 'limit'],
    [{ limit: '-1' }, 'limit'],
    [{ since: 'yesterday' }, 'since'],
    [{ since: '2026-03-01' }, 'since'],
    [{ since: '2026-02-30T25:00:00Z' }, 'since'],
    [{ reason: ['ScaledUp', 'ScaledDown'] }, 'reason'],
    [{ namesapce: 'shop' }, 'namesapce'],
  ])('refuses %o with a 400 naming %s', (raw, parameter) => {
    let error: unknown;
    try {
      parseEventQuery(raw);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ApiError);
    const status = (error as ApiError).status;
    expect(status).toMatchObject({ kind: 'Status', code: 400, reason: 'BadRequest', details: { causes: [{ field: parameter }] } });
    expect(status.message).toContain(`query parameter ${parameter}`);
  });
});

/** The route as the app serves it: Nest's routing and query parsing, and the app's Status filter (no auth guard here). */
describe('GET /v1/events', () => {
  let app: INestApplication;
  let base: string;
  let db: Database.Database;
  const recorded: MeshEvent[] = [];
  const event = (name: string, reason: string): NewMeshEvent => ({ type: 'Normal', reason, regarding: { kind: 'AutoscalePolicy', namespace: 'shop', name }, source: 'autoscaler', message: `${reason} ${name}` });

  beforeAll(async () => {
    db = new Database(':memory:');
    const journal = new SqliteEventJournal(db);
    for (const [name, reason] of [['checkout', 'ScaledUp'], ['cart', 'ScaledUp'], ['checkout', 'ScaledDown']]) recorded.push(await journal.record(event(name, reason)));
    const moduleRef = await Test.createTestingModule({ controllers: [EventsController], providers: [{ provide: EVENT_JOURNAL, useValue: journal }] }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    app.useGlobalFilters(new ApiExceptionFilter(pino({ level: 'silent' })));
    await app.listen(0, '127.0.0.1');
    base = await app.getUrl();
  });
  afterAll(async () => {
    await app?.close();
    db?.close();
  });

  it('answers an EventList, newest first, filtered by the query', async () => {
    const all = await fetch(`${base}/v1/events`);
    expect(all.status).toBe(200);
    expect(await all.json()).toEqual({ apiVersion: 'v1', kind: 'EventList', items: [...recorded].reverse() });
    const filtered = (await (await fetch(`${base}/v1/events?name=checkout&reason=ScaledUp&limit=5`)).json()) as { items: MeshEvent[] };
    expect(filtered.items).toEqual([recorded[0]]);
  });

  it('answers a bad limit or since with a 400 Status naming the parameter', async () => {
    for (const [query, parameter] of [['limit=5000', 'limit'], ['since=last-tuesday', 'since']]) {
      const response = await fetch(`${base}/v1/events?${query}`);
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 400, reason: 'BadRequest', details: { causes: [{ field: parameter }] } });
    }
  });
});
