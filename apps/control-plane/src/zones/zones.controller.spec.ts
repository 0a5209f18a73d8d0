/**
 * The routes as the app serves them, over a real store, resource admission, distribution and
 * event journal: Nest's routing and body parsing, the app's Status filter, a principal set as the
 * auth guard would (the guard itself is the role matrix's business).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GROUP_VERSION, type Resource } from '@portolan/api';
import { PoolTrafficWindow } from '../autoscaling/pool-traffic-window';
import { ACK_LEDGER, LocalAckLedger } from '../distribution/ack-ledger';
import { BlastRadiusService } from '../distribution/blast-radius.service';
import { DistributionService } from '../distribution/distribution.service';
import { ApiExceptionFilter } from '../errors/api-exception.filter';
import { EVENT_JOURNAL } from '../events/event-journal';
import { SqliteEventJournal } from '../events/sqlite-event-journal';
import { NODE_REGISTRY, type NodeRegistry, type RegisteredNode } from '../registry/node-registry';
import { RegistryResourcesService } from '../registry/registry-resources.service';
import { PolicyStatusService } from '../resources/policy-status.service';
import { ResourcesService } from '../resources/resources.service';
import { RESOURCE_STORE } from '../store/resource-store';
import { openEmbeddedDatabase, SqliteResourceStore } from '../store/sqlite-resource-store';
import { MetricsRegistry } from '../telemetry/metrics';
import type { DrillReport } from './drill-report';
import { FailoverDrillsService } from './failover-drills.service';
import { failoverPolicy, gatewayNode, instanceNode, service } from './testing/mesh-objects';
import { ZonesController } from './zones.controller';
import { ZonesService } from './zones.service';

const NODES: RegisteredNode[] = [
  gatewayNode('gw-a', 'zone-a'),
  gatewayNode('gw-b', 'zone-b'),
  gatewayNode('gw-c', 'zone-c', 'Offline'),
  instanceNode('orders-b', 'orders', '10.0.2.1', 'zone-b'),
  instanceNode('orders-c', 'orders', '10.0.3.1', 'zone-c', 'Degraded'),
];

/** A registry of fixed nodes; no gateway listens, so drains have no gateway to wait for. */
const registry = {
  settings: { heartbeatIntervalMs: 2_000, ttlMs: 6_000, removeAfterMs: 300_000 },
  nodes: () => NODES,
  get: (id: string) => NODES.find((node) => node.id === id),
  onChange: () => () => undefined,
  setDegraded: () => undefined,
} as unknown as NodeRegistry;

const route = (name: string, backend: string): Resource => ({ apiVersion: GROUP_VERSION, kind: 'Route', metadata: { name, namespace: 'default' }, spec: { backendRef: { name: backend } } });

describe('the zones API', () => {
  let app: INestApplication;
  let base: string;
  let dir: string;
  let store: SqliteResourceStore;
  let journal: SqliteEventJournal;
  let journalDb: Database.Database;

  // The answers are checked field by field below; `any` keeps that readable.
  const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const response = await fetch(`${base}${path}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: response.status, body: await response.json() };
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portolan-zones-'));
    store = new SqliteResourceStore(openEmbeddedDatabase(join(dir, 'portolan.db')));
    journalDb = new Database(':memory:');
    journal = new SqliteEventJournal(journalDb);
    const actor = 'spec';
    await store.create(service('orders', { endpoints: [{ address: '10.0.1.1', zone: 'zone-a' }, { address: '10.0.1.2', zone: 'zone-a' }] }), { actor });
    await store.create(service('cart', { endpoints: [{ address: '10.0.4.1', zone: 'zone-d' }, { address: '10.0.2.9', zone: 'zone-b' }] }), { actor });
    await store.create(route('shop', 'orders'), { actor });
    await store.create(failoverPolicy('orders', { kind: 'Service', name: 'orders' }, { 'zone-a': 0, 'zone-b': 1, 'zone-c': 2 }), { actor });

    const moduleRef = await Test.createTestingModule({
      controllers: [ZonesController],
      providers: [
        ZonesService,
        FailoverDrillsService,
        ResourcesService,
        PolicyStatusService,
        RegistryResourcesService,
        BlastRadiusService,
        DistributionService,
        { provide: RESOURCE_STORE, useValue: store },
        { provide: NODE_REGISTRY, useValue: registry },
        { provide: MetricsRegistry, useValue: new MetricsRegistry() },
        { provide: ACK_LEDGER, useValue: new LocalAckLedger() },
        { provide: EVENT_JOURNAL, useValue: journal },
        { provide: PoolTrafficWindow, useValue: new PoolTrafficWindow() },
      ],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    app.useGlobalFilters(new ApiExceptionFilter(pino({ level: 'silent' })));
    app.use((request: { principal?: unknown }, _response: unknown, next: () => void) => {
      request.principal = { name: 'alice', role: 'editor' };
      next();
    });
    await app.listen(0, '127.0.0.1');
    base = await app.getUrl();
  });
  afterAll(async () => {
    await app?.close();
    await store?.close();
    journalDb?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists every zone with its gateways, endpoints and failover state', async () => {
    const { status, body } = await call('GET', '/v1/zones');
    expect(status).toBe(200);
    expect(body.kind).toBe('ZoneList');
    expect(body.items.map((zone: { zone: string }) => zone.zone)).toEqual(['zone-a', 'zone-b', 'zone-c', 'zone-d']);
    expect(body.items[2]).toMatchObject({ zone: 'zone-c', drained: false, gateways: { total: 1, routable: 0 }, endpoints: { total: 1, healthy: 0 }, failover: [{ policy: 'default/orders', state: 'Healthy' }] });
  });

  it('drains a zone by writing its Zone object, answers once gateways run it, and records who did it', async () => {
    const { status, body } = await call('POST', '/v1/zones/zone-b/drain', { reason: 'AZ maintenance' });
    expect(status).toBe(200);
    expect(body).toEqual({ zone: 'zone-b', drained: true, revision: expect.any(Number), requestedAt: expect.any(String), trafficMovedAt: expect.any(String), propagated: true, pending: [] });
    const stored = await store.get({ kind: 'Zone', namespace: 'default', name: 'zone-b' });
    expect(stored).toMatchObject({ spec: { drained: true, reason: 'AZ maintenance' }, metadata: { resourceVersion: String(body.revision) } });
    expect((await store.history({ kind: 'Zone', namespace: 'default', name: 'zone-b' })).map((change) => change.actor)).toEqual(['alice']);
    const [event] = await journal.list({ reason: 'ZoneDrained' });
    expect(event).toMatchObject({ type: 'Normal', regarding: { kind: 'Zone', namespace: 'default', name: 'zone-b' }, source: 'operator:alice', details: { propagated: true, pending: [], revision: body.revision } });

    const again = await call('POST', '/v1/zones/zone-b/drain', {});
    expect(again).toMatchObject({ status: 200, body: { drained: true, revision: body.revision } });
    expect(await journal.list({ reason: 'ZoneDrained' })).toHaveLength(1);
    expect((await call('GET', '/v1/zones')).body.items[1]).toMatchObject({ zone: 'zone-b', drained: true, reason: 'AZ maintenance' });
  });

  it('resolves a service for a client zone the way gateways there route: drained zones left out', async () => {
    const { status, body } = await call('GET', '/v1/resolve/orders?zone=zone-c');
    expect(status).toBe(200);
    // zone-c has no healthy endpoint of orders, zone-b is drained: zone-a, by failover priority.
    expect(body).toEqual({ service: { namespace: 'default', name: 'orders' }, zone: 'zone-c', endpoints: [
      { address: '10.0.1.1', port: 80, zone: 'zone-a', weight: 100, priority: 0 },
      { address: '10.0.1.2', port: 80, zone: 'zone-a', weight: 100, priority: 0 },
    ] });
    // cart has no route: the drained zone still comes from the Zone objects.
    expect((await call('GET', '/v1/resolve/cart')).body.endpoints).toEqual([{ address: '10.0.4.1', port: 80, zone: 'zone-d', weight: 100, priority: 0 }]);
  });

  it('undrains a zone the same way', async () => {
    const { status, body } = await call('DELETE', '/v1/zones/zone-b/drain');
    expect(status).toBe(200);
    expect(body).toMatchObject({ zone: 'zone-b', drained: false, propagated: true });
    expect(await store.get({ kind: 'Zone', namespace: 'default', name: 'zone-b' })).toMatchObject({ spec: { drained: false } });
    expect((await journal.list({ reason: 'ZoneUndrained' }))[0]).toMatchObject({ source: 'operator:alice', details: { revision: body.revision } });
    expect((await call('GET', '/v1/resolve/orders?zone=zone-b')).body.endpoints[0]).toEqual({ address: '10.0.2.1', port: 8080, zone: 'zone-b', weight: 100, priority: 0 });
    expect((await call('DELETE', '/v1/zones/zone-b/drain')).body).toMatchObject({ drained: false, revision: body.revision });
  });

  it('answers bad input with a Status naming the field', async () => {
    expect(await call('POST', '/v1/zones/Zone_B/drain', {})).toMatchObject({ status: 422, body: { kind: 'Status', details: { causes: [{ field: 'zone' }] } } });
    expect(await call('POST', '/v1/zones/zone-b/drain', { reason: 'x'.repeat(300) })).toMatchObject({ status: 400, body: { details: { causes: [{ field: 'reason' }] } } });
    expect(await call('POST', '/v1/zones/zone-b/drills', { duration: '2s' })).toMatchObject({ status: 400, body: { details: { causes: [{ field: 'duration' }] } } });
    expect(await call('POST', '/v1/zones/zone-x/drills', { duration: '5s' })).toMatchObject({ status: 422, body: { details: { causes: [{ field: 'zone' }] } } });
    expect(await call('GET', '/v1/resolve/orders?zone=A')).toMatchObject({ status: 400, body: { details: { causes: [{ field: 'zone' }] } } });
    expect(await call('GET', '/v1/resolve/missing')).toMatchObject({ status: 404, body: { kind: 'Status', reason: 'NotFound' } });
    expect(await call('GET', '/v1/zones/drills/zone-a-unknown')).toMatchObject({ status: 404, body: { kind: 'Status', reason: 'NotFound' } });
  });

  /** The report a drill on another replica keeps in the journal, started `startedAgoMs` ago for 10 minutes. */
  const reportOfOtherReplica = (id: string, zone: string, startedAgoMs: number): DrillReport => {
    const startedMs = Date.now() - startedAgoMs;
    return {
      id,
      zone,
      duration: '10m',
      state: 'Running',
      requestedBy: 'bob',
      startedAt: new Date(startedMs).toISOString(),
      deadline: new Date(startedMs + 630_000).toISOString(),
      timeline: [{ at: new Date(startedMs).toISOString(), event: 'drain-requested', detail: '' }],
      figures: { shiftMs: null, recoveryMs: null, requestsDuringDrill: 0, serverErrorsDuringDrill: 0, errorRatePercent: null, byZone: [] },
    };
  };

  it("sees a drill another replica runs, and lets an operator's drain replace a drill's", async () => {
    await journal.putStatus({ kind: 'FailoverDrill', namespace: 'default', name: 'zone-e-0badcafe' }, reportOfOtherReplica('zone-e-0badcafe', 'zone-e', 60_000));
    await store.create({ apiVersion: GROUP_VERSION, kind: 'Zone', metadata: { name: 'zone-e', namespace: 'default' }, spec: { drained: true, reason: 'drill zone-e-0badcafe' } }, { actor: 'replica-2' });
    expect(await call('POST', '/v1/zones/zone-a/drills', { duration: '5s' })).toMatchObject({ status: 409, body: { message: expect.stringContaining('drill zone-e-0badcafe is running on zone zone-e') } });
    const before = Number((await store.get({ kind: 'Zone', namespace: 'default', name: 'zone-e' }))!.metadata.resourceVersion);
    const drained = await call('POST', '/v1/zones/zone-e/drain', { reason: 'real outage' });
    expect(drained.body.revision).toBeGreaterThan(before);
    expect((await store.get({ kind: 'Zone', namespace: 'default', name: 'zone-e' }))?.spec).toEqual({ drained: true, reason: 'real outage' });
  });

  it('undrains the zone of a drill whose control plane died, marks its report Failed, and goes on with the request', async () => {
    const id = 'zone-f-0deadbee';
    const key = { kind: 'FailoverDrill', namespace: 'default', name: id };
    await journal.putStatus(key, reportOfOtherReplica(id, 'zone-f', 11 * 60_000));
    await store.create({ apiVersion: GROUP_VERSION, kind: 'Zone', metadata: { name: 'zone-f', namespace: 'default' }, spec: { drained: true, reason: `drill ${id}` } }, { actor: 'replica-2' });
    await call('POST', '/v1/zones/zone-b/drain', { reason: 'maintenance' });
    // The drill on zone-f no longer stands in the way: the answer is about zone-b itself.
    expect(await call('POST', '/v1/zones/zone-b/drills', { duration: '5s' })).toMatchObject({ status: 409, body: { message: expect.stringContaining('zone zone-b is already drained (maintenance)') } });
    expect((await store.get({ kind: 'Zone', namespace: 'default', name: 'zone-f' }))?.spec).toEqual({ drained: false });
    expect((await store.history({ kind: 'Zone', namespace: 'default', name: 'zone-f' })).map((change) => change.actor)).toEqual(['replica-2', 'drill-sweeper']);
    const report = (await call('GET', `/v1/zones/drills/${id}`)).body as DrillReport;
    expect(report).toMatchObject({ state: 'Failed', error: expect.stringMatching(/^the control plane running the drill stopped before it ended; the zone was undrained by drill-sweeper on /) });
    expect((await journal.list({ reason: 'DrillAbandoned' }))[0]).toMatchObject({ type: 'Warning', regarding: key, source: 'drill-sweeper' });
    expect((await journal.list({ reason: 'ZoneUndrained', source: 'drill-sweeper' }))[0]).toMatchObject({ regarding: { kind: 'Zone', name: 'zone-f' } });
    await call('DELETE', '/v1/zones/zone-b/drain');
  });

  it('runs one drill at a time, not on a drained zone, and undrains its zone when the control plane stops', async () => {
    await call('POST', '/v1/zones/zone-d/drain', {});
    expect(await call('POST', '/v1/zones/zone-d/drills', { duration: '5s' })).toMatchObject({ status: 409, body: { message: expect.stringContaining('already drained') } });

    const started = await call('POST', '/v1/zones/zone-a/drills', { duration: '10m' });
    expect(started).toMatchObject({ status: 202, body: { id: expect.stringMatching(/^zone-a-/), zone: 'zone-a', duration: '10m', startedAt: expect.any(String) } });
    const { id } = started.body;
    expect(await call('POST', '/v1/zones/zone-b/drills', { duration: '5s' })).toMatchObject({ status: 409, body: { message: expect.stringContaining(`drill ${id} is running`) } });

    await expect.poll(async () => (await call('GET', `/v1/zones/drills/${id}`)).body.timeline?.length).toBeGreaterThanOrEqual(2);
    const running = (await call('GET', `/v1/zones/drills/${id}`)).body as DrillReport;
    expect(running).toMatchObject({ id, zone: 'zone-a', state: 'Running', requestedBy: 'alice', figures: { shiftMs: expect.any(Number) } });
    expect((await store.get({ kind: 'Zone', namespace: 'default', name: 'zone-a' }))?.spec).toEqual({ drained: true, reason: `drill ${id}` });

    await app.get(FailoverDrillsService).close();
    expect((await store.get({ kind: 'Zone', namespace: 'default', name: 'zone-a' }))?.spec).toEqual({ drained: false });
    const report = (await call('GET', `/v1/zones/drills/${id}`)).body as DrillReport;
    expect(report).toMatchObject({ state: 'Failed', error: 'the control plane stopped during the drill' });
    expect(report.timeline.map((entry) => entry.event)).toEqual(['drain-requested', 'traffic-shifted', 'undrain-requested']);
    expect((await journal.list({ reason: 'DrillCompleted' }))[0]).toMatchObject({ type: 'Warning', regarding: { kind: 'FailoverDrill', name: id } });
    expect((await journal.list({ source: 'failover-drill' })).map((event) => event.reason)).toEqual(['DrillCompleted', 'ZoneUndrained', 'ZoneDrained']);
  });
});
