/**
 * Which requests the audit log records, and what it says of each: a pure function of the request as
 * it finished (route, principal, answer), so that the middleware only gathers and every rule is
 * tested here.
 *
 * Every request that is not a read (GET, HEAD, OPTIONS) on a route the API serves is recorded, except
 * the agent protocol's status reports (UNAUDITED_WRITES). A write route nobody described below is
 * still recorded, under the action `<METHOD> <route>`, so a new route cannot go unaudited; the audit
 * e2e spec fails until it is named here.
 *
 * Refusals are recorded with the principal they refused (403, 409, 422, …). A request that failed
 * authentication is recorded when it carried a credential (a wrong or expired token: someone trying
 * one), without an actor; requests that carried none, or came from an address locked out for
 * guessing (429), are not: nobody is named, and anyone could fill the log with them.
 */
import { DEFAULT_NAMESPACE, GROUP_VERSION, kindByPlural } from '@portolan/api';
import { AGENT_API_PREFIX, PATHS } from '@portolan/agent-client';
import { isRole, type Role } from '../auth/roles';
import { KIND_OF_ROLE } from '../registry/node-registry';
import { APPLY_PATCH } from '../resources/patch';
import { OTLP_TRACES_PATH } from '../tracing/otlp/otlp-body';
import type { NewAuditEntry } from './audit-log';

/** What the audit middleware saw of a request once its answer was decided. */
export interface FinishedRequest {
  method: string;
  /** The route template Express matched (`/v1/tokens/:id`); undefined when no route did. */
  route: string | undefined;
  /** The path, without the query. */
  path: string;
  params: Record<string, string | undefined>;
  query: Record<string, unknown>;
  contentType?: string;
  /** Read for identity fields only (an object's or a token's name), never recorded. */
  body: unknown;
  code: number;
  /** The JSON the answer carried: the object written, or a Status. Read for identity fields and the refusal only. */
  answer: unknown;
  /** Who the request authenticated as (or was refused as, for 403). */
  principal?: { name: string; role?: string; kubernetes?: unknown };
  /** The principal named in the request's log context (a Kubernetes user its review refused). */
  contextPrincipal?: string;
  /** The request authenticated with the bootstrap token. */
  bootstrap: boolean;
  /** The node the route's `:id` names (or a registration created), when it is registered. */
  node?: { id: string; role: 'gateway' | 'instance'; namespace: string; name: string };
  /** The node authenticated with its own credential. */
  nodeAuthenticated: boolean;
  /** An Authorization header was sent. */
  credentialPresented: boolean;
  /** What the handler added (audit-notes.ts). */
  notes: AuditNotes;
  sourceAddress?: string;
  userAgent?: string;
  traceId?: string;
}

/** What a handler knows that the answer does not say: a revoked token's name and role. */
export interface AuditNotes {
  token?: { name: string; role: string };
}

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);
const MAX_MESSAGE = 1024;
const MAX_USER_AGENT = 256;
const MAX_NAME = 253;

/** Writes that are not recorded, and why (docs/auth.md says the same). */
export const UNAUDITED_WRITES: Record<string, string> = {
  [`POST ${AGENT_API_PREFIX}/nodes/:id/heartbeat`]: 'a status report every node sends every few seconds, not a change anyone made',
  [`POST ${AGENT_API_PREFIX}/nodes/:id/acks`]: 'a gateway saying which configuration it runs',
  [`POST ${AGENT_API_PREFIX}/nodes/:id/tap`]: 'the sampled requests a tapped gateway sends back',
  [`POST ${OTLP_TRACES_PATH}`]: 'spans sent to the OTLP receiver (ops port)',
};

type Description = Pick<NewAuditEntry, 'action' | 'object'> & Partial<Pick<NewAuditEntry, 'token' | 'node' | 'drill'>>;
type Describe = (request: FinishedRequest, succeeded: boolean) => Description;

const RESOURCES = `/apis/${GROUP_VERSION}/namespaces/:namespace/:plural`;

/** The audited write routes, by `METHOD route`, and how each is described. */
export const AUDITED_WRITES: Record<string, Describe> = {
  [`POST ${RESOURCES}`]: resourceWrite(() => 'create'),
  [`PUT ${RESOURCES}/:name`]: resourceWrite(() => 'update'),
  [`PATCH ${RESOURCES}/:name`]: resourceWrite(patchAction),
  [`DELETE ${RESOURCES}/:name`]: resourceWrite(() => 'delete'),
  [`PUT ${RESOURCES}/:name/status`]: resourceWrite(() => 'update', 'status'),
  [`PATCH ${RESOURCES}/:name/status`]: resourceWrite(patchAction, 'status'),
  [`POST ${RESOURCES}/:name/rollback`]: resourceWrite(() => 'rollback'),
  'POST /v1/zones/:zone/drain': zoneAction('drain'),
  'DELETE /v1/zones/:zone/drain': zoneAction('undrain'),
  'POST /v1/zones/:zone/drills': zoneAction('drill'),
  'POST /v1/tokens': tokenCreate,
  'DELETE /v1/tokens/:id': tokenRevoke,
  'POST /v1/gateways/:gateway/revoke-credential': credentialRevoke,
  [`POST ${PATHS.register}`]: registration,
  [`POST ${AGENT_API_PREFIX}/nodes/:id/drain`]: nodeAction('drain'),
  [`DELETE ${AGENT_API_PREFIX}/nodes/:id`]: nodeAction('deregister'),
};

/** The entry for a finished request, or undefined when it is not recorded. */
export function auditEntryOf(request: FinishedRequest): NewAuditEntry | undefined {
  if (READS.has(request.method) || request.route === undefined) return undefined;
  const routeKey = `${request.method} ${request.route}`;
  if (routeKey in UNAUDITED_WRITES) return undefined;
  const actor = request.principal?.name ?? request.contextPrincipal;
  if (actor === undefined && !(request.code === 401 && request.credentialPresented)) return undefined;
  const succeeded = request.code < 400;
  const describe = AUDITED_WRITES[routeKey] ?? ((): Description => ({ action: routeKey, object: { kind: 'Unknown' } }));
  const description = describe(request, succeeded);
  const role = roleOf(request);
  return withoutUndefined({
    actor,
    role,
    sourceAddress: request.sourceAddress && plainAddress(request.sourceAddress),
    userAgent: request.userAgent?.slice(0, MAX_USER_AGENT),
    action: description.action,
    method: request.method,
    path: request.path,
    object: withoutUndefined(description.object),
    outcome: outcomeOf(request.code, request.answer),
    dryRun: request.query.dryRun === 'All',
    fieldManager: stringOr(request.query.fieldManager),
    token: description.token && withoutUndefined(description.token),
    node: description.node,
    drill: description.drill,
    traceId: request.traceId,
  });
}

/** A bearer token's role; Kubernetes users (RBAC), nodes and the bootstrap token have none. */
function roleOf(request: FinishedRequest): Role | undefined {
  const { principal } = request;
  if (!principal || principal.kubernetes !== undefined || request.nodeAuthenticated || request.bootstrap) return undefined;
  return isRole(principal.role) ? principal.role : undefined;
}

function outcomeOf(code: number, answer: unknown): NewAuditEntry['outcome'] {
  if (code < 400) return { status: 'Success', code };
  const status = record(answer);
  const isStatus = status?.kind === 'Status';
  return withoutUndefined({
    status: 'Failure' as const,
    code,
    reason: isStatus ? stringOr(status.reason) : undefined,
    message: isStatus ? stringOr(status.message)?.slice(0, MAX_MESSAGE) : undefined,
  });
}

function patchAction(request: FinishedRequest): string {
  return (request.contentType ?? '').split(';')[0].trim().toLowerCase() === APPLY_PATCH ? 'apply' : 'patch';
}

function resourceWrite(action: (request: FinishedRequest) => string, subresource?: string): Describe {
  return (request, succeeded) => {
    const { namespace, plural, name } = request.params;
    const answer = record(request.answer);
    const written = succeeded ? record(answer?.metadata) : undefined;
    const refusal = succeeded ? undefined : record(answer?.details);
    const verb = action(request);
    return {
      action: verb,
      object: {
        kind: (plural && kindByPlural(plural)?.kind) ?? plural ?? 'Unknown',
        namespace,
        name: name ?? nameOr(written?.name) ?? nameOr(refusal?.name) ?? nameOr(record(record(request.body)?.metadata)?.name),
        subresource,
        // A delete answers the object as it was before; the history has the deletion's revision.
        resourceVersion: succeeded && verb !== 'delete' && request.query.dryRun !== 'All' ? stringOr(written?.resourceVersion) : undefined,
      },
    };
  };
}

function zoneAction(action: 'drain' | 'undrain' | 'drill'): Describe {
  return (request, succeeded) => {
    const answer = succeeded ? record(request.answer) : undefined;
    const revision = answer?.revision;
    const drillId = action === 'drill' ? stringOr(answer?.id) : undefined;
    return {
      action,
      object: { kind: 'Zone', namespace: DEFAULT_NAMESPACE, name: request.params.zone, resourceVersion: typeof revision === 'number' ? String(revision) : undefined },
      ...(drillId ? { drill: { id: drillId } } : {}),
    };
  };
}

function tokenCreate(request: FinishedRequest, succeeded: boolean): Description {
  // The answer carries the new token's value: only its id, name and role are read.
  const minted = succeeded ? record(request.answer) : undefined;
  const asked = record(request.body);
  const name = nameOr(minted?.name) ?? nameOr(asked?.name);
  const askedRole = asked?.role;
  return {
    action: 'token.create',
    object: { kind: 'Token', name },
    token: { id: stringOr(minted?.id), name, role: stringOr(minted?.role) ?? (isRole(askedRole) ? askedRole : undefined) },
  };
}

function tokenRevoke(request: FinishedRequest): Description {
  const { token } = request.notes;
  return {
    action: 'token.revoke',
    object: { kind: 'Token', name: token?.name },
    token: { id: request.params.id, name: token?.name, role: token?.role },
  };
}

function credentialRevoke(request: FinishedRequest, succeeded: boolean): Description {
  const revoked = succeeded ? nameOr(record(record(request.answer)?.details)?.name) : undefined;
  return { action: 'gateway.revoke-credential', object: { kind: KIND_OF_ROLE.gateway, namespace: DEFAULT_NAMESPACE, name: revoked ?? request.params.gateway } };
}

function registration(request: FinishedRequest, succeeded: boolean): Description {
  const { node } = request;
  if (succeeded && node) return nodeDescription('register', node);
  const asked = record(request.body);
  const role = asked?.role === 'gateway' || asked?.role === 'instance' ? asked.role : undefined;
  return { action: `${role ?? 'node'}.register`, object: { kind: role ? KIND_OF_ROLE[role] : 'Node', name: nameOr(asked?.name) } };
}

function nodeAction(action: 'drain' | 'deregister'): Describe {
  return (request) => {
    if (request.node) return nodeDescription(action, request.node);
    return { action: `node.${action}`, object: { kind: 'Node' }, node: request.params.id ? { id: request.params.id } : undefined };
  };
}

function nodeDescription(action: string, node: NonNullable<FinishedRequest['node']>): Description {
  return { action: `${node.role}.${action}`, object: { kind: KIND_OF_ROLE[node.role], namespace: node.namespace, name: node.name }, node: { id: node.id } };
}

/** `::ffff:10.0.0.7` (an IPv4 client of a dual-stack listener) as `10.0.0.7`. */
function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice('::ffff:'.length) : address;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function stringOr(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function nameOr(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value.slice(0, MAX_NAME) : undefined;
}

function withoutUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as T;
}
