/**
 * The Consul registry over real HTTP: against the Consul test double, or a real Consul when
 * CONSUL_HTTP_ADDR is set (CONSUL_HTTP_TOKEN as its token; a dev agent, since the contract expects
 * a catalog without other services). Time is real, so the settings are short but leave every
 * real-time expectation of the contract at least a heartbeat interval (500 ms) of slack.
 */
import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ConsulTestServerOptions } from '@portolan/consul-test-server';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConsulClient, ServiceRegistration } from '../consul/consul-client';
import { realConsulAddress, startConsulTestTarget, type ConsulTestTarget } from '../consul/consul-test-target';
import { ConsulNodeRegistry, GATEWAY_SERVICE, routesFromMeta, routesMeta, ttlCheckId, type ConsulRegistryOptions } from './consul-node-registry';
import { describeNodeRegistryContract } from './node-registry.contract';
import { NodeNotFoundError, type RegistryChange } from './node-registry';

const settings = { heartbeatIntervalMs: 500, ttlMs: 1_500, removeAfterMs: 2_000 };
/** Marks the services these specs register as "another tool", so a real Consul can be cleaned up. */
const OTHER_TOOL_TAG = 'portolan-registry-spec';

async function startConsul(options: ConsulTestServerOptions = {}): Promise<ConsulTestTarget> {
  const target = await startConsulTestTarget({ aclToken: 'registry-spec-token', reapIntervalMs: 200, minDeregisterAfterMs: 1_000, ...options });
  await removeSpecServices(target.client());
  return target;
}

/** What a run leaves in a real Consul: our registrations and the specs' "other tool" services. */
async function removeSpecServices(client: ConsulClient): Promise<void> {
  const { value: services } = await client.catalogServices();
  for (const name of Object.keys(services)) {
    for (const entry of (await client.healthService(name)).value) {
      if (entry.Service.Meta?.['portolan-role'] || entry.Service.Tags?.includes(OTHER_TOOL_TAG)) await client.deregisterService(entry.Service.ID);
    }
  }
}

async function stopConsul(target: ConsulTestTarget): Promise<void> {
  if (realConsulAddress) await removeSpecServices(target.client());
  await target.close();
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

describeNodeRegistryContract('consul', async () => {
  const consul = await startConsul();
  const client = consul.client();
  const open = async () => {
    const registry = new ConsulNodeRegistry(client, { settings });
    await registry.start();
    return registry;
  };
  let registry = await open();
  return {
    registry,
    settings,
    advance: (ms: number) => sleep(ms),
    reopen: async () => {
      await registry.close();
      registry = await open();
      return registry;
    },
    cleanup: async () => {
      await registry.close();
      await stopConsul(consul);
    },
  };
});

const gateway = { role: 'gateway' as const, name: 'edge-a-1', zone: 'zone-a', pool: 'edge', address: '127.0.0.1:8080', version: '1.2.0' };
const instance = { role: 'instance' as const, service: { namespace: 'shop', name: 'orders' }, zone: 'zone-b', address: '10.0.0.5', port: 9000, weight: 3 };

describe('ConsulNodeRegistry in Consul', () => {
  let target: ConsulTestTarget | undefined;
  const consul = () => target!;
  /** One client for the specs' own calls: a client per call would hold a connection each. */
  let specClient: ConsulClient | undefined;
  const client = (): ConsulClient => (specClient ??= consul().client());
  const replicas: ConsulNodeRegistry[] = [];
  const openReplica = async (options: Partial<ConsulRegistryOptions> = {}) => {
    target ??= await startConsul();
    const registry = new ConsulNodeRegistry(target.client(), { settings, ...options });
    await registry.start();
    replicas.push(registry);
    return registry;
  };
  const passingIds = async (service: string) => (await client().healthService(service, { passing: true })).value.map((entry) => entry.Service.ID);
  afterEach(async () => {
    for (const replica of replicas.splice(0)) await replica.close();
    if (target) await stopConsul(target);
    target = undefined;
    specClient = undefined;
  });

  it('registers gateways and instances as Consul service instances with a passing TTL check, zone and pool in tags and meta, and only a hash of the credential', async () => {
    const registry = await openReplica();
    const { node, credential } = await registry.register({ ...gateway, routes: [{ namespace: 'shop', name: 'orders' }] });
    const orders = await registry.register(instance);

    const [entry] = (await client().healthService(GATEWAY_SERVICE, { passing: true })).value;
    expect(entry.Service).toMatchObject({
      ID: node.id,
      Address: '127.0.0.1',
      Port: 8080,
      Tags: ['pool:edge', 'zone:zone-a'],
      Meta: { zone: 'zone-a', pool: 'edge', version: '1.2.0', 'portolan-role': 'gateway', 'portolan-name': 'edge-a-1', 'portolan-credential-sha256': createHash('sha256').update(credential).digest('hex') },
    });
    expect(entry.Checks.find((check) => check.CheckID === ttlCheckId(node.id))?.Status).toBe('passing');
    expect(JSON.stringify(entry)).not.toContain(credential);
    const [ordersEntry] = (await client().healthService('orders', { passing: true })).value;
    expect(ordersEntry.Service).toMatchObject({ ID: orders.node.id, Address: '10.0.0.5', Port: 9000, Meta: { zone: 'zone-b', weight: '3', 'portolan-namespace': 'shop' } });

    const other = await openReplica();
    expect(other.authenticate(node.id, credential)?.spec).toEqual(node.spec);
    expect(other.get(orders.node.id)).toMatchObject({ namespace: 'shop', name: orders.node.name, spec: orders.node.spec, lifecycle: { phase: 'Healthy' } });
  });

  it('fails the TTL check of a gateway whose stream was lost, so Consul and other replicas stop routing to it, and passes it again on a new stream', async () => {
    const registry = await openReplica();
    const { node } = await registry.register(gateway);
    await registry.heartbeat(node.id, {});
    const other = await openReplica();
    await eventually(() => expect(other.get(node.id)?.lifecycle.phase).toBe('Healthy'));

    registry.setStreamLost(node.id, true);
    expect(registry.get(node.id)!.lifecycle).toMatchObject({ phase: 'Offline', streamLost: true });
    await eventually(async () => expect(await passingIds(GATEWAY_SERVICE)).toEqual([]));
    const [entry] = (await client().healthService(GATEWAY_SERVICE)).value;
    expect(entry.Checks.find((check) => check.CheckID === ttlCheckId(node.id))).toMatchObject({ Status: 'critical', Output: expect.stringContaining('StreamLost') });
    await eventually(() => expect(other.get(node.id)?.lifecycle.phase).toBe('Offline'));

    // Its next heartbeat passes the check again...
    await registry.heartbeat(node.id, {});
    await eventually(async () => expect(await passingIds(GATEWAY_SERVICE)).toEqual([node.id]));
    await eventually(() => expect(other.get(node.id)?.lifecycle.phase).toBe('Healthy'));

    // ...and so does a new stream, here where it heartbeated within its TTL.
    await registry.heartbeat(node.id, {});
    registry.setStreamLost(node.id, true);
    registry.setStreamLost(node.id, false);
    await eventually(async () => expect(await passingIds(GATEWAY_SERVICE)).toEqual([node.id]));
    await sleep(300);
    expect(await passingIds(GATEWAY_SERVICE)).toEqual([node.id]);
    registry.setStreamLost(node.id, true);
    await eventually(async () => expect(await passingIds(GATEWAY_SERVICE)).toEqual([]));
    registry.setStreamLost(node.id, false);
    await eventually(async () => expect(await passingIds(GATEWAY_SERVICE)).toEqual([node.id]));
  });

  it('takes a drained node out of the passing set and deregisters it', async () => {
    const registry = await openReplica();
    const { node } = await registry.register(gateway);
    await registry.drain(node.id);
    expect(await passingIds(GATEWAY_SERVICE)).toEqual([]);
    const [entry] = (await client().healthService(GATEWAY_SERVICE)).value;
    expect(entry.Checks.map((check) => check.CheckID)).toContain(`_service_maintenance:${node.id}`);
    await registry.heartbeat(node.id, {});
    expect(await passingIds(GATEWAY_SERVICE)).toEqual([]);
    await registry.deregister(node.id);
    expect((await client().healthService(GATEWAY_SERVICE)).value).toEqual([]);
  });

  it('shows instances other tools registered, read-only, routable only while passing, and never removes them', async () => {
    const registry = await openReplica();
    await client().registerService({
      ID: 'web-1',
      Name: 'web',
      Tags: [OTHER_TOOL_TAG],
      Address: '10.1.0.7',
      Port: 8080,
      Meta: { zone: 'zone-b' },
      Check: { CheckID: 'web-1-alive', TTL: '1m', Status: 'passing' },
    });
    await eventually(() => expect(registry.nodes().find((node) => node.name === 'web-1')?.lifecycle.phase).toBe('Healthy'));
    const web = registry.nodes().find((node) => node.name === 'web-1')!;
    expect(web).toMatchObject({ role: 'instance', namespace: 'default', spec: { service: 'web', address: '10.1.0.7', port: 8080, zone: 'zone-b' } });
    expect(registry.authenticate(web.id, '')).toBeUndefined();
    await expect(registry.heartbeat(web.id, {})).rejects.toBeInstanceOf(NodeNotFoundError);

    await client().updateTtlCheck('web-1-alive', 'warning', 'slow');
    await eventually(() => expect(registry.get(web.id)?.lifecycle.phase).toBe('Degraded'));
    await client().updateTtlCheck('web-1-alive', 'critical', 'down');
    await eventually(() => expect(registry.get(web.id)?.lifecycle.phase).toBe('Offline'));
    await sleep(settings.removeAfterMs + settings.heartbeatIntervalMs);
    expect(registry.get(web.id)?.lifecycle.phase).toBe('Offline');
    expect((await client().healthService('web')).value).toHaveLength(1);
  });

  it('keeps a node Healthy in both replicas while it heartbeats to the other one', async () => {
    const first = await openReplica();
    const second = await openReplica();
    const { node } = await first.register(gateway);
    await eventually(() => expect(second.get(node.id)).toBeDefined());
    for (let elapsed = 0; elapsed < settings.ttlMs * 2; elapsed += settings.heartbeatIntervalMs) {
      await second.heartbeat(node.id, {});
      await sleep(settings.heartbeatIntervalMs);
    }
    expect(first.get(node.id)!.lifecycle.phase).toBe('Healthy');
    expect(second.get(node.id)!.lifecycle.phase).toBe('Healthy');
  });

  it('answers a heartbeat for a node Consul no longer has with NodeNotFoundError', async () => {
    const registry = await openReplica();
    const { node } = await registry.register(gateway);
    await client().deregisterService(node.id);
    await expect(registry.heartbeat(node.id, {})).rejects.toBeInstanceOf(NodeNotFoundError);
    expect(registry.get(node.id)).toBeUndefined();
  });

  it.skipIf(realConsulAddress)('keeps its view and answers heartbeats while Consul is down, and passes the checks kept meanwhile once it is back', async () => {
    const registry = await openReplica();
    const { node } = await registry.register(gateway);
    const changes: RegistryChange[] = [];
    registry.onChange((change) => changes.push(change));

    await consul().double!.stop();
    // Consul's TTL runs out meanwhile; the node heartbeats to this replica all along.
    for (let elapsed = 0; elapsed < settings.ttlMs * 2; elapsed += settings.heartbeatIntervalMs) {
      expect((await registry.heartbeat(node.id, {})).lifecycle.phase).toBe('Healthy');
      await sleep(settings.heartbeatIntervalMs);
    }
    await registry.heartbeat(node.id, {});
    await expect(registry.drain(node.id)).rejects.toMatchObject({ code: 'PORTOLAN_CONSUL_UNAVAILABLE' });
    expect(registry.nodes().map((current) => [current.id, current.lifecycle.phase])).toEqual([[node.id, 'Healthy']]);

    // No heartbeat from here on: what passes the check is the one kept while Consul was down.
    await consul().double!.resume();
    await eventually(async () => expect(await passingIds(GATEWAY_SERVICE)).toEqual([node.id]), settings.ttlMs);
    expect(changes).toEqual([]);
  });

  it('sees a catalog of 250 services other tools registered through a few connections to Consul, never meeting its per-client limit', async () => {
    // Far below one connection per service: what the registry needs whatever the catalog holds, plus this spec's client.
    const connectionsAllowed = 16;
    target = await startConsul({ maxConnsPerClient: connectionsAllowed });
    const service = (index: number): ServiceRegistration => ({
      ID: `tool-svc-${index}-1`,
      Name: `tool-svc-${index}`,
      Tags: [OTHER_TOOL_TAG],
      Address: `10.2.${Math.floor(index / 200)}.${index % 200}`,
      Port: 8080,
      Check: { CheckID: `tool-svc-${index}-alive`, TTL: '5m', Status: 'passing' },
    });
    const toolInstances = (registry: ConsulNodeRegistry) => registry.nodes().filter((node) => /^tool-svc-\d+$/.test((node.spec as { service?: string }).service ?? ''));
    for (let index = 0; index < 125; index++) await client().registerService(service(index));
    const registry = await openReplica();
    expect(toolInstances(registry)).toHaveLength(125);

    for (let index = 125; index < 250; index++) await client().registerService(service(index));
    await eventually(() => expect(toolInstances(registry)).toHaveLength(250), 30_000);
    expect(toolInstances(registry).filter((node) => node.spec.address === '10.2.0.137')).toMatchObject([
      { role: 'instance', name: 'tool-svc-137-1', spec: { service: 'tool-svc-137', port: 8080 }, lifecycle: { phase: 'Healthy' } },
    ]);
    if (consul().double) {
      expect(consul().double!.refusedConnections).toBe(0);
      expect(consul().double!.peakConnectionsPerClient).toBeLessThanOrEqual(connectionsAllowed);
    }
  });

  it('shows the new port of another tool\'s instance registered again with only its port changed (no check changes)', async () => {
    const registry = await openReplica();
    const web: ServiceRegistration = { ID: 'web-1', Name: 'web', Tags: [OTHER_TOOL_TAG], Address: '10.1.0.7', Port: 8080, Check: { CheckID: 'web-1-alive', TTL: '5m', Status: 'passing' } };
    await client().registerService(web);
    await eventually(() => expect(registry.nodes().find((node) => node.name === 'web-1')?.spec).toMatchObject({ port: 8080 }));
    const { id } = registry.nodes().find((node) => node.name === 'web-1')!;

    await client().registerService({ ...web, Port: 9090 });
    // The catalog's index moved, but no check did: the registry reads every service again within a few seconds.
    await eventually(() => expect(registry.get(id)?.spec).toMatchObject({ address: '10.1.0.7', port: 9090 }), 15_000);
    expect(registry.get(id)?.lifecycle.phase).toBe('Healthy');
  });

  it('keeps a gateway\'s routes in Meta values of at most 512 bytes, and another replica reads them back exactly', async () => {
    const registry = await openReplica();
    const routes = Array.from({ length: 300 }, (_, index) => ({ namespace: `team-${index % 7}`, name: `route-${index}` }));
    const { node } = await registry.register({ ...gateway, routes });
    const [entry] = (await client().healthService(GATEWAY_SERVICE)).value;
    const chunks = Object.entries(entry.Service.Meta ?? {}).filter(([key]) => key.startsWith('portolan-routes-'));
    expect(chunks.length).toBeGreaterThan(1);
    for (const [, value] of chunks) expect(Buffer.byteLength(value)).toBeLessThanOrEqual(512);
    const other = await openReplica();
    expect(other.get(node.id)?.spec).toEqual({ ...node.spec, routes });
  });

  it('refuses routes past what Consul\'s Meta can hold, naming the field and how to fix it, and stores nothing', async () => {
    const registry = await openReplica();
    const routes = Array.from({ length: 2_000 }, (_, index) => ({ namespace: 'shop', name: `route-${index}` }));
    await expect(registry.register({ ...gateway, routes })).rejects.toMatchObject({
      code: 'PORTOLAN_INVALID_REGISTRATION',
      causes: [{ field: 'spec.routes', message: expect.stringMatching(/^Too long: \d+ bytes of JSON; .*list fewer routes, or none to serve every Route$/) }],
    });
    expect((await client().healthService(GATEWAY_SERVICE)).value).toEqual([]);
  });

  // Route names are DNS labels today, so register() cannot carry non-ASCII routes: the Meta is written here as a replica would write it.
  it('cuts non-ASCII routes between code points into values Consul accepts (512 bytes), which a replica reads back exactly', async () => {
    const registry = await openReplica();
    const routes = Array.from({ length: 40 }, (_, index) => ({ namespace: 'café', name: `/café/🚀/${index}` }));
    const meta = routesMeta('edge-a-1', routes, 56);
    expect(Object.keys(meta).length).toBeGreaterThan(1);
    for (const value of Object.values(meta)) {
      expect(Buffer.byteLength(value)).toBeLessThanOrEqual(512);
      expect(Buffer.from(value).toString()).toBe(value); // a surrogate pair cut in half would come back as U+FFFD
    }
    expect(routesFromMeta(meta)).toEqual({ routes });

    const id = randomUUID();
    await client().registerService({
      ID: id,
      Name: GATEWAY_SERVICE,
      Tags: [OTHER_TOOL_TAG],
      Address: '127.0.0.1',
      Port: 8081,
      Meta: { 'portolan-role': 'gateway', 'portolan-credential-sha256': createHash('sha256').update('unused').digest('hex'), 'portolan-name': 'edge-b-1', zone: 'zone-a', pool: 'edge', ...meta },
      Check: { CheckID: ttlCheckId(id), TTL: '5m', Status: 'passing' },
    });
    await eventually(() => expect(registry.get(id)?.spec).toMatchObject({ routes }));
  });

  it('removes a node that stayed Offline only while leading, and the other replicas hear of it', async () => {
    let leading = false;
    const follower = await openReplica({ isLeader: () => leading });
    const observer = await openReplica({ isLeader: () => false });
    const { node } = await follower.register(gateway);
    await eventually(() => expect(observer.get(node.id)).toBeDefined());

    for (const replica of [follower, observer]) {
      await eventually(() => expect(replica.get(node.id)?.lifecycle).toMatchObject({ phase: 'Offline', remove: true }), settings.ttlMs + settings.removeAfterMs + 2_000);
    }
    await sleep(settings.heartbeatIntervalMs);
    expect(follower.get(node.id)?.lifecycle.phase).toBe('Offline');
    expect((await client().healthService(GATEWAY_SERVICE)).value).toHaveLength(1);

    leading = true;
    await eventually(() => expect(follower.get(node.id)).toBeUndefined());
    await eventually(() => expect(observer.get(node.id)).toBeUndefined());
    expect((await client().healthService(GATEWAY_SERVICE)).value).toEqual([]);
  });
});
