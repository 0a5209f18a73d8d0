/**
 * Writes through ResourcesService over a real store, with the derived status and blast radius
 * stubbed: what a request carries and what the store ends up holding, for the cases the HTTP specs
 * cannot set up (a status only a controller writes, an object stored before a rule existed) and
 * for the request shapes Express hands over (a parameter given twice is an array).
 */
import { Logger } from '@nestjs/common';
import { GROUP_VERSION, type FailoverPolicyStatus, type Resource } from '@portolan/api';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { BlastRadiusService } from '../distribution/blast-radius.service';
import { ApiError } from '../errors/api-error';
import type { EventJournal } from '../events/event-journal';
import type { RegistryResourcesService } from '../registry/registry-resources.service';
import { openEmbeddedDatabase, SqliteResourceStore } from '../store/sqlite-resource-store';
import { APPLY_PATCH, JSON_PATCH, MERGE_PATCH } from './patch';
import type { PolicyStatusService } from './policy-status.service';
import { parseForce, ResourcesService, type WriteRequest } from './resources.service';

const BLAST_RADIUS = { gateways: 0, affected: 0, shapes: [] };
const policyStatus = { withStatus: async (resource: Resource) => resource, watchRollouts: () => () => undefined } as unknown as PolicyStatusService;
const blastRadius = { of: async () => BLAST_RADIUS } as unknown as BlastRadiusService;
const journal = { record: async () => undefined } as unknown as Pick<EventJournal, 'record'>;

let store: SqliteResourceStore;
let service: ResourcesService;

beforeAll(() => Logger.overrideLogger(false));
beforeEach(() => {
  store = new SqliteResourceStore(openEmbeddedDatabase(':memory:'));
  service = new ResourcesService(store, policyStatus, {} as RegistryResourcesService, blastRadius, journal);
});
afterEach(() => store.close());

const request = (options: Partial<WriteRequest> = {}): WriteRequest => ({ actor: 'alice', dryRun: false, fieldValidation: 'Strict', ...options });
const applying = (manager: string, options: Partial<WriteRequest> = {}) => request({ fieldManager: manager, ...options });

const limits = (name: string, requests = 10, metadata: Record<string, unknown> = {}) => ({
  apiVersion: GROUP_VERSION,
  kind: 'RateLimitPolicy',
  metadata: { name, ...metadata },
  spec: { targetRef: { kind: 'Mesh' }, limits: [{ name: 'per-second', requests, interval: '1s' }] },
});
const key = (name: string, kind = 'RateLimitPolicy') => ({ kind, namespace: 'default', name });

/** The Status a write was refused with. */
async function refusal(write: Promise<unknown>): Promise<{ code: number; reason?: string; message: string; causes?: unknown[] }> {
  try {
    await write;
  } catch (error) {
    if (error instanceof ApiError) return { code: error.status.code, reason: error.status.reason, message: error.status.message, causes: error.status.details?.causes };
    throw error;
  }
  throw new Error('the write was not refused');
}

describe('server-side apply', () => {
  it('refuses a configuration naming a stale resourceVersion with 409, and changes nothing', async () => {
    const created = (await service.patch('ratelimitpolicies', 'default', 'pinned', APPLY_PATCH, limits('pinned'), applying('alice'))).object;
    await service.patch('ratelimitpolicies', 'default', 'pinned', APPLY_PATCH, limits('pinned', 20), applying('alice'));
    const stale = limits('pinned', 30, { resourceVersion: created.metadata.resourceVersion });
    expect(await refusal(service.patch('ratelimitpolicies', 'default', 'pinned', APPLY_PATCH, stale, applying('alice')))).toMatchObject({ code: 409, reason: 'Conflict' });
    expect((await store.get(key('pinned')))!.spec).toMatchObject({ limits: [{ requests: 20 }] });
  });

  it('creates nothing in a dry run, answering as a create would', async () => {
    const result = await service.patch('ratelimitpolicies', 'default', 'dry', APPLY_PATCH, limits('dry'), applying('alice', { dryRun: true }));
    expect(result.created).toBe(true);
    expect(result.object.metadata.managedFields?.map((entry) => entry.manager)).toEqual(['alice']);
    expect(await store.get(key('dry'))).toBeUndefined();
  });

  it('leaves the object, its resourceVersion and managedFields as they were when it changes nothing', async () => {
    const first = (await service.patch('ratelimitpolicies', 'default', 'same', APPLY_PATCH, limits('same'), applying('alice'))).object;
    const again = (await service.patch('ratelimitpolicies', 'default', 'same', APPLY_PATCH, limits('same'), applying('alice'))).object;
    expect(again.metadata.resourceVersion).toBe(first.metadata.resourceVersion);
    expect(await store.get(key('same'))).toEqual(first);
  });

  it('keeps the FailoverPolicy status the failover controller stored', async () => {
    const failover = (priority: number) => ({
      apiVersion: GROUP_VERSION,
      kind: 'FailoverPolicy',
      metadata: { name: 'orders' },
      spec: { targetRef: { kind: 'Mesh' }, zones: [{ name: 'zone-a', priority }] },
    });
    await service.patch('failoverpolicies', 'default', 'orders', APPLY_PATCH, failover(0), applying('alice'));
    const status: FailoverPolicyStatus = { zones: [{ zone: 'zone-a', state: 'FailedOver', since: '2026-01-01T00:00:00Z', reason: 'no healthy endpoint' }] };
    const current = (await store.get(key('orders', 'FailoverPolicy')))!;
    await store.update({ ...current, status } as Resource, { actor: 'failover-controller', expectedResourceVersion: current.metadata.resourceVersion });

    // The configuration's own status is ignored, as a client's always is.
    await service.patch('failoverpolicies', 'default', 'orders', APPLY_PATCH, { ...failover(1), status: { zones: [] } }, applying('alice'));
    const stored = (await store.get(key('orders', 'FailoverPolicy')))!;
    expect(stored.spec).toMatchObject({ zones: [{ name: 'zone-a', priority: 1 }] });
    expect(stored.status).toEqual(status);
  });

  it('takes metadata.managedFields: null as absent, as kube-apiserver reads null', async () => {
    const result = await service.patch('ratelimitpolicies', 'default', 'nil', APPLY_PATCH, limits('nil', 10, { managedFields: null }), applying('alice'));
    expect(result.object.metadata.managedFields?.map((entry) => entry.manager)).toEqual(['alice']);
    const sent = limits('nil', 10, { managedFields: [] });
    expect(await refusal(service.patch('ratelimitpolicies', 'default', 'nil', APPLY_PATCH, sent, applying('alice')))).toMatchObject({ code: 400 });
  });

  it('refuses a limit without a name with the validation message, rather than merging the list whole', async () => {
    await service.patch('ratelimitpolicies', 'default', 'named', APPLY_PATCH, limits('named'), applying('alice'));
    const unnamed = { ...limits('named'), spec: { targetRef: { kind: 'Mesh' }, limits: [{ requests: 20, interval: '1s' }] } };
    expect(await refusal(service.patch('ratelimitpolicies', 'default', 'named', APPLY_PATCH, unnamed, applying('bob')))).toMatchObject({
      code: 422,
      message: 'RateLimitPolicy "named" is invalid: spec.limits[0].name: Required value: name each limit (e.g. per-second); limits are merged by name',
    });
  });

  it('says how to get past a stored object with a limit without a name, and the way it names works', async () => {
    const legacy = { ...limits('legacy'), metadata: { name: 'legacy', namespace: 'default', generation: 1 }, spec: { targetRef: { kind: 'Mesh' }, limits: [{ requests: 10, interval: '1s' }] } };
    await store.create(legacy as Resource, { actor: 'before names were required' });
    const refused = await refusal(service.patch('ratelimitpolicies', 'default', 'legacy', APPLY_PATCH, limits('legacy'), applying('alice')));
    expect(refused).toMatchObject({ code: 422 });
    expect(refused.message).toContain('spec.limits[0].name: Required value: name each limit (e.g. per-second); limits are merged by name (in the stored object, written before this was checked: write the whole object once with kubectl replace');
    await service.replace('ratelimitpolicies', 'default', 'legacy', limits('legacy'), request({ userAgent: 'kubectl/v1.32.4' }));
    const applied = await service.patch('ratelimitpolicies', 'default', 'legacy', APPLY_PATCH, limits('legacy', 20), applying('alice', { force: true }));
    expect(applied.object.spec).toMatchObject({ limits: [{ name: 'per-second', requests: 20 }] });
  });
});

describe('bad input is a 4xx Status', () => {
  it.each<[string, Partial<WriteRequest>, number, string]>([
    ['fieldManager given twice', { fieldManager: ['a', 'b'] as unknown as string }, 400, 'query parameter fieldManager: give it once'],
  ])('%s', async (_name, options, code, message) => {
    const answer = await refusal(service.patch('ratelimitpolicies', 'default', 'twice', APPLY_PATCH, limits('twice'), request(options)));
    expect(answer).toMatchObject({ code, message });
    expect(await refusal(service.create('ratelimitpolicies', 'default', limits('twice'), request(options)))).toMatchObject({ code });
  });

  it.each([
    ['kind', { kind: { toString: 1 } }, 'the kind in the body ({"toString":1}) does not match'],
    ['namespace', { metadata: { name: 'odd', namespace: { toString: 1 } } }, 'the namespace of the provided object ({"toString":1}) does not match'],
  ])('a %s that String() cannot turn into text: 400 quoting it as JSON, not 500', async (_field, fields, message) => {
    const answer = await refusal(service.create('ratelimitpolicies', 'default', { ...limits('odd'), ...fields }, request()));
    expect(answer).toMatchObject({ code: 400 });
    expect(answer.message).toContain(message);
  });

  it('force given twice', () => {
    expect(() => parseForce(['true', 'false'])).toThrow('query parameter force: give it once');
    expect(parseForce('true')).toBe(true);
    expect(() => parseForce('')).toThrow('force must be true or false, not ""');
  });

  const nested = (depth: number) => {
    let value: Record<string, unknown> = {};
    for (let level = 0; level < depth; level++) value = { 'f:spec': value };
    return value;
  };
  const entry = (fieldsV1: unknown) => ({ manager: 'alice', operation: 'Update', apiVersion: GROUP_VERSION, time: '2026-01-01T00:00:00Z', fieldsType: 'FieldsV1', fieldsV1 });

  it.each([
    ['a little deeper than any field', 40, 'metadata.managedFields[0].fieldsV1: Invalid value: at f:spec'],
    ['thousands of levels deep', 20_000, 'metadata.managedFields[0].fieldsV1: Invalid value: nested more than 64 levels deep'],
  ])('managedFields nested %s: 422 naming the fieldsV1, in a create, a replace and a JSON patch', async (_name, depth, message) => {
    const created = await service.create('ratelimitpolicies', 'default', limits('deep'), request());
    const body = limits('deep', 10, { managedFields: [entry(nested(depth))] });
    for (const write of [
      service.create('ratelimitpolicies', 'default', { ...body, metadata: { ...body.metadata, name: 'deeper' } }, request()),
      service.replace('ratelimitpolicies', 'default', 'deep', body, request()),
    ]) {
      const answer = await refusal(write);
      expect(answer).toMatchObject({ code: 422 });
      expect(answer.message).toContain(message);
    }
    const patch = [{ op: 'replace', path: '/metadata/managedFields', value: [entry(nested(depth))] }];
    expect((await refusal(service.patch('ratelimitpolicies', 'default', 'deep', JSON_PATCH, patch, request()))).code).toBeGreaterThanOrEqual(400);
    expect(await store.get(key('deep'))).toEqual(created.object);
  });

  it.each([
    [undefined, 'revision: Required value: the revision to restore'],
    ['3', 'revision: Invalid value: "3": must be a positive integer'],
    [0, 'revision: Invalid value: 0: must be a positive integer'],
  ])('a rollback to revision %j: 422 saying what the revision must be', async (revision, message) => {
    const created = await service.create('ratelimitpolicies', 'default', limits('rolled'), request());
    const answer = await refusal(service.rollback('ratelimitpolicies', 'default', 'rolled', revision, request()));
    expect(answer.code).toBe(422);
    expect(answer.message).toContain(message);
    expect(await store.get(key('rolled'))).toEqual(created.object);
  });

  it('a merge patch nested thousands of levels deep: 422 naming the field', async () => {
    await service.create('ratelimitpolicies', 'default', limits('deep-patch'), request());
    const answer = await refusal(service.patch('ratelimitpolicies', 'default', 'deep-patch', MERGE_PATCH, { spec: { colour: nested(20_000) } }, request()));
    expect(answer).toMatchObject({ code: 422, message: 'RateLimitPolicy "deep-patch" is invalid: spec.colour: Invalid value: nested more than 64 levels deep, deeper than any field of the kind' });
  });
});

// Label keys must be Kubernetes qualified names, which __proto__ is not; annotation keys may be anything.
describe('an annotation named __proto__', () => {
  const annotated = (annotations: string) => ({ ...limits('proto'), metadata: JSON.parse(`{"name":"proto","annotations":${annotations}}`) });

  it.each([
    ['a server-side apply', () => service.patch('ratelimitpolicies', 'default', 'proto', APPLY_PATCH, annotated('{"__proto__":"x"}'), applying('alice'))],
    ['a merge patch', () => service.patch('ratelimitpolicies', 'default', 'proto', MERGE_PATCH, JSON.parse('{"metadata":{"annotations":{"__proto__":"x"}}}'), request())],
  ])('is added to the others by %s', async (_name, write) => {
    await service.create('ratelimitpolicies', 'default', annotated('{"team":"payments"}'), request());
    await write();
    expect(JSON.stringify((await store.get(key('proto')))!.metadata.annotations)).toBe('{"team":"payments","__proto__":"x"}');
  });
});
