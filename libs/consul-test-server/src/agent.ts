/**
 * The agent's services and checks (api-docs/agent/service, api-docs/agent/check). The double is a
 * single server agent: what it registers is in the catalog at once (Consul's anti-entropy usually
 * takes "a few seconds"). Only TTL checks change on their own; HTTP/TCP/script checks are accepted
 * but never probed, so they keep their initial status.
 */
import { formatDuration, parseDuration } from './duration.js';
import { field, flag, HttpError, jsonBody, stringField, type ConsulReply, type ConsulRequest } from './http.js';
import type { CheckRecord, CheckStatus, ConsulState, ServiceRecord } from './state.js';
import { renderAgentService, renderCheck, renderHealthService } from './views.js';

const STATUSES = new Set(['passing', 'warning', 'critical']);
const CHECK_KINDS = ['TTL', 'HTTP', 'TCP', 'UDP', 'GRPC', 'H2PING', 'Args', 'ScriptArgs', 'Script', 'DockerContainerID', 'AliasService', 'AliasNode', 'OSService'];
export const MAINTENANCE_PREFIX = '_service_maintenance:';
// Consul's structs.go: metaMaxKeyPairs, metaKeyMaxLength, metaValueMaxLength, metaKeyReservedPrefix.
const META_MAX_PAIRS = 64;
const META_KEY_MAX_LENGTH = 128;
const META_VALUE_MAX_LENGTH = 512;
const META_RESERVED_PREFIX = 'consul-';
const DEFAULT_MAINTENANCE_REASON = 'Maintenance mode is enabled for this service, but no reason was provided. This is a default message.';

export function unknownService(id: string): HttpError {
  return new HttpError(404, `Unknown service ID "${id}". Ensure that the service ID is passed, not the service name.`);
}

export function unknownCheck(id: string): HttpError {
  return new HttpError(404, `Unknown check ID "${id}". Ensure that the check ID is passed, not the check name.`);
}

// --- services ----------------------------------------------------------------------------------

/**
 * PUT /v1/agent/service/register. Registering an existing ID replaces the service; a check that
 * already exists under the same ID keeps its current Status and Output (Consul restores them from a
 * snapshot of the check state), and its TTL clock starts again. Without `replace-existing-checks`
 * the service's other checks stay; with it they are removed. Only what changed is written: a
 * registration identical to the current one writes nothing. Meta is validated as Consul does.
 */
export function registerService(state: ConsulState, request: ConsulRequest): ConsulReply {
  const body = jsonBody(request);
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'Request decode failed: expected an object');
  const name = stringField(body, 'Name');
  if (!name) throw new HttpError(400, 'Missing service name');
  const id = stringField(body, 'ID') || name;
  const port = field(body, 'Port') ?? 0;
  if (typeof port !== 'number' || !Number.isInteger(port)) throw new HttpError(400, 'Request decode failed: Port must be an integer');
  const meta = serviceMeta(field(body, 'Meta'));

  const previous = state.services.get(id);
  if (previous?.internal) throw new HttpError(400, `Service ID "${id}" is reserved`);
  const index = state.nextIndex();
  const service: ServiceRecord = {
    id,
    name,
    tags: stringList(field(body, 'Tags')),
    address: stringField(body, 'Address') ?? '',
    port,
    meta,
    enableTagOverride: field(body, 'EnableTagOverride') === true,
    weights: (field(body, 'Weights') as ServiceRecord['weights'] | undefined) ?? { Passing: 1, Warning: 1 },
    createIndex: previous?.createIndex ?? index,
    modifyIndex: index,
  };

  const definitions = [...(field(body, 'Check') ? [field(body, 'Check')] : []), ...((field(body, 'Checks') as unknown[] | undefined) ?? [])];
  const checks = definitions.map((definition, position) => buildCheck(state, service, definition, position, definitions.length, index));

  const oldChecks = [...state.checks.values()].filter((check) => check.serviceId === id);
  const replaceExisting = flag(request, 'replace-existing-checks');
  const removed = replaceExisting ? oldChecks.filter((old) => !old.checkId.startsWith(MAINTENANCE_PREFIX) && !checks.some((check) => check.checkId === old.checkId)) : [];
  const kept = oldChecks.filter((old) => !removed.includes(old) && !checks.some((check) => check.checkId === old.checkId));

  // Consul rewrites only what changed (state/catalog.go: ensureServiceTxn and ensureCheckTxn skip a
  // service or check that IsSame as the stored one): an unchanged service keeps its ModifyIndex and
  // does not move catalog/services; an unchanged check keeps its ModifyIndex and does not move health/state.
  const serviceBefore = previous ? serviceFingerprint(previous) : undefined;
  const checksBefore = new Map(oldChecks.map((old) => [old.checkId, { record: old, fingerprint: checkFingerprint(state, old) }]));
  for (const old of oldChecks) clearTimeout(old.ttlTimer);
  for (const old of removed) state.checks.delete(old.checkId);
  state.services.set(id, service);
  for (const check of checks) state.checks.set(check.checkId, check);
  for (const check of kept) check.serviceName = name;
  for (const check of [...kept, ...checks]) armTtl(state, check);

  const serviceChanged = serviceBefore !== serviceFingerprint(service);
  if (!serviceChanged) service.modifyIndex = previous!.modifyIndex;
  let checksChanged = removed.length > 0;
  for (const check of [...kept, ...checks]) {
    const before = checksBefore.get(check.checkId);
    if (before && before.fingerprint === checkFingerprint(state, check)) {
      check.createIndex = before.record.createIndex;
      check.modifyIndex = before.record.modifyIndex;
    } else {
      check.modifyIndex = index;
      checksChanged = true;
    }
  }
  if (!serviceChanged && !checksChanged) return { body: undefined }; // a no-op anti-entropy sync writes nothing
  if (previous && previous.name !== name) state.touchService(previous.name, index, { list: true, checks: checksChanged });
  state.touchService(name, index, { list: serviceChanged, checks: checksChanged });
  state.commit(index);
  return { body: undefined };
}

/** PUT /v1/agent/service/deregister/:id: the service and every check of it go; an unknown ID is a 404. */
export function deregisterServiceRoute(state: ConsulState, request: ConsulRequest): ConsulReply {
  const id = request.route[0];
  const service = state.services.get(id);
  if (!service || service.internal) throw unknownService(id);
  deregisterService(state, id);
  return { body: undefined };
}

export function deregisterService(state: ConsulState, id: string): void {
  const service = state.services.get(id);
  if (!service) return;
  const index = state.nextIndex();
  state.services.delete(id);
  for (const check of [...state.checks.values()]) {
    if (check.serviceId !== id) continue;
    clearTimeout(check.ttlTimer);
    state.checks.delete(check.checkId);
  }
  state.touchService(service.name, index, { list: true, checks: true });
  state.commit(index);
}

/** PUT /v1/agent/service/maintenance/:id?enable=&reason=: adds or removes the critical `_service_maintenance:<id>` check. */
export function serviceMaintenance(state: ConsulState, request: ConsulRequest): ConsulReply {
  const id = request.route[0];
  const enable = request.query.enable;
  if (enable === undefined) throw new HttpError(400, 'Missing value for enable');
  if (!['true', 'false'].includes(enable)) throw new HttpError(400, `Invalid value for enable: "${enable}"`);
  const service = state.services.get(id);
  if (!service || service.internal) throw unknownService(id);
  const checkId = MAINTENANCE_PREFIX + id;
  const existing = state.checks.get(checkId);
  if ((enable === 'true') === (existing !== undefined)) return { body: undefined }; // idempotent
  const index = state.nextIndex();
  if (existing) state.checks.delete(checkId);
  else {
    state.checks.set(checkId, {
      checkId,
      name: 'Service Maintenance Mode',
      status: 'critical',
      notes: request.query.reason || DEFAULT_MAINTENANCE_REASON,
      output: '',
      serviceId: id,
      serviceName: service.name,
      type: 'maintenance',
      criticalSince: Date.now(),
      definition: {},
      createIndex: index,
      modifyIndex: index,
    });
  }
  state.touchService(service.name, index, { checks: true });
  state.commit(index);
  return { body: undefined };
}

export function agentServices(state: ConsulState): ConsulReply {
  const services: Record<string, unknown> = {};
  for (const service of state.services.values()) if (!service.internal) services[service.id] = renderAgentService(state, service);
  return { body: services };
}

export function agentService(state: ConsulState, request: ConsulRequest): ConsulReply {
  const service = state.services.get(request.route[0]);
  if (!service || service.internal) throw unknownService(request.route[0]);
  return { body: renderAgentService(state, service) };
}

// --- checks ------------------------------------------------------------------------------------

export function agentChecks(state: ConsulState): ConsulReply {
  const checks: Record<string, unknown> = {};
  for (const check of state.checks.values()) if (check.serviceId !== '' || check.checkId !== 'serfHealth') checks[check.checkId] = renderCheck(state, check);
  return { body: checks };
}

/** PUT /v1/agent/check/pass|warn|fail/:id?note=: sets the status, the note as Output, and resets the TTL clock. */
export function ttlUpdate(status: CheckStatus) {
  return (state: ConsulState, request: ConsulRequest): ConsulReply => {
    updateTtlCheck(state, request.route[0], status, request.query.note ?? '');
    return { body: undefined };
  };
}

/** PUT /v1/agent/check/update/:id with {Status, Output}. */
export function checkUpdate(state: ConsulState, request: ConsulRequest): ConsulReply {
  const body = jsonBody(request);
  const status = stringField(body, 'Status') ?? '';
  if (!STATUSES.has(status)) throw new HttpError(400, `Invalid check status: '${status}'`);
  updateTtlCheck(state, request.route[0], status as CheckStatus, stringField(body, 'Output') ?? '');
  return { body: undefined };
}

export function deregisterCheck(state: ConsulState, request: ConsulRequest): ConsulReply {
  const check = state.checks.get(request.route[0]);
  if (!check || check.checkId === 'serfHealth') throw unknownCheck(request.route[0]);
  clearTimeout(check.ttlTimer);
  const index = state.nextIndex();
  state.checks.delete(check.checkId);
  state.touchService(check.serviceName, index, { checks: true });
  state.commit(index);
  return { body: undefined };
}

function updateTtlCheck(state: ConsulState, id: string, status: CheckStatus, output: string): void {
  const check = state.checks.get(id);
  if (!check || check.checkId === 'serfHealth') throw unknownCheck(id);
  if (check.ttlMs === undefined) throw new HttpError(500, `CheckID "${id}" does not have associated TTL`);
  setCheckStatus(state, check, status, output);
  armTtl(state, check);
}

/**
 * A status change is a write (new index, blocked health readers wake). An Output-only change is
 * recorded without one: Consul's agent defers output-only syncs to the servers (check_update_interval).
 */
export function setCheckStatus(state: ConsulState, check: CheckRecord, status: CheckStatus, output: string): void {
  check.output = output;
  if (check.status === status) return;
  const index = state.nextIndex();
  check.status = status;
  check.modifyIndex = index;
  check.criticalSince = status === 'critical' ? Date.now() : undefined;
  state.touchService(check.serviceName, index, { checks: true });
  state.commit(index);
}

/** api-docs/agent/check TTL: a TTL check not updated within its TTL turns critical with Output "TTL expired". */
function armTtl(state: ConsulState, check: CheckRecord): void {
  clearTimeout(check.ttlTimer);
  if (check.ttlMs === undefined) return;
  check.ttlTimer = setTimeout(() => {
    if (state.checks.get(check.checkId) !== check) return;
    const last = check.output;
    setCheckStatus(state, check, 'critical', last ? `TTL expired (last output before timeout follows): ${last}` : 'TTL expired');
  }, check.ttlMs);
  check.ttlTimer.unref();
}

/**
 * api-docs/agent/check DeregisterCriticalServiceAfter: "If a check is in the critical state for more
 * than this configured value, then its associated service (and all of its associated checks) will
 * automatically be deregistered. The minimum timeout is 1 minute, and the process that reaps critical
 * services runs every 30 seconds".
 */
export function startReaper(state: ConsulState): NodeJS.Timeout {
  const timer = setInterval(() => {
    const now = Date.now();
    for (const check of [...state.checks.values()]) {
      if (check.deregisterAfterMs === undefined || check.status !== 'critical' || check.criticalSince === undefined) continue;
      if (now - check.criticalSince > check.deregisterAfterMs) deregisterService(state, check.serviceId);
    }
  }, state.options.reapIntervalMs);
  timer.unref();
  return timer;
}

export function clearCheckTimers(state: ConsulState): void {
  for (const check of state.checks.values()) clearTimeout(check.ttlTimer);
}

function buildCheck(state: ConsulState, service: ServiceRecord, definition: unknown, position: number, count: number, index: number): CheckRecord {
  if (definition === null || typeof definition !== 'object') throw new HttpError(400, 'Request decode failed: a check must be an object');
  const checkId = stringField(definition, 'CheckID') || stringField(definition, 'ID') || `service:${service.id}${count > 1 ? `:${position + 1}` : ''}`;
  const kind = CHECK_KINDS.find((name) => field(definition, name) !== undefined && field(definition, name) !== '');
  if (!kind) throw new HttpError(400, 'Invalid check: must have one of TTL, HTTP, TCP, UDP, GRPC, H2PING, Args, DockerContainerID, OSService or an alias');

  let ttlMs: number | undefined;
  if (kind === 'TTL') {
    ttlMs = parseDuration(stringField(definition, 'TTL') ?? '');
    if (ttlMs === undefined || ttlMs <= 0) throw new HttpError(400, `Invalid check: TTL must be > 0 for TTL checks`);
  }
  let deregisterAfterMs: number | undefined;
  const deregisterAfter = stringField(definition, 'DeregisterCriticalServiceAfter');
  if (deregisterAfter) {
    const parsed = parseDuration(deregisterAfter);
    if (parsed === undefined) throw new HttpError(400, `Request decode failed: time: invalid duration "${deregisterAfter}"`);
    // Consul raises a shorter value to the minimum (1m) rather than refusing it.
    if (parsed > 0) deregisterAfterMs = Math.max(parsed, state.options.minDeregisterAfterMs);
  }
  const initial = stringField(definition, 'Status') || 'critical';
  if (!STATUSES.has(initial)) throw new HttpError(400, `Invalid check status: '${initial}'`);

  const previous = state.checks.get(checkId);
  const keep = previous?.serviceId === service.id;
  const status = keep ? previous.status : (initial as CheckStatus);
  return {
    checkId,
    name: stringField(definition, 'Name') || `Service '${service.name}' check`,
    status,
    notes: stringField(definition, 'Notes') ?? '',
    output: keep ? previous.output : '',
    serviceId: service.id,
    serviceName: service.name,
    type: kind === 'TTL' ? 'ttl' : kind.toLowerCase(),
    ttlMs,
    deregisterAfterMs,
    criticalSince: status === 'critical' ? (keep && previous.criticalSince) || Date.now() : undefined,
    definition: {
      ...(ttlMs !== undefined ? { TTL: formatDuration(ttlMs) } : {}),
      ...(deregisterAfterMs !== undefined ? { DeregisterCriticalServiceAfter: formatDuration(deregisterAfterMs) } : {}),
    },
    createIndex: keep ? previous.createIndex : index,
    modifyIndex: index,
  };
}

const withoutIndexes = ({ CreateIndex: _c, ModifyIndex: _m, ...rest }: Record<string, unknown>): Record<string, unknown> => rest;

/** A service as readers see it, indexes aside. */
function serviceFingerprint(service: ServiceRecord): string {
  return JSON.stringify(withoutIndexes(renderHealthService(service)));
}

/** A check as readers see it (and what decides its expiry and reaping), indexes aside. */
function checkFingerprint(state: ConsulState, check: CheckRecord): string {
  return JSON.stringify({ ...withoutIndexes(renderCheck(state, check)), ttl: check.ttlMs, deregister: check.deregisterAfterMs });
}

/**
 * Service Meta as Consul's agent accepts it (agent_endpoint.go AgentRegisterService ->
 * structs.ValidateServiceMetadata and validateMetaPair): at most 64 pairs, keys of at most 128
 * characters of [A-Za-z0-9_-] not starting with `consul-`, values of at most 512 bytes (Go's `len`
 * counts UTF-8 bytes, though the message says characters). Go iterates a map in random order, so
 * which bad pair Consul names first varies; the double names the first in the body.
 */
function serviceMeta(raw: unknown): Record<string, string> {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw) || Object.values(raw).some((value) => typeof value !== 'string')) {
    throw new HttpError(400, 'Request decode failed: Meta must map strings to strings');
  }
  const meta = raw as Record<string, string>;
  if (Object.keys(meta).length > META_MAX_PAIRS) throw new HttpError(400, `Invalid Service Meta: Node metadata cannot contain more than ${META_MAX_PAIRS} key/value pairs`);
  for (const [key, value] of Object.entries(meta)) {
    const problem = metaPairProblem(key, value);
    if (problem) throw new HttpError(400, `Invalid Service Meta: Couldn't load metadata pair ('${key}', '${value}'): ${problem}`);
  }
  return meta;
}

function metaPairProblem(key: string, value: string): string | undefined {
  if (key === '') return 'Key cannot be blank';
  if (!/^[a-zA-Z0-9_-]+$/.test(key)) return 'Key contains invalid characters';
  if (key.length > META_KEY_MAX_LENGTH) return `Key is too long (limit: ${META_KEY_MAX_LENGTH} characters)`;
  if (key.startsWith(META_RESERVED_PREFIX)) return `Key prefix '${META_RESERVED_PREFIX}' is reserved for internal use`;
  if (Buffer.byteLength(value, 'utf8') > META_VALUE_MAX_LENGTH) return `Value is too long (limit: ${META_VALUE_MAX_LENGTH} characters)`;
  return undefined;
}

function stringList(value: unknown): string[] {
  return Array.isArray(value) ? value.map(String) : [];
}
