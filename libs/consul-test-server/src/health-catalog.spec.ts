import { describe, expect, it } from 'vitest';
import { sleep, useConsul } from './testing/harness.js';

const consul = useConsul();

async function register(id: string, name: string, status: string, tags: string[] = []): Promise<void> {
  const answer = await consul.put('/v1/agent/service/register', { ID: id, Name: name, Tags: tags, Port: 8080, Check: { TTL: '10s', Status: status } });
  expect(answer.status).toBe(200);
}

describe('health (api-docs/health)', () => {
  // api-docs/health List Nodes for Service: sample response {Node, Service, Checks} with the node's serfHealth among the checks
  it('lists a service as [{Node, Service, Checks}] with its checks and the node serfHealth check passing', async () => {
    await register('gw-1', 'gateway', 'passing', ['v1']);
    const [entry] = (await consul.get('/v1/health/service/gateway')).json;
    expect(entry.Node).toMatchObject({ Node: 'portolan-test-node', Address: '127.0.0.1', Datacenter: 'dc1' });
    expect(entry.Node.ID).toMatch(/^[0-9a-f-]{36}$/);
    expect(entry.Service).toMatchObject({ ID: 'gw-1', Service: 'gateway', Tags: ['v1'], Port: 8080 });
    expect(entry.Checks.map((check: { CheckID: string; Status: string }) => [check.CheckID, check.Status])).toEqual([
      ['service:gw-1', 'passing'],
      ['serfHealth', 'passing'],
    ]);
    expect(entry.Checks[0]).toMatchObject({ Node: 'portolan-test-node', ServiceID: 'gw-1', ServiceName: 'gateway', ServiceTags: ['v1'] });
  });

  // api-docs/health `passing`: "return only nodes with all checks in the passing state"
  it('keeps only entries whose checks are all passing with ?passing (warning and maintenance excluded)', async () => {
    await register('gw-1', 'gateway', 'passing');
    await register('gw-2', 'gateway', 'warning');
    await register('gw-3', 'gateway', 'critical');
    await register('gw-4', 'gateway', 'passing');
    await consul.put('/v1/agent/service/maintenance/gw-4?enable=true');
    const ids = async (query: string) => (await consul.get(`/v1/health/service/gateway${query}`)).json.map((entry: { Service: { ID: string } }) => entry.Service.ID);
    expect(await ids('')).toEqual(['gw-1', 'gw-2', 'gw-3', 'gw-4']);
    expect(await ids('?passing')).toEqual(['gw-1']);
    expect(await ids('?passing=true')).toEqual(['gw-1']);
    expect(await ids('?passing=false')).toHaveLength(4);
  });

  // api-docs/health `tag`: "Can be used multiple times for additional filtering, returning only the results that include all of the tag values provided."
  it('filters by ?tag, all tags required', async () => {
    await register('gw-1', 'gateway', 'passing', ['v1', 'zone-a']);
    await register('gw-2', 'gateway', 'passing', ['v1']);
    const ids = async (query: string) => (await consul.get(`/v1/health/service/gateway${query}`)).json.map((entry: { Service: { ID: string } }) => entry.Service.ID);
    expect(await ids('?tag=v1')).toEqual(['gw-1', 'gw-2']);
    expect(await ids('?tag=v1&tag=zone-a')).toEqual(['gw-1']);
  });

  // api-docs/health: blocking queries YES; the index is that of the last change to the service (a check status change included)
  it('wakes a blocked health/service query when a check of the service changes status, not when another service changes', async () => {
    await register('gw-1', 'gateway', 'critical');
    const { index } = await consul.get('/v1/health/service/gateway?passing');
    const started = Date.now();
    const pending = consul.get(`/v1/health/service/gateway?passing&index=${index}&wait=5s`);
    await sleep(100);
    await register('db-1', 'db', 'passing'); // another service: no wake-up
    await sleep(150);
    await consul.put('/v1/agent/check/pass/service:gw-1');
    const answer = await pending;
    expect(Date.now() - started).toBeGreaterThanOrEqual(240);
    expect(answer.index).toBeGreaterThan(index);
    expect(answer.json.map((entry: { Service: { ID: string } }) => entry.Service.ID)).toEqual(['gw-1']);
  });

  // api-docs/health: the deregistration of an instance is a change of the service
  it('wakes a blocked health/service query on deregistration', async () => {
    await register('gw-1', 'gateway', 'passing');
    const { index } = await consul.get('/v1/health/service/gateway');
    const pending = consul.get(`/v1/health/service/gateway?index=${index}&wait=5s`);
    await sleep(100);
    await consul.put('/v1/agent/service/deregister/gw-1');
    expect((await pending).json).toEqual([]);
  });

  // api-docs/health List Checks for Service
  it('lists the checks of a service with health/checks', async () => {
    await register('gw-1', 'gateway', 'warning');
    const listed = (await consul.get('/v1/health/checks/gateway')).json;
    expect(listed.map((check: { CheckID: string; Status: string }) => [check.CheckID, check.Status])).toEqual([['service:gw-1', 'warning']]);
  });

  // api-docs/health List Checks in State: "Supported states are any, passing, warning, or critical. The any state is a wildcard"
  it('lists checks by state with health/state (serfHealth included) and refuses an unknown state', async () => {
    await register('gw-1', 'gateway', 'warning');
    await register('gw-2', 'gateway', 'critical');
    const ids = async (state: string) => (await consul.get(`/v1/health/state/${state}`)).json.map((check: { CheckID: string }) => check.CheckID).sort();
    expect(await ids('any')).toEqual(['serfHealth', 'service:gw-1', 'service:gw-2']);
    expect(await ids('passing')).toEqual(['serfHealth']);
    expect(await ids('warning')).toEqual(['service:gw-1']);
    expect(await ids('critical')).toEqual(['service:gw-2']);
    expect((await consul.get('/v1/health/state/sad')).status).toBe(400);
  });

  // api-docs/health List Checks in State: Blocking Queries "YES"; the index is the checks table's (state/catalog.go checksInStateTxn: catalogChecksMaxIndex)
  it('holds a blocking health/state query until a check is added or changes status, and answers each check with its ModifyIndex', async () => {
    await register('gw-1', 'gateway', 'passing');
    const first = await consul.get('/v1/health/state/any');
    const gw1 = first.json.find((check: { CheckID: string }) => check.CheckID === 'service:gw-1');
    expect(gw1).toMatchObject({ Node: 'portolan-test-node', ServiceID: 'gw-1', ServiceName: 'gateway', Status: 'passing', ModifyIndex: first.index });
    const pending = consul.get(`/v1/health/state/any?index=${first.index}&wait=5s`);
    await sleep(100);
    await consul.put('/v1/agent/check/warn/service:gw-1?note=slow');
    const changed = await pending;
    expect(changed.index).toBeGreaterThan(first.index);
    expect(changed.json.find((check: { CheckID: string }) => check.CheckID === 'service:gw-1')).toMatchObject({ Status: 'warning', ModifyIndex: changed.index });

    const critical = consul.get(`/v1/health/state/critical?index=${changed.index}&wait=5s`);
    await sleep(100);
    await register('db-1', 'db', 'critical');
    expect((await critical).json.map((check: { CheckID: string }) => check.CheckID)).toEqual(['service:db-1']);
  });

  // state/catalog.go ensureRegistrationTxn: a service or check that IsSame as the stored one is not rewritten
  it('moves catalog/services but not health/state when an instance is registered again with only a new port, and neither for an identical registration', async () => {
    await register('gw-1', 'gateway', 'passing');
    const services = await consul.get('/v1/catalog/services');
    const checks = await consul.get('/v1/health/state/any');
    const modifyIndex = checks.json.find((check: { CheckID: string }) => check.CheckID === 'service:gw-1').ModifyIndex;
    await register('gw-1', 'gateway', 'passing');
    expect((await consul.get('/v1/catalog/services')).index).toBe(services.index);

    expect((await consul.put('/v1/agent/service/register', { ID: 'gw-1', Name: 'gateway', Tags: [], Port: 9090, Check: { TTL: '10s', Status: 'passing' } })).status).toBe(200);
    expect((await consul.get('/v1/catalog/services')).index).toBeGreaterThan(services.index);
    const after = await consul.get('/v1/health/state/any');
    expect(after.index).toBe(checks.index);
    expect(after.json.find((check: { CheckID: string }) => check.CheckID === 'service:gw-1').ModifyIndex).toBe(modifyIndex);
    expect((await consul.get('/v1/health/service/gateway')).json[0].Service.Port).toBe(9090);
  });
});

describe('catalog (api-docs/catalog)', () => {
  // api-docs/catalog List Services: a map of service name to tags; Consul's servers register the `consul` service themselves
  it('lists services with the union of their tags, consul included', async () => {
    await register('gw-1', 'gateway', 'passing', ['v1', 'a']);
    await register('gw-2', 'gateway', 'passing', ['v1', 'b']);
    expect((await consul.get('/v1/catalog/services')).json).toEqual({ consul: [], gateway: ['v1', 'a', 'b'] });
  });

  // api-docs/catalog List Nodes for Service
  it('lists the instances of a service with catalog/service (filtered by ?tag) and the node with catalog/nodes', async () => {
    await register('gw-1', 'gateway', 'critical', ['v1']);
    await register('gw-2', 'gateway', 'passing', ['v2']);
    const instances = (await consul.get('/v1/catalog/service/gateway')).json;
    expect(instances.map((instance: { ServiceID: string }) => instance.ServiceID)).toEqual(['gw-1', 'gw-2']);
    expect(instances[0]).toMatchObject({ Node: 'portolan-test-node', Address: '127.0.0.1', Datacenter: 'dc1', ServiceName: 'gateway', ServiceTags: ['v1'], ServicePort: 8080 });
    expect((await consul.get('/v1/catalog/service/gateway?tag=v2')).json).toHaveLength(1);
    expect((await consul.get('/v1/catalog/nodes')).json).toMatchObject([{ Node: 'portolan-test-node', Address: '127.0.0.1', Datacenter: 'dc1' }]);
  });

  // api-docs/catalog: blocking queries YES
  it('wakes a blocked catalog/services query when a service registers', async () => {
    const { index } = await consul.get('/v1/catalog/services');
    const pending = consul.get(`/v1/catalog/services?index=${index}&wait=5s`);
    await sleep(100);
    await register('gw-1', 'gateway', 'passing');
    const answer = await pending;
    expect(answer.index).toBeGreaterThan(index);
    expect(Object.keys(answer.json)).toEqual(['consul', 'gateway']);
  });
});

describe('status (api-docs/status)', () => {
  it('names the leader and the peers', async () => {
    expect((await consul.get('/v1/status/leader')).json).toBe('127.0.0.1:8300');
    expect((await consul.get('/v1/status/peers')).json).toEqual(['127.0.0.1:8300']);
  });
});
