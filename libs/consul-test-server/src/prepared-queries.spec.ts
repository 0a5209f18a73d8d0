import { describe, expect, it } from 'vitest';
import { useConsul, type Answer } from './testing/harness.js';

const consul = useConsul();

async function register(id: string, name: string, status: string, { tags = [] as string[], meta = {} as Record<string, string> } = {}): Promise<void> {
  const answer = await consul.put('/v1/agent/service/register', { ID: id, Name: name, Tags: tags, Meta: meta, Port: 8080, Check: { TTL: '10s', Status: status } });
  expect(answer.status).toBe(200);
}

async function create(definition: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  return consul.call('POST', '/v1/query', { body: definition, headers });
}

async function createdId(definition: unknown): Promise<string> {
  const answer = await create(definition);
  expect(answer.status).toBe(200);
  return answer.json.ID;
}

const executedIds = async (idOrName: string, query = ''): Promise<string[]> => {
  const answer = await consul.get(`/v1/query/${idOrName}/execute${query}`);
  expect(answer.status).toBe(200);
  return answer.json.Nodes.map((entry: { Service: { ID: string } }) => entry.Service.ID).sort();
};

const UNKNOWN_ID = '8f246b77-f3e1-ff88-5b48-8ec93abf3e05';

describe('prepared queries (api-docs/query)', () => {
  // api-docs/query Create: sample response {"ID": "<uuid>"}; List: the query with every field (structs.PreparedQuery: Go's zero values, RaftIndex inline)
  it('creates a query, answering {ID}, and reads it back and lists it with every field of Consul\'s PreparedQuery', async () => {
    expect((await consul.get('/v1/query')).json).toEqual([]);
    const created = await create({ Name: 'my-query', Service: { Service: 'redis', Failover: { NearestN: 3 }, Near: '_agent', OnlyPassing: true, Tags: ['primary', '!experimental'], ServiceMeta: { environment: 'production' } }, DNS: { TTL: '10s' } });
    expect(created.status).toBe(200);
    expect(Object.keys(created.json)).toEqual(['ID']);
    expect(created.json.ID).toMatch(/^[\da-f]{8}-[\da-f]{4}-[\da-f]{4}-[\da-f]{4}-[\da-f]{12}$/);

    const read = await consul.get(`/v1/query/${created.json.ID}`);
    expect(read.status).toBe(200);
    expect(read.json).toEqual([
      {
        ID: created.json.ID,
        Name: 'my-query',
        Session: '',
        Token: '',
        Template: { Type: '', Regexp: '', RemoveEmptyTags: false },
        Service: {
          Service: 'redis',
          SamenessGroup: '',
          Failover: { NearestN: 3, Datacenters: null, Targets: null },
          OnlyPassing: true,
          IgnoreCheckIDs: null,
          Near: '_agent',
          Tags: ['primary', '!experimental'],
          NodeMeta: null,
          ServiceMeta: { environment: 'production' },
          Connect: false,
          Peer: '',
        },
        DNS: { TTL: '10s' },
        CreateIndex: read.index,
        ModifyIndex: read.index,
      },
    ]);
    expect((await consul.get('/v1/query')).json).toEqual(read.json);
  });

  // Consul decodes the body with encoding/json: field names in any case; a malformed body or a wrong type is a 400 "Request decode failed: ..."
  it('reads field names case-insensitively and refuses a malformed body or a field of the wrong type with a 400', async () => {
    const id = await createdId({ name: 'lower', service: { service: 'redis', onlypassing: true } });
    expect((await consul.get(`/v1/query/${id}`)).json[0]).toMatchObject({ Name: 'lower', Service: { Service: 'redis', OnlyPassing: true } });
    const malformed = await create('{"Name": ');
    expect(malformed.status).toBe(400);
    expect(malformed.text).toMatch(/^Request decode failed: /);
    const wrongType = await create({ Name: 'x', Service: { Service: 'redis', Failover: { NearestN: '3' } } });
    expect(wrongType.status).toBe(400);
    expect(wrongType.text).toBe('Request decode failed: json: cannot unmarshal string into Go struct field PreparedQuery.Service.Failover.NearestN of type int');
    expect((await create('')).text).toBe('Request decode failed: EOF');
  });

  // agent/consul/prepared_query_endpoint.go Apply/parseQuery: Consul answers these with a 500 and the error's text
  it('refuses an invalid query with Consul\'s 500 and its reason', async () => {
    const refusal = async (definition: unknown) => {
      const answer = await create(definition);
      expect(answer.status).toBe(500);
      return answer.text;
    };
    expect(await refusal({ ID: UNKNOWN_ID, Name: 'q', Service: { Service: 'redis' } })).toBe('ID must be empty when creating a new prepared query');
    expect(await refusal({ Service: { Service: 'redis' } })).toBe('Invalid prepared query: Must be bound to a session');
    expect(await refusal({ Name: 'q' })).toBe('Invalid prepared query: Must provide a Service name to query');
    expect(await refusal({ Name: 'q', Service: { Service: 'redis', Failover: { NearestN: -1 } } })).toBe("Invalid prepared query: Bad NearestN '-1', must be >= 0");
    expect(await refusal({ Name: 'q', Service: { Service: 'redis', Failover: { NearestN: 1, Targets: [{ Peer: 'p' }] } } })).toBe('Invalid prepared query: Targets cannot be populated with NearestN or Datacenters');
    expect(await refusal({ Name: 'q', Token: '<hidden>', Service: { Service: 'redis' } })).toMatch(/^Invalid prepared query: Bad Token '<hidden>', it looks like a query definition with a redacted token was submitted$/);
    expect(await refusal({ Name: 'q', Service: { Service: 'redis' }, DNS: { TTL: 'soon' } })).toBe('Invalid prepared query: Bad DNS TTL \'soon\': time: invalid duration "soon"');
    expect(await refusal({ Name: 'q', Session: UNKNOWN_ID, Service: { Service: 'redis' } })).toBe(`raft apply failed: invalid session "${UNKNOWN_ID}"`);
    expect((await consul.get('/v1/query')).json).toEqual([]);
  });

  // state/prepared_query.go: the name index is unique and lower-cased; a name may not alias another query's ID
  it('refuses a second query under the same name, whatever its case, and a name that is another query\'s ID', async () => {
    const id = await createdId({ Name: 'orders', Service: { Service: 'orders' } });
    const again = await create({ Name: 'ORDERS', Service: { Service: 'orders' } });
    expect(again.status).toBe(500);
    expect(again.text).toBe("raft apply failed: name 'ORDERS' aliases an existing query name");
    const aliasing = await create({ Name: id, Service: { Service: 'orders' } });
    expect(aliasing.text).toBe(`raft apply failed: name '${id}' aliases an existing query ID`);
  });

  // api-docs/query Read: "If no query exists by the given ID, an error is returned" (a 404 "Query not found"); the ID goes through go-memdb's UUID index
  it('answers a read of an unknown ID with a 404 "Query not found" and of something that is no UUID with a 500', async () => {
    const unknown = await consul.get(`/v1/query/${UNKNOWN_ID}`);
    expect(unknown.status).toBe(404);
    expect(unknown.text).toBe('Query not found');
    await createdId({ Name: 'orders', Service: { Service: 'orders' } });
    const byName = await consul.get('/v1/query/orders');
    expect(byName.status).toBe(500);
    expect(byName.text).toBe('failed prepared query lookup: UUID must be 36 characters');
  });

  // api-docs/query Update: "The body is the same as is used to create a prepared query"; the whole definition is replaced
  it('updates a query by replacing its definition, keeping its CreateIndex and moving its ModifyIndex', async () => {
    const id = await createdId({ Name: 'orders', Service: { Service: 'orders', Tags: ['a'], OnlyPassing: true }, DNS: { TTL: '5s' } });
    const [before] = (await consul.get(`/v1/query/${id}`)).json;
    const updated = await consul.put(`/v1/query/${id}`, { Name: 'orders', Service: { Service: 'orders', Tags: ['!zone:a'] } });
    expect(updated.status).toBe(200);
    expect(updated.text).toBe('');
    const [after] = (await consul.get(`/v1/query/${id}`)).json;
    expect(after).toMatchObject({ ID: id, CreateIndex: before.CreateIndex, Service: { Tags: ['!zone:a'], OnlyPassing: false }, DNS: { TTL: '' } });
    expect(after.ModifyIndex).toBeGreaterThan(before.ModifyIndex);
    // The ID comes from the URL, not from the body.
    await consul.put(`/v1/query/${id}`, { ID: UNKNOWN_ID, Name: 'orders', Service: { Service: 'orders' } });
    expect((await consul.get('/v1/query')).json.map((query: { ID: string }) => query.ID)).toEqual([id]);
  });

  // Apply: "Cannot modify non-existent prepared query" (a 500) for an update or delete of an unknown ID
  it('refuses to update or delete an unknown query with a 500, and deletes a known one', async () => {
    const update = await consul.put(`/v1/query/${UNKNOWN_ID}`, { Name: 'orders', Service: { Service: 'orders' } });
    expect(update.status).toBe(500);
    expect(update.text).toBe(`Cannot modify non-existent prepared query: '${UNKNOWN_ID}'`);
    const remove = await consul.call('DELETE', `/v1/query/${UNKNOWN_ID}`);
    expect(remove.status).toBe(500);
    expect(remove.text).toBe(`Cannot modify non-existent prepared query: '${UNKNOWN_ID}'`);

    const id = await createdId({ Name: 'orders', Service: { Service: 'orders' } });
    const deleted = await consul.call('DELETE', `/v1/query/${id}`);
    expect(deleted.status).toBe(200);
    expect((await consul.get(`/v1/query/${id}`)).status).toBe(404);
    expect((await consul.get('/v1/query')).index).toBe(deleted.index);
  });

  // agent/prepared_query_endpoint.go: POST and GET on /v1/query; GET, PUT and DELETE on /v1/query/:uuid; GET on .../execute
  it('answers 405 to a method the path does not take', async () => {
    expect((await consul.put('/v1/query', { Name: 'q', Service: { Service: 'redis' } })).status).toBe(405);
    const id = await createdId({ Name: 'q', Service: { Service: 'redis' } });
    expect((await consul.call('POST', `/v1/query/${id}`, { body: { Name: 'q', Service: { Service: 'redis' } } })).status).toBe(405);
    expect((await consul.put(`/v1/query/${id}/execute`)).status).toBe(405);
  });

  // api-docs/query Execute: by ID or name; response {Service, Nodes, DNS, Datacenter, Failovers}; Nodes as health/service entries
  it('executes by ID and by name (case-insensitively), answering Service, Nodes as health entries, DNS, Datacenter and Failovers', async () => {
    await register('redis-1', 'redis', 'passing', { tags: ['primary'] });
    const id = await createdId({ Name: 'redis-query', Service: { Service: 'redis' }, DNS: { TTL: '10s' } });
    const byId = await consul.get(`/v1/query/${id}/execute`);
    expect(byId.status).toBe(200);
    expect(byId.json).toMatchObject({ Service: 'redis', DNS: { TTL: '10s' }, Datacenter: 'dc1', Failovers: 0 });
    expect(byId.json.Nodes).toHaveLength(1);
    const [entry] = byId.json.Nodes;
    expect(entry.Node).toMatchObject({ Node: 'portolan-test-node', Address: '127.0.0.1', Datacenter: 'dc1' });
    expect(entry.Service).toMatchObject({ ID: 'redis-1', Service: 'redis', Tags: ['primary'], Port: 8080 });
    expect(entry.Checks.map((check: { CheckID: string }) => check.CheckID)).toEqual(['service:redis-1', 'serfHealth']);
    expect(byId.json.Nodes).toEqual((await consul.get('/v1/health/service/redis')).json);
    expect(await executedIds('redis-query')).toEqual(['redis-1']);
    expect(await executedIds('REDIS-Query')).toEqual(['redis-1']);
  });

  // api-docs/query Execute: "If no query exists by the given ID, an error is returned" (a 404)
  it('answers the execution of an unknown ID or name with a 404 "Query not found"', async () => {
    for (const idOrName of [UNKNOWN_ID, 'nothing-by-that-name']) {
      const answer = await consul.get(`/v1/query/${idOrName}/execute`);
      expect(answer.status).toBe(404);
      expect(answer.text).toBe('Query not found');
    }
  });

  // api-docs/query `OnlyPassing`: false keeps passing and warning, true only passing; critical (and maintenance, a critical check) never
  it('keeps passing and warning instances, or only passing ones with OnlyPassing; never critical or in maintenance', async () => {
    await register('r-pass', 'redis', 'passing');
    await register('r-warn', 'redis', 'warning');
    await register('r-crit', 'redis', 'critical');
    await register('r-maint', 'redis', 'passing');
    await consul.put('/v1/agent/service/maintenance/r-maint?enable=true');
    await createdId({ Name: 'lenient', Service: { Service: 'redis' } });
    await createdId({ Name: 'strict', Service: { Service: 'redis', OnlyPassing: true } });
    await createdId({ Name: 'ignoring', Service: { Service: 'redis', OnlyPassing: true, IgnoreCheckIDs: ['service:r-warn', 'service:r-crit'] } });
    expect(await executedIds('lenient')).toEqual(['r-pass', 'r-warn']);
    expect(await executedIds('strict')).toEqual(['r-pass']);
    expect(await executedIds('ignoring')).toEqual(['r-crit', 'r-pass', 'r-warn']);
  });

  // api-docs/query `Tags`: "must have all of the required tags, and none of the excluded tags (prefixed with !)"; tagFilter compares them lower-cased
  it('filters by Tags: every required tag, none of the "!"-excluded ones, case-insensitively', async () => {
    await register('r-a', 'redis', 'passing', { tags: ['zone:a', 'primary'] });
    await register('r-b', 'redis', 'passing', { tags: ['zone:b', 'primary'] });
    await register('r-c', 'redis', 'passing', { tags: ['zone:c'] });
    await register('r-none', 'redis', 'passing');
    await createdId({ Name: 'not-a', Service: { Service: 'redis', Tags: ['!zone:a'] } });
    await createdId({ Name: 'neither-a-nor-b', Service: { Service: 'redis', Tags: ['!zone:a', '!ZONE:B'] } });
    await createdId({ Name: 'primary-not-a', Service: { Service: 'redis', Tags: ['Primary', '!zone:a'] } });
    expect(await executedIds('not-a')).toEqual(['r-b', 'r-c', 'r-none']);
    expect(await executedIds('neither-a-nor-b')).toEqual(['r-c', 'r-none']);
    expect(await executedIds('primary-not-a')).toEqual(['r-b']);
  });

  // api-docs/query `ServiceMeta` / `NodeMeta`: "filtering the query results to services (nodes) with the given metadata values present"; `limit` applies after
  it('filters by ServiceMeta and NodeMeta, and applies ?limit', async () => {
    await register('r-shop', 'redis', 'passing', { meta: { 'portolan-namespace': 'shop' } });
    await register('r-default', 'redis', 'passing', { meta: { 'portolan-namespace': 'default' } });
    await register('r-plain', 'redis', 'passing');
    await createdId({ Name: 'shop', Service: { Service: 'redis', ServiceMeta: { 'portolan-namespace': 'shop' } } });
    await createdId({ Name: 'on-segment', Service: { Service: 'redis', NodeMeta: { 'consul-network-segment': '' } } });
    await createdId({ Name: 'elsewhere', Service: { Service: 'redis', NodeMeta: { rack: 'r1' } } });
    expect(await executedIds('shop')).toEqual(['r-shop']);
    expect(await executedIds('on-segment')).toHaveLength(3);
    expect(await executedIds('elsewhere')).toEqual([]);
    expect(await executedIds('on-segment', '?limit=2')).toHaveLength(2);
    expect((await consul.get('/v1/query/on-segment/execute?limit=two')).text).toBe('Bad limit: strconv.Atoi: parsing "two": invalid syntax');
  });

  // Execute runs queryFailover when nothing is found locally: the double has no other datacenter, so nothing is found there either
  it('answers an empty Nodes list (not null) with Failovers 0 when no instance qualifies, Failover set or not', async () => {
    await register('r-crit', 'redis', 'critical');
    await createdId({ Name: 'failing-over', Service: { Service: 'redis', OnlyPassing: true, Failover: { NearestN: 3, Datacenters: ['dc2'] } } });
    const answer = await consul.get('/v1/query/failing-over/execute');
    expect(answer.json).toMatchObject({ Service: 'redis', Nodes: [], Datacenter: 'dc1', Failovers: 0 });
  });

  // api-docs/query Explain: "generates a fully-rendered query for a given name" ({Query}); an unknown one is a 404
  it('explains the query an ID or name resolves to, and answers an unknown one with a 404', async () => {
    const id = await createdId({ Name: 'orders', Service: { Service: 'orders', Tags: ['!zone:a'] } });
    for (const idOrName of [id, 'ORDERS']) {
      const answer = await consul.get(`/v1/query/${idOrName}/explain`);
      expect(answer.status).toBe(200);
      expect(answer.json.Query).toEqual((await consul.get(`/v1/query/${id}`)).json[0]);
    }
    expect((await consul.get('/v1/query/nothing/explain')).status).toBe(404);
  });

  // api-docs/query `Session`: "automatically remove a prepared query when the given session is invalidated"
  it('deletes a query bound to a session when the session is destroyed', async () => {
    const session = (await consul.put('/v1/session/create', { Name: 's' })).json.ID;
    const id = await createdId({ Session: session, Service: { Service: 'redis' } });
    expect((await consul.get(`/v1/query/${id}`)).status).toBe(200);
    await consul.put(`/v1/session/destroy/${session}`);
    expect((await consul.get(`/v1/query/${id}`)).status).toBe(404);
  });

  // api-docs/query: template queries (Template.Type) are not modelled by the double
  it('refuses a template with a 500 that says the double does not support them', async () => {
    const answer = await create({ Name: 'geo-db', Template: { Type: 'name_prefix_match' }, Service: { Service: '${name.suffix}' } });
    expect(answer.status).toBe(500);
    expect(answer.text).toMatch(/test double does not support prepared query templates/);
  });
});

describe('prepared query ACLs (docs/security/acl/acl-rules "Prepared Query Rules")', () => {
  const as = (token: string) => ({ 'X-Consul-Token': token });

  // Apply: query:write on the name, for create, update (new and old name) and delete; PreparedQueryWriteAllowed's "Permission denied: ... lacks permission 'query:write' on ..."
  it('needs query:write on the name to create, update or delete a named query', async () => {
    await consul.start({ aclToken: 'root', acl: { tokens: { writer: { keyPrefixes: {}, queryPrefixes: { 'portolan-': 'write' } }, reader: { keyPrefixes: {}, queryPrefixes: { '': 'read' } } } } });
    const mine = await create({ Name: 'portolan-default-orders', Service: { Service: 'orders' } }, as('writer'));
    expect(mine.status).toBe(200);
    const other = await create({ Name: 'billing', Service: { Service: 'billing' } }, as('writer'));
    expect(other.status).toBe(403);
    expect(other.text).toMatch(/^Permission denied: token with AccessorID '[\da-f-]{36}' lacks permission 'query:write' on "billing"$/);

    const refused = await create({ Name: 'portolan-default-x', Service: { Service: 'x' } }, as('reader'));
    expect(refused.status).toBe(403);
    expect(refused.text).toMatch(/lacks permission 'query:write' on "portolan-default-x"/);
    expect((await consul.put(`/v1/query/${mine.json.ID}`, { Name: 'portolan-default-orders', Service: { Service: 'orders', OnlyPassing: true } }, { headers: as('reader') })).status).toBe(403);
    expect((await consul.call('DELETE', `/v1/query/${mine.json.ID}`, { headers: as('reader') })).status).toBe(403);

    // Renaming out of the writer's prefix needs write on the new name too.
    expect((await consul.put(`/v1/query/${mine.json.ID}`, { Name: 'billing', Service: { Service: 'orders' } }, { headers: as('writer') })).status).toBe(403);
    expect((await consul.put(`/v1/query/${mine.json.ID}`, { Name: 'portolan-default-orders', Service: { Service: 'orders', OnlyPassing: true } }, { headers: as('writer') })).status).toBe(200);
    expect((await consul.call('DELETE', `/v1/query/${mine.json.ID}`, { headers: as('writer') })).status).toBe(200);
  });

  // aclfilter filterPreparedQueries: a non-management token lists only the named queries it may read (X-Consul-Results-Filtered-By-ACLs), and sees Tokens as "<hidden>"
  it('lists only what the token may read, says so, and hides query tokens from all but management tokens', async () => {
    await consul.start({ aclToken: 'root', acl: { tokens: { writer: { keyPrefixes: {}, queryPrefixes: { 'portolan-': 'write' } } } } });
    const session = (await consul.put('/v1/session/create', { Name: 's' }, { headers: as('root') })).json.ID;
    await create({ Name: 'portolan-default-orders', Token: 'execute-token', Service: { Service: 'orders' } }, as('root'));
    await create({ Name: 'billing', Service: { Service: 'billing' } }, as('root'));
    const unnamed = await create({ Session: session, Service: { Service: 'search' } }, as('root'));

    const asRoot = await consul.get('/v1/query', { headers: as('root') });
    expect(asRoot.json.map((query: { Name: string }) => query.Name).sort()).toEqual(['', 'billing', 'portolan-default-orders']);
    expect(asRoot.json.find((query: { Name: string }) => query.Name === 'portolan-default-orders').Token).toBe('execute-token');
    expect(asRoot.headers.get('x-consul-results-filtered-by-acls')).toBeNull();

    const asWriter = await consul.get('/v1/query', { headers: as('writer') });
    expect(asWriter.json.map((query: { Name: string }) => query.Name)).toEqual(['portolan-default-orders']);
    expect(asWriter.json[0].Token).toBe('<hidden>');
    expect(asWriter.headers.get('x-consul-results-filtered-by-acls')).toBe('true');

    // Get: a named query the token may not read is a 403; one without a name is readable by ID.
    const billingId = asRoot.json.find((query: { Name: string }) => query.Name === 'billing').ID;
    const denied = await consul.get(`/v1/query/${billingId}`, { headers: as('writer') });
    expect(denied.status).toBe(403);
    expect(denied.text).toBe('Permission denied');
    expect((await consul.get(`/v1/query/${unnamed.json.ID}`, { headers: as('writer') })).status).toBe(200);
  });
});
