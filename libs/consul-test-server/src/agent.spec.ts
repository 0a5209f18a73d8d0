import { describe, expect, it } from 'vitest';
import { sleep, useConsul } from './testing/harness.js';

const consul = useConsul();

const gateway = (extra: Record<string, unknown> = {}) => ({
  ID: 'gw-1',
  Name: 'gateway',
  Tags: ['v1'],
  Address: '127.0.0.1',
  Port: 8080,
  Meta: { zone: 'a' },
  Check: { TTL: '10s' },
  ...extra,
});

const checks = async () => (await consul.get('/v1/agent/checks')).json as Record<string, Record<string, unknown>>;

describe('agent services and checks (api-docs/agent/service, api-docs/agent/check)', () => {
  // api-docs/agent/service Register: ID "defaults to the Name"; "If you don't provide a name or id for the check then they will be generated"
  // api-docs/agent/check: Status "Specifies the initial status of the health check" (critical when not given, as Consul does)
  it('registers a service with a TTL check named service:<ID>, critical until told otherwise, and lists both', async () => {
    expect((await consul.put('/v1/agent/service/register', gateway())).status).toBe(200);
    const services = (await consul.get('/v1/agent/services')).json;
    expect(services['gw-1']).toMatchObject({ ID: 'gw-1', Service: 'gateway', Tags: ['v1'], Address: '127.0.0.1', Port: 8080, Meta: { zone: 'a' }, EnableTagOverride: false });
    expect((await checks())['service:gw-1']).toMatchObject({ CheckID: 'service:gw-1', Name: "Service 'gateway' check", Status: 'critical', ServiceID: 'gw-1', ServiceName: 'gateway' });
    await consul.put('/v1/agent/service/register', { Name: 'db', Check: { TTL: '10s', Status: 'passing' } });
    expect((await consul.get('/v1/agent/services')).json.db.ID).toBe('db');
    expect((await checks())['service:db'].Status).toBe('passing');
  });

  // api-docs/agent/service Checks: "The automatically generated Name and CheckID depend on the position of the check within the array"
  it('numbers the generated IDs of several checks service:<ID>:1, :2', async () => {
    await consul.put('/v1/agent/service/register', gateway({ Check: undefined, Checks: [{ TTL: '10s' }, { TTL: '10s', CheckID: 'custom', Name: 'Custom' }, { TTL: '10s' }] }));
    expect(Object.keys(await checks()).sort()).toEqual(['custom', 'service:gw-1:1', 'service:gw-1:3']);
  });

  // api-docs/agent/check TTL Check Pass/Warn/Fail: "set the status of the check to passing ... and to reset the TTL clock"; note "will be passed through to the check's Output field"
  it('sets passing, warning and critical with pass/warn/fail and the note as Output', async () => {
    await consul.put('/v1/agent/service/register', gateway());
    for (const [verb, status] of [['pass', 'passing'], ['warn', 'warning'], ['fail', 'critical']]) {
      expect((await consul.put(`/v1/agent/check/${verb}/service:gw-1?note=${verb}ed`)).status).toBe(200);
      expect((await checks())['service:gw-1']).toMatchObject({ Status: status, Output: `${verb}ed` });
    }
  });

  // api-docs/agent/check Update TTL Check: body {Status, Output}
  it('sets the status and output with check/update, and refuses an unknown status', async () => {
    await consul.put('/v1/agent/service/register', gateway());
    expect((await consul.put('/v1/agent/check/update/service:gw-1', { Status: 'warning', Output: 'slow' })).status).toBe(200);
    expect((await checks())['service:gw-1']).toMatchObject({ Status: 'warning', Output: 'slow' });
    expect((await consul.put('/v1/agent/check/update/service:gw-1', { Status: 'fine' })).status).toBe(400);
  });

  // api-docs/agent/check TTL: "the TTL endpoint must be used periodically to update the state of the check"; when it is not, the check turns critical ("TTL expired")
  it('turns a TTL check critical with Output "TTL expired" when it is not updated within its TTL, and each update resets the clock', async () => {
    await consul.put('/v1/agent/service/register', gateway({ Check: { TTL: '400ms', Status: 'passing' } }));
    await sleep(200);
    await consul.put('/v1/agent/check/pass/service:gw-1');
    await sleep(250); // 450ms after registration, 250ms after the pass
    expect((await checks())['service:gw-1'].Status).toBe('passing');
    await sleep(300);
    expect((await checks())['service:gw-1']).toMatchObject({ Status: 'critical', Output: 'TTL expired' });
  });

  // Consul restores a re-registered check's status from its snapshot of check state (agent.go addServiceInternal; the docs are silent)
  it('keeps the status of an existing check when the service is registered again, and writes nothing for an identical registration', async () => {
    await consul.put('/v1/agent/service/register', gateway());
    await consul.put('/v1/agent/check/pass/service:gw-1?note=ok');
    const index = consul.server.index;
    await consul.put('/v1/agent/service/register', gateway());
    expect((await checks())['service:gw-1']).toMatchObject({ Status: 'passing', Output: 'ok' });
    expect(consul.server.index).toBe(index);
    await consul.put('/v1/agent/service/register', gateway({ Port: 9090 }));
    expect(consul.server.index).toBe(index + 1);
    expect((await checks())['service:gw-1'].Status).toBe('passing');
  });

  // api-docs/agent/service `replace-existing-checks`: "Missing health checks from the request will be deleted from the agent."
  it('removes checks missing from a re-registration only with ?replace-existing-checks', async () => {
    await consul.put('/v1/agent/service/register', gateway({ Check: undefined, Checks: [{ CheckID: 'a', TTL: '10s' }, { CheckID: 'b', TTL: '10s' }] }));
    await consul.put('/v1/agent/service/register', gateway({ Check: undefined, Checks: [{ CheckID: 'a', TTL: '10s' }] }));
    expect(Object.keys(await checks()).sort()).toEqual(['a', 'b']);
    await consul.put('/v1/agent/service/register?replace-existing-checks', gateway({ Check: undefined, Checks: [{ CheckID: 'a', TTL: '10s' }] }));
    expect(Object.keys(await checks())).toEqual(['a']);
  });

  // api-docs/agent/service Deregister: "If there is an associated check, that is also deregistered."; Consul answers an unknown ID with 404
  it('deregisters a service with its checks, and answers an unknown service ID with 404 like Consul', async () => {
    await consul.put('/v1/agent/service/register', gateway());
    expect((await consul.put('/v1/agent/service/deregister/gw-1')).status).toBe(200);
    expect((await consul.get('/v1/agent/services')).json).toEqual({});
    expect(await checks()).toEqual({});
    const unknown = await consul.put('/v1/agent/service/deregister/gw-1');
    expect(unknown.status).toBe(404);
    expect(unknown.text).toBe('Unknown service ID "gw-1". Ensure that the service ID is passed, not the service name.');
  });

  // Consul answers an update of an unknown check with 404 "Unknown check ID"
  it('answers pass/warn/fail/update of an unknown check ID with 404', async () => {
    const answer = await consul.put('/v1/agent/check/pass/nope');
    expect(answer.status).toBe(404);
    expect(answer.text).toBe('Unknown check ID "nope". Ensure that the check ID is passed, not the check name.');
    expect((await consul.put('/v1/agent/check/update/nope', { Status: 'passing' })).status).toBe(404);
  });

  // api-docs/agent/service Enable Maintenance Mode: "the service will be marked as unavailable"; "This API call is idempotent"
  it('adds and removes the critical _service_maintenance:<id> check with maintenance enable=true|false', async () => {
    await consul.put('/v1/agent/service/register', gateway({ Check: { TTL: '10s', Status: 'passing' } }));
    expect((await consul.put('/v1/agent/service/maintenance/gw-1?enable=true&reason=deploy')).status).toBe(200);
    expect((await checks())['_service_maintenance:gw-1']).toMatchObject({ Name: 'Service Maintenance Mode', Status: 'critical', Notes: 'deploy', ServiceID: 'gw-1' });
    const index = consul.server.index;
    await consul.put('/v1/agent/service/maintenance/gw-1?enable=true');
    expect(consul.server.index).toBe(index);
    await consul.put('/v1/agent/service/maintenance/gw-1?enable=false');
    expect((await checks())['_service_maintenance:gw-1']).toBeUndefined();
    expect((await consul.put('/v1/agent/service/maintenance/nope?enable=true')).status).toBe(404);
    expect((await consul.put('/v1/agent/service/maintenance/gw-1')).status).toBe(400);
  });

  // api-docs/agent/check DeregisterCriticalServiceAfter: "If a check is in the critical state for more than this configured value, then its associated service (and all of its associated checks) will automatically be deregistered."
  it('reaps a service whose check stays critical longer than DeregisterCriticalServiceAfter', async () => {
    await consul.start({ reapIntervalMs: 50, minDeregisterAfterMs: 100 });
    await consul.put('/v1/agent/service/register', gateway({ Check: { TTL: '10s', DeregisterCriticalServiceAfter: '200ms' } }));
    await consul.put('/v1/agent/service/register', { ID: 'db-1', Name: 'db', Check: { TTL: '10s', Status: 'passing', DeregisterCriticalServiceAfter: '200ms' } });
    await sleep(100);
    expect(Object.keys((await consul.get('/v1/agent/services')).json)).toEqual(['gw-1', 'db-1']);
    await sleep(400);
    expect(Object.keys((await consul.get('/v1/agent/services')).json)).toEqual(['db-1']);
    expect((await consul.get('/v1/health/service/gateway')).json).toEqual([]);
  });

  // api-docs/agent/check DeregisterCriticalServiceAfter: "The minimum timeout is 1 minute" (minDeregisterAfterMs here)
  it('raises a DeregisterCriticalServiceAfter below the minimum to the minimum', async () => {
    await consul.start({ reapIntervalMs: 50, minDeregisterAfterMs: 600 });
    await consul.put('/v1/agent/service/register', gateway({ Check: { TTL: '10s', DeregisterCriticalServiceAfter: '100ms' } }));
    await sleep(350);
    expect(Object.keys((await consul.get('/v1/agent/services')).json)).toEqual(['gw-1']);
    await sleep(500);
    expect((await consul.get('/v1/agent/services')).json).toEqual({});
  });

  // Outage: TTL checks keep expiring while the listener is stopped
  it('keeps TTL checks running while stopped', async () => {
    await consul.put('/v1/agent/service/register', gateway({ Check: { TTL: '200ms', Status: 'passing' } }));
    await consul.server.stop();
    await sleep(300);
    await consul.server.resume();
    expect((await checks())['service:gw-1'].Status).toBe('critical');
  });

  // docs/services/configuration/services-configuration-reference#meta: "up to 64 key/value pairs", keys "up to 128 characters", values "up to 512 characters";
  // the agent answers 400 "Invalid Service Meta: ..." (agent_endpoint.go AgentRegisterService; texts from structs.go validateMetaPair), and Go's len counts UTF-8 bytes
  it('refuses Meta past 64 pairs, a key past 128 characters or a value past 512 bytes with 400 and Consul\'s message', async () => {
    const register = (meta: Record<string, string>) => consul.put('/v1/agent/service/register', gateway({ Meta: meta }));
    const pairs = (count: number) => Object.fromEntries(Array.from({ length: count }, (_, index) => [`key-${index}`, 'v']));
    expect((await register(pairs(64))).status).toBe(200);
    const tooMany = await register(pairs(65));
    expect(tooMany.status).toBe(400);
    expect(tooMany.text).toBe('Invalid Service Meta: Node metadata cannot contain more than 64 key/value pairs');

    expect((await register({ ['k'.repeat(128)]: 'v' })).status).toBe(200);
    const longKey = await register({ ['k'.repeat(129)]: 'v' });
    expect(longKey.status).toBe(400);
    expect(longKey.text).toBe(`Invalid Service Meta: Couldn't load metadata pair ('${'k'.repeat(129)}', 'v'): Key is too long (limit: 128 characters)`);

    const ascii = 'a'.repeat(512);
    const accents = 'é'.repeat(256); // 256 characters, 512 bytes
    const emoji = '🚀'.repeat(128); // 256 UTF-16 units, 512 bytes
    for (const value of [ascii, accents, emoji]) expect((await register({ routes: value })).status).toBe(200);
    for (const value of [`${ascii}a`, `${accents}é`, `${'é'.repeat(200)}${'🚀'.repeat(29)}`]) {
      const answer = await register({ routes: value });
      expect(answer.status).toBe(400);
      expect(answer.text).toBe(`Invalid Service Meta: Couldn't load metadata pair ('routes', '${value}'): Value is too long (limit: 512 characters)`);
    }
    expect((await consul.get('/v1/agent/service/gw-1')).json.Meta).toEqual({ routes: emoji });

    expect((await register({ 'no spaces': 'v' })).text).toMatch(/Key contains invalid characters$/);
    expect((await register({ 'consul-version': 'v' })).text).toMatch(/Key prefix 'consul-' is reserved for internal use$/);
  });

  it('refuses a registration without a Name, or with a check of no known kind', async () => {
    expect((await consul.put('/v1/agent/service/register', { ID: 'x' })).status).toBe(400);
    expect((await consul.put('/v1/agent/service/register', { Name: 'x', Check: { Notes: 'no kind' } })).status).toBe(400);
  });
});
