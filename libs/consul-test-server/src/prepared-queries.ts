/**
 * Prepared queries (api-docs/query): create (POST /v1/query), list (GET /v1/query), read, update,
 * delete (GET, PUT, DELETE /v1/query/:uuid), execute and explain (GET
 * /v1/query/:uuid-or-name/execute, .../explain).
 *
 * Where the documentation is silent this follows Consul's source (hashicorp/consul):
 * - agent/prepared_query_endpoint.go: POST only creates and PUT only updates (anything else on the
 *   path is a 405); an unknown query on read or execute is a 404 "Query not found"; an update's
 *   body may be empty, and the ID comes from the URL; update and delete answer 200 with no body;
 * - agent/consul/prepared_query_endpoint.go Apply: the checks and their order (an ID sent on create,
 *   the ACL on the new name, the existing query and the ACL on its name, then parseQuery), and their
 *   texts; Consul's HTTP layer answers these errors, and the state store's, with a 500;
 * - agent/consul/state/prepared_query.go: names are unique case-insensitively, a name may not be
 *   another query's ID, a Session must exist; IDs are looked up through go-memdb's UUID index (a
 *   malformed one is an error, a 500), names case-insensitively; the table's index is the answer's
 *   X-Consul-Index;
 * - execute (Execute, execute, tagFilter, FilterIgnore): every instance of the service whose checks
 *   (node checks included) are not critical, or all passing with OnlyPassing, IgnoreCheckIDs left
 *   out; then NodeMeta, ServiceMeta, and Tags (all required, none of the "!"-negated; compared
 *   case-insensitively); shuffled (the double's one node leaves no distance to sort by); then
 *   `?limit`. The answer carries Service, Nodes (as health/service entries), DNS, Datacenter,
 *   PeerName, Failovers and the embedded QueryMeta fields.
 * - Explain: the query a name resolves to, filtered like a list (a query the token may not list is a
 *   403 "Permission denied").
 * ACLs: see acl.ts. Not modelled: templates (refused with a 500 naming the double), `near`
 * distances, other datacenters and peers (a failover finds nothing: Failovers stays 0), Connect
 * (a Connect query finds nothing, the double has no Connect-capable services), blocking reads.
 */
import { randomUUID } from 'node:crypto';
import { parseDuration } from './duration.js';
import { field, HttpError, jsonBody, type ConsulReply, type ConsulRequest } from './http.js';
import { SERF_HEALTH, type CheckRecord, type ConsulState, type PreparedQueryRecord, type ServiceRecord } from './state.js';
import { renderCheck, renderHealthService, renderNode } from './views.js';

/** agent/structs/aclfilter RedactedToken: a query's Token as a non-management token sees it. */
const REDACTED_TOKEN = '<hidden>';
/** state/prepared_query.go validUUID. */
const CANONICAL_UUID = /^[\da-f]{8}-[\da-f]{4}-[\da-f]{4}-[\da-f]{4}-[\da-f]{12}$/i;

type Definition = Omit<PreparedQueryRecord, 'CreateIndex' | 'ModifyIndex'>;

/** POST /v1/query: `{"ID": "<uuid>"}`. */
export function createQuery(state: ConsulState, request: ConsulRequest): ConsulReply {
  const query = decodeQuery(jsonBody(request));
  if (query.ID !== '') throw new HttpError(500, 'ID must be empty when creating a new prepared query');
  do query.ID = randomUUID();
  while (state.preparedQueries.has(query.ID));
  requireWrite(request, query);
  validate(query);
  save(state, query, undefined);
  return { body: { ID: query.ID } };
}

/** GET /v1/query: every query the token may read (all of them for a management token). */
export function listQueries(state: ConsulState, request: ConsulRequest): ConsulReply {
  const all = [...state.preparedQueries.values()].sort((a, b) => compareIds(a.ID, b.ID));
  const visible = request.acl?.management === false ? all.filter((query) => aclPrefix(query) !== undefined && request.acl!.allowsQuery('read', aclPrefix(query)!)) : all;
  const filtered = visible.length !== all.length;
  return {
    body: visible.map((query) => redacted(query, request)),
    index: state.preparedQueriesIndex,
    ...(filtered ? { headers: { 'X-Consul-Results-Filtered-By-ACLs': 'true' } } : {}),
  };
}

/** GET /v1/query/:uuid: `[query]`; a name is not an ID here (only execute resolves names). */
export function readQuery(state: ConsulState, request: ConsulRequest): ConsulReply {
  const query = findById(state, request.route[0], 'failed prepared query lookup: ');
  if (!query) throw new HttpError(404, 'Query not found');
  const prefix = aclPrefix(query);
  if (prefix !== undefined && request.acl && !request.acl.management && !request.acl.allowsQuery('read', prefix)) throw new HttpError(403, 'Permission denied');
  return { body: [redacted(query, request)], index: state.preparedQueriesIndex };
}

/** PUT /v1/query/:uuid: replaces the whole definition (fields left out take their zero values). */
export function updateQuery(state: ConsulState, request: ConsulRequest): ConsulReply {
  const body = jsonBody(request, { required: false });
  const query = decodeQuery(body ?? {});
  query.ID = request.route[0];
  requireWrite(request, query);
  const existing = findById(state, query.ID, 'Prepared Query lookup failed: failed prepared query lookup: ');
  if (!existing) throw new HttpError(500, `Cannot modify non-existent prepared query: '${query.ID}'`);
  requireWrite(request, existing);
  validate(query);
  save(state, { ...query, ID: existing.ID }, existing);
  return { body: undefined };
}

/** DELETE /v1/query/:uuid. */
export function deleteQuery(state: ConsulState, request: ConsulRequest): ConsulReply {
  const id = request.route[0];
  const existing = findById(state, id, 'Prepared Query lookup failed: failed prepared query lookup: ');
  if (!existing) throw new HttpError(500, `Cannot modify non-existent prepared query: '${id}'`);
  requireWrite(request, existing);
  const index = state.nextIndex();
  state.preparedQueries.delete(existing.ID);
  state.preparedQueriesIndex = index;
  state.commit(index);
  return { body: undefined };
}

/** GET /v1/query/:uuid-or-name/execute. */
export function executeQuery(state: ConsulState, request: ConsulRequest): ConsulReply {
  // parseLimit and the `connect` parameter, read before the query is looked up: an empty value is no value.
  const limitText = request.query.limit ?? '';
  if (limitText !== '' && !/^[+-]?\d+$/.test(limitText)) throw new HttpError(500, `Bad limit: strconv.Atoi: parsing "${limitText}": invalid syntax`);
  const limit = limitText === '' ? 0 : Number(limitText);
  const connect = (request.query.connect ?? '') !== '' && parseGoBool(request.query.connect);
  const query = resolve(state, request.route[0]);
  if (!query) throw new HttpError(404, 'Query not found');
  const { Service: service } = query;
  const ignored = new Set(service.IgnoreCheckIDs ?? []);
  const wantedTags = (service.Tags ?? []).map((tag) => tag.toLowerCase());
  const required = wantedTags.filter((tag) => !tag.startsWith('!'));
  const excluded = wantedTags.filter((tag) => tag.startsWith('!')).map((tag) => tag.slice(1));
  const node = renderNode(state);
  const nodeMeta = node.Meta as Record<string, string>;
  const nodeChecks = [state.checks.get(SERF_HEALTH)!];
  let nodes = service.Connect || connect ? [] : [...state.services.values()]
    .filter((instance) => instance.name.toLowerCase() === service.Service.toLowerCase())
    .map((instance) => ({ instance, checks: [...serviceChecks(state, instance), ...nodeChecks] }))
    .filter(({ checks }) => checks.every((check) => ignored.has(check.checkId) || (check.status !== 'critical' && (!service.OnlyPassing || check.status === 'passing'))))
    .filter(() => satisfies(nodeMeta, service.NodeMeta))
    .filter(({ instance }) => satisfies(instance.meta, service.ServiceMeta))
    .filter(({ instance }) => {
      const tags = new Set(instance.tags.map((tag) => tag.toLowerCase()));
      return required.every((tag) => tags.has(tag)) && !excluded.some((tag) => tags.has(tag));
    });
  nodes = shuffle(nodes);
  if (limit > 0) nodes = nodes.slice(0, limit);
  return {
    body: {
      Service: service.Service,
      Nodes: nodes.map(({ instance, checks }) => ({ Node: node, Service: renderHealthService(instance), Checks: checks.map((check) => renderCheck(state, check)) })),
      DNS: { ...query.DNS },
      Datacenter: state.options.datacenter,
      PeerName: '',
      Failovers: 0,
      // structs.QueryMeta is embedded in PreparedQueryExecuteResponse without JSON tags.
      Index: 0,
      LastContact: 0,
      KnownLeader: true,
      ConsistencyLevel: 'leader',
      NotModified: false,
      Backend: 0,
      ResultsFilteredByACLs: false,
    },
    // Execute is not a blocking query: Consul sets no index, and its HTTP layer never sends 0.
    index: 1,
  };
}

/** GET /v1/query/:uuid-or-name/explain: the query a name resolves to, if the token may read it. */
export function explainQuery(state: ConsulState, request: ConsulRequest): ConsulReply {
  const query = resolve(state, request.route[0]);
  if (!query) throw new HttpError(404, 'Query not found');
  const prefix = aclPrefix(query);
  if (request.acl && !request.acl.management && (prefix === undefined || !request.acl.allowsQuery('read', prefix))) throw new HttpError(403, 'Permission denied');
  return {
    body: { Query: redacted(query, request), Index: 0, LastContact: 0, KnownLeader: true, ConsistencyLevel: 'leader', NotModified: false, Backend: 0, ResultsFilteredByACLs: false },
    index: 1,
  };
}

// --- decoding ----------------------------------------------------------------------------------

/** The body as Consul's decoder reads it into structs.PreparedQuery: names case-insensitive, absent fields zero. */
function decodeQuery(body: unknown): Definition {
  const root = 'PreparedQuery';
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new HttpError(400, `Request decode failed: json: cannot unmarshal ${jsonKind(body)} into Go value of type structs.PreparedQuery`);
  }
  const template = object(body, 'Template', root, 'structs.QueryTemplateOptions');
  const service = object(body, 'Service', root, 'structs.ServiceQuery');
  const servicePath = `${root}.Service`;
  const failover = service && object(service, 'Failover', servicePath, 'structs.QueryFailoverOptions');
  const failoverPath = `${servicePath}.Failover`;
  const dns = object(body, 'DNS', root, 'structs.QueryDNSOptions');
  return {
    ID: string(body, 'ID', root),
    Name: string(body, 'Name', root),
    Session: string(body, 'Session', root),
    Token: string(body, 'Token', root),
    Template: { Type: string(template, 'Type', `${root}.Template`), Regexp: string(template, 'Regexp', `${root}.Template`), RemoveEmptyTags: boolean(template, 'RemoveEmptyTags', `${root}.Template`) },
    Service: {
      Service: string(service, 'Service', servicePath),
      SamenessGroup: string(service, 'SamenessGroup', servicePath),
      Failover: {
        NearestN: integer(failover, 'NearestN', failoverPath),
        Datacenters: strings(failover, 'Datacenters', failoverPath),
        Targets: targets(failover, failoverPath),
      },
      OnlyPassing: boolean(service, 'OnlyPassing', servicePath),
      IgnoreCheckIDs: strings(service, 'IgnoreCheckIDs', servicePath),
      Near: string(service, 'Near', servicePath),
      Tags: strings(service, 'Tags', servicePath),
      NodeMeta: stringMap(service, 'NodeMeta', servicePath),
      ServiceMeta: stringMap(service, 'ServiceMeta', servicePath),
      Connect: boolean(service, 'Connect', servicePath),
      Peer: string(service, 'Peer', servicePath),
    },
    DNS: { TTL: string(dns, 'TTL', `${root}.DNS`) },
  };
}

function jsonKind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value === 'boolean' ? 'bool' : typeof value;
}

/** encoding/json's UnmarshalTypeError. */
function mismatch(value: unknown, path: string, type: string): never {
  throw new HttpError(400, `Request decode failed: json: cannot unmarshal ${jsonKind(value)} into Go struct field ${path} of type ${type}`);
}

function object(parent: unknown, name: string, path: string, type: string): object | undefined {
  const value = field(parent, name);
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value)) mismatch(value, `${path}.${name}`, type);
  return value;
}

function string(parent: unknown, name: string, path: string): string {
  const value = field(parent, name);
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') mismatch(value, `${path}.${name}`, 'string');
  return value;
}

function boolean(parent: unknown, name: string, path: string): boolean {
  const value = field(parent, name);
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') mismatch(value, `${path}.${name}`, 'bool');
  return value;
}

function integer(parent: unknown, name: string, path: string): number {
  const value = field(parent, name);
  if (value === undefined || value === null) return 0;
  if (typeof value !== 'number') mismatch(value, `${path}.${name}`, 'int');
  if (!Number.isInteger(value)) throw new HttpError(400, `Request decode failed: json: cannot unmarshal number ${value} into Go struct field ${path}.${name} of type int`);
  return value;
}

function strings(parent: unknown, name: string, path: string): string[] | null {
  const value = field(parent, name);
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value)) mismatch(value, `${path}.${name}`, '[]string');
  for (const item of value) if (typeof item !== 'string') mismatch(item, `${path}.${name}`, 'string');
  return [...(value as string[])];
}

function stringMap(parent: unknown, name: string, path: string): Record<string, string> | null {
  const value = field(parent, name);
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) mismatch(value, `${path}.${name}`, 'map[string]string');
  for (const item of Object.values(value)) if (typeof item !== 'string') mismatch(item, `${path}.${name}`, 'string');
  return { ...(value as Record<string, string>) };
}

/** QueryFailoverTarget is {Peer, Datacenter} (the docs' `PeerName` is not one of its fields: Consul ignores it). */
function targets(parent: unknown, path: string): Array<{ Peer: string; Datacenter: string }> | null {
  const value = field(parent, 'Targets');
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value)) mismatch(value, `${path}.Targets`, '[]structs.QueryFailoverTarget');
  return value.map((item) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) mismatch(item, `${path}.Targets`, 'structs.QueryFailoverTarget');
    return { Peer: string(item, 'Peer', `${path}.Targets`), Datacenter: string(item, 'Datacenter', `${path}.Targets`) };
  });
}

// --- Apply's checks ------------------------------------------------------------------------------

/** structs.PreparedQuery GetACLPrefix: the name, for a query with a name or a template; none otherwise. */
function aclPrefix(query: Pick<Definition, 'Name' | 'Template'>): string | undefined {
  return query.Name !== '' || query.Template.Type !== '' ? query.Name : undefined;
}

function requireWrite(request: ConsulRequest, query: Pick<Definition, 'Name' | 'Template'>): void {
  const prefix = aclPrefix(query);
  if (prefix !== undefined && request.acl && !request.acl.allowsQuery('write', prefix)) throw new HttpError(403, request.acl.queryDenial('write', prefix));
}

/** parseQuery, parseService, parseDNS: "Invalid prepared query: ..." (a 500). */
function validate(query: Definition): void {
  const invalid = (reason: string): never => {
    throw new HttpError(500, `Invalid prepared query: ${reason}`);
  };
  if (query.Name === '' && query.Template.Type === '' && query.Session === '') invalid('Must be bound to a session');
  if (query.Token === REDACTED_TOKEN) invalid(`Bad Token '${query.Token}', it looks like a query definition with a redacted token was submitted`);
  const { Service: service } = query;
  if (service.Service === '') invalid('Must provide a Service name to query');
  if (service.Failover.NearestN < 0) invalid(`Bad NearestN '${service.Failover.NearestN}', must be >= 0`);
  if ((service.Failover.NearestN !== 0 || (service.Failover.Datacenters ?? []).length !== 0) && (service.Failover.Targets ?? []).length !== 0) {
    invalid('Targets cannot be populated with NearestN or Datacenters');
  }
  if (query.DNS.TTL !== '') {
    const negative = query.DNS.TTL.startsWith('-');
    const ms = parseDuration(negative ? query.DNS.TTL.slice(1) : query.DNS.TTL.replace(/^\+/, ''));
    if (ms === undefined) invalid(`Bad DNS TTL '${query.DNS.TTL}': time: invalid duration "${query.DNS.TTL}"`);
    if (negative && ms! > 0) invalid(`DNS TTL '${-Math.round(ms! * 1e6)}', must be >=0`);
  }
}

/** preparedQuerySetTxn: the state store's integrity checks, then the write. */
function save(state: ConsulState, query: Definition, existing: PreparedQueryRecord | undefined): void {
  const storeError = (reason: string): never => {
    throw new HttpError(500, `raft apply failed: ${reason}`);
  };
  if (query.Template.Type !== '') throw new HttpError(500, 'the Consul test double does not support prepared query templates');
  if (query.Name !== '') {
    const other = [...state.preparedQueries.values()].find((candidate) => candidate.Name.toLowerCase() === query.Name.toLowerCase());
    if (other && other.ID !== existing?.ID) storeError(`name '${query.Name}' aliases an existing query name`);
  }
  if (CANONICAL_UUID.test(query.Name) && findById(state, query.Name, '')) storeError(`name '${query.Name}' aliases an existing query ID`);
  if (query.Session !== '' && !state.sessions.has(query.Session)) storeError(`invalid session ${JSON.stringify(query.Session)}`);
  const index = state.nextIndex();
  state.preparedQueries.set(query.ID, { ...query, CreateIndex: existing?.CreateIndex ?? index, ModifyIndex: index });
  state.preparedQueriesIndex = index;
  state.commit(index);
}

// --- lookups -------------------------------------------------------------------------------------

/**
 * go-memdb's UUID index: the ID must be 36 characters of hex with at most 4 hyphens (else an error,
 * `context` naming the lookup), compared as bytes, so hyphens and case do not matter.
 */
function findById(state: ConsulState, id: string, context: string): PreparedQueryRecord | undefined {
  const bytes = uuidBytes(id);
  if (typeof bytes !== 'string') throw new HttpError(500, `${context}${bytes.error}`);
  return [...state.preparedQueries.values()].find((query) => uuidBytes(query.ID) === bytes);
}

function uuidBytes(id: string): string | { error: string } {
  if (id.length !== 36) return { error: 'UUID must be 36 characters' };
  const hyphens = id.split('-').length - 1;
  if (hyphens > 4) return { error: `UUID should have maximum of 4 "-"; got ${hyphens}` };
  const sanitized = id.replaceAll('-', '');
  if (sanitized.length % 2 !== 0) return { error: 'Input (without hyphens) must be even length' };
  const bad = /[^\da-f]/i.exec(sanitized);
  if (bad) return { error: `Invalid UUID: encoding/hex: invalid byte: U+${bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')} '${bad[0]}'` };
  return sanitized.toLowerCase();
}

/** PreparedQueryResolve: by ID when the text looks like one, then by name (case-insensitively). */
function resolve(state: ConsulState, idOrName: string): PreparedQueryRecord | undefined {
  if (CANONICAL_UUID.test(idOrName)) {
    const byId = findById(state, idOrName, '');
    if (byId) return byId;
  }
  return [...state.preparedQueries.values()].find((query) => query.Name !== '' && query.Name.toLowerCase() === idOrName.toLowerCase());
}

function serviceChecks(state: ConsulState, service: ServiceRecord): CheckRecord[] {
  return [...state.checks.values()].filter((check) => check.serviceId === service.id);
}

/** structs.SatisfiesMetaFilters: every pair present with that value. */
function satisfies(meta: Record<string, string>, filters: Record<string, string> | null): boolean {
  return Object.entries(filters ?? {}).every(([key, value]) => meta[key] === value);
}

/** A copy as the request's token may see it: the Token only for a management token (or with ACLs off). */
function redacted(query: PreparedQueryRecord, request: ConsulRequest): PreparedQueryRecord {
  const copy = structuredClone(query);
  if (request.acl && !request.acl.management && copy.Token !== '') copy.Token = REDACTED_TOKEN;
  return copy;
}

function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** strconv.ParseBool. */
function parseGoBool(text: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  throw new HttpError(500, `Error parsing 'connect' value: strconv.ParseBool: parsing "${text}": invalid syntax`);
}

function shuffle<T>(items: T[]): T[] {
  const shuffled = [...items];
  for (let index = shuffled.length - 1; index > 0; index--) {
    const other = Math.floor(Math.random() * (index + 1));
    [shuffled[index], shuffled[other]] = [shuffled[other], shuffled[index]];
  }
  return shuffled;
}
