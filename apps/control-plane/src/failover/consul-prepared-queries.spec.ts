/**
 * The prepared query reconciler over real HTTP: against the Consul test double, or a real Consul
 * when CONSUL_HTTP_ADDR is set (CONSUL_HTTP_TOKEN as its token, allowed query write on
 * "portolan-test-" at least). Instances are registered through ConsulNodeRegistry, so the zone
 * tags the queries exclude are the ones the registry writes. Each run uses its own query prefix
 * and service names, and removes what it made from a real Consul.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { GROUP_VERSION, type FailoverPolicy, type Service, type Zone } from '@portolan/api';
import type { ConsulTestServerOptions } from '@portolan/consul-test-server';
import { afterEach, describe, expect, it } from 'vitest';
import { ConsulAccessDeniedError, ConsulClient, ConsulNotFoundError, type PreparedQuery } from '../consul/consul-client';
import { realConsulAddress, startConsulTestTarget, type ConsulTestTarget } from '../consul/consul-test-target';
import { ConsulNodeRegistry, ttlCheckId } from '../registry/consul-node-registry';
import { afterFailoverRound, ConsulPreparedQueries, drainedZonesOf, sameDefinition } from './consul-prepared-queries';

const run = randomUUID().slice(0, 8);
const PREFIX = `portolan-test-${run}-`;
const CHECKOUT = `checkout-${run}`;
const ORDERS = `orders-${run}`;
const queryName = (namespace: string, service: string) => `${PREFIX}${namespace}-${service}`;
/** Heartbeats are not sent here: the TTL outlasts every spec. */
const settings = { heartbeatIntervalMs: 5_000, ttlMs: 120_000, removeAfterMs: 240_000 };
const ZONES = ['zone-a', 'zone-b', 'zone-c'];

function service(name: string, namespace = 'default'): Service {
  return { apiVersion: GROUP_VERSION, kind: 'Service', metadata: { name, namespace, resourceVersion: '1' }, spec: { ports: [{ port: 8080 }] } };
}

function policy(targetRef: FailoverPolicy['spec']['targetRef'], failedOver: string[] = [], metadata: { name?: string; namespace?: string } = {}): FailoverPolicy {
  return {
    apiVersion: GROUP_VERSION,
    kind: 'FailoverPolicy',
    metadata: { name: metadata.name ?? `failover-${targetRef.name ?? 'mesh'}`, namespace: metadata.namespace ?? 'default', resourceVersion: '1' },
    spec: { targetRef, zones: ZONES.map((name, priority) => ({ name, priority })) },
    status: { zones: failedOver.map((zone) => ({ zone, state: 'FailedOver' as const, since: '2026-12-02T10:00:00Z', reason: 'healthy endpoints 0% < 50%' })) },
  };
}

function zone(name: string, drained: boolean): Zone {
  return { apiVersion: GROUP_VERSION, kind: 'Zone', metadata: { name, resourceVersion: '1' }, spec: { drained } };
}

async function eventually(assertion: () => void | Promise<void>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await assertion();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(50);
    }
  }
}

describe('ConsulPreparedQueries in Consul', () => {
  let target: ConsulTestTarget | undefined;
  let registry: ConsulNodeRegistry | undefined;
  let client: ConsulClient | undefined;
  const registered: string[] = [];
  const foreignQueries: string[] = [];

  const start = async (options: ConsulTestServerOptions = {}) => {
    target = await startConsulTestTarget({ aclToken: 'prepared-queries-spec', ...options });
    client = target.client();
    registry = new ConsulNodeRegistry(target.client(), { settings });
    await registry.start();
    return { client, target };
  };
  /** An instance registered the way agents register, in `zone`. */
  const instance = async (name: string, zoneName: string, namespace = 'default'): Promise<string> => {
    const { node } = await registry!.register({ role: 'instance', service: { namespace, name }, zone: zoneName, address: `10.0.${registered.length}.1`, port: 8080 });
    registered.push(node.id);
    return node.id;
  };
  const ours = async (): Promise<PreparedQuery[]> => (await client!.preparedQueries()).queries.filter((query) => query.Name.startsWith(PREFIX)).sort((a, b) => (a.Name < b.Name ? -1 : 1));
  const executed = async (name: string): Promise<string[]> => (await client!.executePreparedQuery(name)).Nodes.map((entry) => entry.Service.ID).sort();
  const sorted = (...ids: string[]) => [...ids].sort();

  afterEach(async () => {
    await registry?.close();
    if (target && realConsulAddress && client) {
      for (const query of (await client.preparedQueries()).queries) {
        if (query.Name.startsWith(PREFIX) || foreignQueries.includes(query.Name)) await client.deletePreparedQuery(query.ID).catch(() => undefined);
      }
      for (const id of registered) await client.deregisterService(id).catch(() => undefined);
    }
    await target?.close();
    target = registry = client = undefined;
    registered.splice(0);
    foreignQueries.splice(0);
  });

  it('creates one query per covered service on the first reconcile, returning only the passing instances, with the control plane\'s token kept out of it', async () => {
    const { client } = await start();
    const a = await instance(CHECKOUT, 'zone-a');
    const b = await instance(CHECKOUT, 'zone-b');
    const c = await instance(CHECKOUT, 'zone-c');
    const degraded = await instance(CHECKOUT, 'zone-a');
    await client.updateTtlCheck(ttlCheckId(degraded), 'warning', 'BreakersOpen');
    const queries = new ConsulPreparedQueries(client, { namePrefix: PREFIX });

    const report = await queries.reconcile([policy({ kind: 'Service', name: CHECKOUT })], [service(CHECKOUT), service(`uncovered-${run}`)], []);

    const name = queryName('default', CHECKOUT);
    expect(report).toEqual({ created: [name], updated: [], deleted: [], unchanged: [], skipped: [] });
    const [stored] = await ours();
    expect(stored).toMatchObject({ Name: name, Service: { Service: CHECKOUT, OnlyPassing: true, Near: '_agent', Failover: { NearestN: 3 } } });
    // Sent as X-Consul-Token, not as the query's own token (which every DNS client would then run with).
    expect(stored.Token).toBe('');
    expect(stored.Service.Tags ?? []).toEqual([]);
    expect(stored.Service.ServiceMeta).toBeNull();
    await eventually(async () => expect(await executed(name)).toEqual(sorted(a, b, c)));
    await eventually(async () => expect(await executed(stored.ID)).toEqual(sorted(a, b, c)));
  });

  it('excludes the zones the policy failed over, and takes them back when it fails back', async () => {
    const { client } = await start();
    const a = await instance(CHECKOUT, 'zone-a');
    const b = await instance(CHECKOUT, 'zone-b');
    const c = await instance(CHECKOUT, 'zone-c');
    const queries = new ConsulPreparedQueries(client, { namePrefix: PREFIX });
    const name = queryName('default', CHECKOUT);
    await queries.reconcile([policy({ kind: 'Service', name: CHECKOUT })], [service(CHECKOUT)], []);

    const failedOver = await queries.reconcile([policy({ kind: 'Service', name: CHECKOUT }, ['zone-a'])], [service(CHECKOUT)], []);
    expect(failedOver.updated).toEqual([name]);
    expect((await ours())[0].Service.Tags).toEqual(['!zone:zone-a']);
    await eventually(async () => expect(await executed(name)).toEqual(sorted(b, c)));

    const failedBack = await queries.reconcile([policy({ kind: 'Service', name: CHECKOUT })], [service(CHECKOUT)], []);
    expect(failedBack.updated).toEqual([name]);
    await eventually(async () => expect(await executed(name)).toEqual(sorted(a, b, c)));
  });

  it('excludes drained zones (read from the Zone objects after a failover round) along with failed-over ones', async () => {
    const { client } = await start();
    const a = await instance(CHECKOUT, 'zone-a');
    await instance(CHECKOUT, 'zone-b');
    const c = await instance(CHECKOUT, 'zone-c');
    const queries = new ConsulPreparedQueries(client, { namePrefix: PREFIX });
    const name = queryName('default', CHECKOUT);
    let zones: Zone[] = [zone('zone-b', true), zone('zone-c', false)];
    const store = { list: async () => ({ items: zones, resourceVersion: '1' }) } as unknown as Parameters<typeof afterFailoverRound>[1];
    const afterRound = afterFailoverRound(queries, store);

    await afterRound([policy({ kind: 'Service', name: CHECKOUT })], [service(CHECKOUT)]);
    expect((await ours())[0].Service.Tags).toEqual(['!zone:zone-b']);
    await eventually(async () => expect(await executed(name)).toEqual(sorted(a, c)));

    await afterRound([policy({ kind: 'Service', name: CHECKOUT }, ['zone-a'])], [service(CHECKOUT)]);
    expect((await ours())[0].Service.Tags).toEqual(['!zone:zone-a', '!zone:zone-b']);
    await eventually(async () => expect(await executed(name)).toEqual([c]));

    // Every zone excluded: nothing passes here, which is when Consul fails over to other datacenters.
    zones = [zone('zone-b', true), zone('zone-c', true)];
    await afterRound([policy({ kind: 'Service', name: CHECKOUT }, ['zone-a'])], [service(CHECKOUT)]);
    const answer = await client.executePreparedQuery(name);
    expect(answer.Nodes).toEqual([]);
    expect(drainedZonesOf(zones)).toEqual(['zone-b', 'zone-c']);
  });

  it('writes nothing in a round where nothing changed', async () => {
    const { client, target } = await start();
    await instance(CHECKOUT, 'zone-a');
    const queries = new ConsulPreparedQueries(client, { namePrefix: PREFIX });
    const policies = [policy({ kind: 'Service', name: CHECKOUT }, ['zone-b'])];
    await queries.reconcile(policies, [service(CHECKOUT)], ['zone-c']);
    const [before] = await ours();
    const requestsBefore = target.double?.requests.length ?? 0;

    const again = await queries.reconcile(policies, [service(CHECKOUT)], ['zone-c']);
    expect(again).toEqual({ created: [], updated: [], deleted: [], unchanged: [queryName('default', CHECKOUT)], skipped: [] });
    expect((await ours())[0].ModifyIndex).toBe(before.ModifyIndex);
    if (target.double) {
      const writes = target.double.requests.slice(requestsBefore).filter((request) => request.path.startsWith('/v1/query') && request.method !== 'GET');
      expect(writes).toEqual([]);
    }
  });

  it('puts back a query someone changed or deleted, and deletes the query of a service no longer covered, leaving other queries alone', async () => {
    const { client } = await start();
    await instance(CHECKOUT, 'zone-a');
    const queries = new ConsulPreparedQueries(client, { namePrefix: PREFIX });
    const policies = [policy({ kind: 'Service', name: CHECKOUT })];
    const name = queryName('default', CHECKOUT);
    const foreign = `billing-${run}`;
    foreignQueries.push(foreign);
    await client.createPreparedQuery({ Name: foreign, Service: { Service: 'billing' } });
    await queries.reconcile(policies, [service(CHECKOUT)], []);

    const [stored] = await ours();
    await client.updatePreparedQuery(stored.ID, { Name: name, Service: { Service: CHECKOUT } });
    expect((await queries.reconcile(policies, [service(CHECKOUT)], [])).updated).toEqual([name]);
    expect(sameDefinition((await ours())[0], queries.wanted(policies, [service(CHECKOUT)], []).queries.get(name)!.definition)).toBe(true);
    await client.deletePreparedQuery(stored.ID);
    expect((await queries.reconcile(policies, [service(CHECKOUT)], [])).created).toEqual([name]);

    const gone = await queries.reconcile([], [service(CHECKOUT)], []);
    expect(gone).toMatchObject({ created: [], updated: [], deleted: [name] });
    expect(await ours()).toEqual([]);
    await expect(client.executePreparedQuery(name)).rejects.toBeInstanceOf(ConsulNotFoundError);
    expect((await client.preparedQueries()).queries.map((query) => query.Name)).toContain(foreign);
  });

  it('keeps namespaces apart with the portolan-namespace meta; a Mesh policy covers every service without its own', async () => {
    const { client } = await start();
    const inDefault = await instance(ORDERS, 'zone-a');
    const inShop = await instance(ORDERS, 'zone-a', 'shop');
    const shopB = await instance(ORDERS, 'zone-b', 'shop');
    const queries = new ConsulPreparedQueries(client, { namePrefix: PREFIX });
    const policies = [policy({ kind: 'Mesh' }), policy({ kind: 'Service', name: ORDERS }, ['zone-a'], { namespace: 'shop' })];

    const report = await queries.reconcile(policies, [service(ORDERS), service(ORDERS, 'shop')], []);

    expect(report.created.sort()).toEqual([queryName('default', ORDERS), queryName('shop', ORDERS)]);
    const [inDefaultQuery, inShopQuery] = await ours();
    expect(inDefaultQuery.Service).toMatchObject({ Service: ORDERS, ServiceMeta: { 'portolan-namespace': 'default' } });
    expect(inDefaultQuery.Service.Tags ?? []).toEqual([]);
    expect(inShopQuery.Service).toMatchObject({ Service: ORDERS, ServiceMeta: { 'portolan-namespace': 'shop' }, Tags: ['!zone:zone-a'] });
    await eventually(async () => expect(await executed(queryName('default', ORDERS))).toEqual([inDefault]));
    await eventually(async () => expect(await executed(queryName('shop', ORDERS))).toEqual([shopB]));
    expect(inShop).toBeDefined();
  });

  it.skipIf(realConsulAddress)('refuses with a ConsulAccessDeniedError naming the ACL it needs; a round logs it once and does not throw', async () => {
    const { target } = await start({ acl: { tokens: { 'query-reader': { keyPrefixes: { '': 'write' }, queryPrefixes: { 'portolan-': 'read' } } } } });
    const limited = new ConsulClient({ address: target.address, token: 'query-reader', prefix: target.prefix });
    const logs: Array<{ level: string; message: string }> = [];
    const queries = new ConsulPreparedQueries(limited, { log: (level, _fields, message) => logs.push({ level, message }) });
    const policies = [policy({ kind: 'Service', name: CHECKOUT })];
    try {
      const refused = queries.reconcile(policies, [service(CHECKOUT)], []);
      await expect(refused).rejects.toBeInstanceOf(ConsulAccessDeniedError);
      await expect(refused).rejects.toThrow(/query write on the prefix "portolan-" \(an ACL policy with query_prefix "portolan-" \{ policy = "write" \}\)/);
      await expect(refused).rejects.toThrow(/lacks permission 'query:write' on "portolan-default-checkout-/);

      expect(await queries.round(policies, [service(CHECKOUT)], [])).toBeUndefined();
      expect(await queries.round(policies, [service(CHECKOUT)], [])).toBeUndefined();
      expect(logs.filter((log) => log.level === 'error')).toHaveLength(1);
      expect(logs[0].message).toMatch(/not reconciled; trying again next round/);
    } finally {
      limited.close();
    }
  });

  it.skipIf(realConsulAddress)('survives Consul being unreachable: the round logs, does not throw, and converges once Consul is back', async () => {
    const { client, target } = await start();
    await instance(CHECKOUT, 'zone-a');
    const logs: Array<{ level: string; message: string }> = [];
    const queries = new ConsulPreparedQueries(client, { namePrefix: PREFIX, log: (level, _fields, message) => logs.push({ level, message }) });
    const policies = [policy({ kind: 'Service', name: CHECKOUT })];
    await target.double!.stop();
    expect(await queries.round(policies, [service(CHECKOUT)], [])).toBeUndefined();
    expect(await queries.round(policies, [service(CHECKOUT)], [])).toBeUndefined();
    expect(logs.filter((log) => log.level === 'error')).toHaveLength(1);

    await target.double!.resume();
    // The client's breaker lets a trial call through a second after the last failure.
    await eventually(async () => expect((await queries.round(policies, [service(CHECKOUT)], []))?.created).toEqual([queryName('default', CHECKOUT)]), 5_000);
    expect(logs.map((log) => log.message)).toContain('Consul prepared queries reconciled again');
  });
});

describe('the prepared queries the policies call for', () => {
  const queries = new ConsulPreparedQueries({} as ConstructorParameters<typeof ConsulPreparedQueries>[0]);

  it('follows resolution: a Service-targeted policy wins over the Mesh one, and a policy covers its service without a Service object', () => {
    const { queries: wanted } = queries.wanted(
      [policy({ kind: 'Mesh' }, ['zone-c'], { name: 'mesh' }), policy({ kind: 'Service', name: 'checkout' }, ['zone-a'], { name: 'checkout' }), policy({ kind: 'Service', name: 'search' }, [], { name: 'search' })],
      [service('checkout'), service('web')],
      ['zone-b'],
    );
    expect([...wanted.keys()]).toEqual(['portolan-default-checkout', 'portolan-default-search', 'portolan-default-web']);
    expect(wanted.get('portolan-default-checkout')!.definition.Service.Tags).toEqual(['!zone:zone-a', '!zone:zone-b']);
    expect(wanted.get('portolan-default-web')!.definition.Service.Tags).toEqual(['!zone:zone-b', '!zone:zone-c']);
    expect(wanted.get('portolan-default-search')!.definition).toEqual({
      Name: 'portolan-default-search',
      Service: { Service: 'search', Failover: { NearestN: 3 }, OnlyPassing: true, Near: '_agent', Tags: ['!zone:zone-b'] },
    });
  });

  it('covers nothing without a policy, and skips the gateways\' service and a second service whose query name is taken', () => {
    expect(queries.wanted([], [service('checkout')], ['zone-a']).queries.size).toBe(0);
    const { queries: wanted, skipped } = queries.wanted([policy({ kind: 'Mesh' })], [service('portolan-gateway'), service('c', 'a-b'), service('b-c', 'a')], []);
    expect([...wanted.values()].map((query) => query.service)).toEqual(['a/b-c']);
    expect(skipped).toEqual([
      { service: 'a-b/c', reason: 'its query name portolan-a-b-c is already a/b-c\'s' },
      { service: 'default/portolan-gateway', reason: '"portolan-gateway" is the gateways\' service in Consul: a query for it would answer with those' },
    ]);
  });

  it('compares a query as Consul answers it (zero values, nulls) with the wanted one field by field', () => {
    const wanted = queries.wanted([policy({ kind: 'Service', name: 'checkout' }, ['zone-a'])], [service('checkout')], []).queries.get('portolan-default-checkout')!.definition;
    const asConsulAnswers: PreparedQuery = {
      ID: '8f246b77-f3e1-ff88-5b48-8ec93abf3e05',
      Name: 'portolan-default-checkout',
      Session: '',
      Token: '',
      Template: { Type: '', Regexp: '', RemoveEmptyTags: false },
      Service: { Service: 'checkout', SamenessGroup: '', Failover: { NearestN: 3, Datacenters: null, Targets: null }, OnlyPassing: true, IgnoreCheckIDs: null, Near: '_agent', Tags: ['!zone:zone-a'], NodeMeta: null, ServiceMeta: null, Connect: false, Peer: '' },
      DNS: { TTL: '' },
      CreateIndex: 7,
      ModifyIndex: 7,
    };
    expect(sameDefinition(asConsulAnswers, wanted)).toBe(true);
    expect(sameDefinition({ ...asConsulAnswers, Token: '<hidden>' }, wanted)).toBe(false);
    expect(sameDefinition({ ...asConsulAnswers, Service: { ...asConsulAnswers.Service, Tags: [] } }, wanted)).toBe(false);
    expect(sameDefinition({ ...asConsulAnswers, Service: { ...asConsulAnswers.Service, OnlyPassing: false } }, wanted)).toBe(false);
    expect(sameDefinition({ ...asConsulAnswers, DNS: { TTL: '5s' } }, wanted)).toBe(false);
  });
});
