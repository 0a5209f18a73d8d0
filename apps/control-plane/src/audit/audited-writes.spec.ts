import { describe, expect, it } from 'vitest';
import { AUDITED_WRITES, auditEntryOf, UNAUDITED_WRITES, type FinishedRequest } from './audited-writes';

const RESOURCES = '/apis/mesh.portolan.dev/v1alpha1/namespaces/:namespace/:plural';
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

/** A request by the editor `erin` that succeeded, changed by `overrides`. */
function finished(overrides: Partial<FinishedRequest>): FinishedRequest {
  return {
    method: 'POST',
    route: RESOURCES,
    path: '/apis/mesh.portolan.dev/v1alpha1/namespaces/shop/ratelimitpolicies',
    params: { namespace: 'shop', plural: 'ratelimitpolicies' },
    query: {},
    body: undefined,
    code: 201,
    answer: undefined,
    principal: { name: 'erin', role: 'editor' },
    bootstrap: false,
    nodeAuthenticated: false,
    credentialPresented: true,
    notes: {},
    sourceAddress: '10.1.2.3',
    userAgent: 'kubectl/v1.33.1',
    traceId: TRACE,
    ...overrides,
  };
}

const stored = (name: string, resourceVersion: string) => ({ apiVersion: 'mesh.portolan.dev/v1alpha1', kind: 'RateLimitPolicy', metadata: { name, namespace: 'shop', resourceVersion } });
const status = (code: number, reason: string, message: string, details?: object) => ({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', code, reason, message, ...(details ? { details } : {}) });
const objectPath = { namespace: 'shop', plural: 'ratelimitpolicies', name: 'checkout' };

describe('auditEntryOf: what is recorded', () => {
  it.each<[string, Partial<FinishedRequest>]>([
    ['a read', { method: 'GET', code: 200 }],
    ['a HEAD or OPTIONS request', { method: 'OPTIONS', code: 204 }],
    ['a request no route matched (an unknown path, an unparseable body)', { route: undefined, code: 404 }],
    ['a heartbeat', { route: '/agent/v1/nodes/:id/heartbeat', code: 200 }],
    ['an ACK', { route: '/agent/v1/nodes/:id/acks', code: 204 }],
    ['spans sent to the OTLP receiver', { route: '/v1/traces', code: 200, principal: undefined }],
    ['a write without any credential', { principal: undefined, credentialPresented: false, code: 401 }],
    ['a write from an address locked out for guessing', { principal: undefined, credentialPresented: true, code: 429 }],
  ])('leaves out %s', (_what, overrides) => {
    expect(auditEntryOf(finished(overrides))).toBeUndefined();
  });

  it('records a write with everything but the body', () => {
    const request = finished({ body: { ...stored('checkout', ''), spec: { secret: 'do-not-record' } }, answer: stored('checkout', '42') });
    expect(auditEntryOf(request)).toEqual({
      actor: 'erin',
      role: 'editor',
      sourceAddress: '10.1.2.3',
      userAgent: 'kubectl/v1.33.1',
      action: 'create',
      method: 'POST',
      path: '/apis/mesh.portolan.dev/v1alpha1/namespaces/shop/ratelimitpolicies',
      object: { kind: 'RateLimitPolicy', namespace: 'shop', name: 'checkout', resourceVersion: '42' },
      outcome: { status: 'Success', code: 201 },
      dryRun: false,
      traceId: TRACE,
    });
  });

  it('records a failed authentication that sent a credential, without an actor', () => {
    const entry = auditEntryOf(finished({ principal: undefined, code: 401, answer: status(401, 'Unauthorized', 'Unauthorized: the bearer token is not valid') }));
    expect(entry).toMatchObject({ action: 'create', outcome: { status: 'Failure', code: 401, reason: 'Unauthorized', message: 'Unauthorized: the bearer token is not valid' } });
    expect(entry).not.toHaveProperty('actor');
    expect(entry).not.toHaveProperty('role');
  });

  it('records a refusal with its principal, reason and message, and no resourceVersion', () => {
    const message = 'forbidden: "victor" has role viewer and cannot PUT …: it needs role editor';
    const entry = auditEntryOf(finished({ method: 'PUT', route: `${RESOURCES}/:name`, params: objectPath, principal: { name: 'victor', role: 'viewer' }, code: 403, answer: status(403, 'Forbidden', message) }));
    expect(entry).toMatchObject({ actor: 'victor', role: 'viewer', action: 'update', object: { kind: 'RateLimitPolicy', namespace: 'shop', name: 'checkout' }, outcome: { status: 'Failure', code: 403, reason: 'Forbidden', message } });
    expect(entry!.object).not.toHaveProperty('resourceVersion');
  });

  it('names a Kubernetes user refused by its review from the log context, without a role', () => {
    const entry = auditEntryOf(finished({ principal: undefined, contextPrincipal: 'kubernetes:jane', credentialPresented: false, code: 403, answer: status(403, 'Forbidden', 'forbidden') }));
    expect(entry).toMatchObject({ actor: 'kubernetes:jane', outcome: { code: 403 } });
    expect(entry).not.toHaveProperty('role');
    expect(auditEntryOf(finished({ principal: { name: 'kubernetes:jane', kubernetes: { name: 'jane', groups: [] } } }))).not.toHaveProperty('role');
  });

  it('keeps only the first 1024 characters of a message and 256 of a user agent, and reads an IPv4 client of a dual-stack listener plainly', () => {
    const entry = auditEntryOf(finished({ code: 422, answer: status(422, 'Invalid', 'x'.repeat(5000)), userAgent: 'y'.repeat(1000), sourceAddress: '::ffff:10.0.0.7' }));
    expect(entry!.outcome.message).toHaveLength(1024);
    expect(entry!.userAgent).toHaveLength(256);
    expect(entry!.sourceAddress).toBe('10.0.0.7');
    expect(auditEntryOf(finished({ sourceAddress: '2001:db8::1' }))!.sourceAddress).toBe('2001:db8::1');
  });

  it('says nothing of the reason of an answer that is not a Status', () => {
    expect(auditEntryOf(finished({ code: 500, answer: 'Internal Server Error' }))!.outcome).toEqual({ status: 'Failure', code: 500 });
  });
});

describe('auditEntryOf: what each write is', () => {
  it.each<[string, Partial<FinishedRequest>, object]>([
    ['a create, named by the object written', { answer: stored('made', '7') }, { action: 'create', object: { kind: 'RateLimitPolicy', namespace: 'shop', name: 'made', resourceVersion: '7' } }],
    ['a refused create, named by its Status', { code: 409, answer: status(409, 'AlreadyExists', 'exists', { name: 'taken', kind: 'ratelimitpolicies' }) }, { action: 'create', object: { name: 'taken' } }],
    ['a refused create, named by its body', { code: 403, body: { metadata: { name: 'wanted' } }, answer: status(403, 'Forbidden', 'no') }, { action: 'create', object: { name: 'wanted' } }],
    ['a dry run, with no resourceVersion', { query: { dryRun: 'All' }, answer: stored('made', '7') }, { action: 'create', dryRun: true, object: { name: 'made' } }],
    ['a replace', { method: 'PUT', route: `${RESOURCES}/:name`, params: objectPath, code: 200, answer: stored('checkout', '8') }, { action: 'update', object: { name: 'checkout', resourceVersion: '8' } }],
    ['a merge patch', { method: 'PATCH', route: `${RESOURCES}/:name`, params: objectPath, contentType: 'application/merge-patch+json', code: 200, answer: stored('checkout', '9') }, { action: 'patch', object: { resourceVersion: '9' } }],
    [
      'a server-side apply, with its field manager',
      { method: 'PATCH', route: `${RESOURCES}/:name`, params: objectPath, contentType: 'application/apply-patch+yaml; charset=utf-8', query: { fieldManager: 'kubectl', force: 'true' }, code: 200, answer: stored('checkout', '10') },
      { action: 'apply', fieldManager: 'kubectl', object: { resourceVersion: '10' } },
    ],
    ['a write to the status subresource', { method: 'PUT', route: `${RESOURCES}/:name/status`, params: objectPath, code: 405, answer: status(405, 'MethodNotAllowed', 'no') }, { action: 'update', object: { name: 'checkout', subresource: 'status' } }],
    ['a rollback', { route: `${RESOURCES}/:name/rollback`, params: objectPath, code: 200, answer: stored('checkout', '11') }, { action: 'rollback', object: { name: 'checkout', resourceVersion: '11' } }],
    ['an unknown kind, by the plural given', { params: { namespace: 'shop', plural: 'widgets' }, code: 404, answer: status(404, 'NotFound', 'no') }, { object: { kind: 'widgets', namespace: 'shop' } }],
    ['a zone drain', { route: '/v1/zones/:zone/drain', params: { zone: 'zone-a' }, code: 200, answer: { zone: 'zone-a', drained: true, revision: 12 } }, { action: 'drain', object: { kind: 'Zone', namespace: 'default', name: 'zone-a', resourceVersion: '12' } }],
    ['an undrain', { method: 'DELETE', route: '/v1/zones/:zone/drain', params: { zone: 'zone-a' }, code: 200, answer: { zone: 'zone-a', drained: false, revision: 13 } }, { action: 'undrain', object: { kind: 'Zone', name: 'zone-a' } }],
    ['a drill, with its id', { route: '/v1/zones/:zone/drills', params: { zone: 'zone-a' }, code: 202, answer: { id: 'zone-a-1f2e3d4c', zone: 'zone-a' } }, { action: 'drill', object: { kind: 'Zone', name: 'zone-a' }, drill: { id: 'zone-a-1f2e3d4c' } }],
  ])('%s', (_what, overrides, expected) => {
    expect(auditEntryOf(finished(overrides))).toMatchObject(expected);
  });

  it('records a delete without the resourceVersion of the object as it was before', () => {
    const entry = auditEntryOf(finished({ method: 'DELETE', route: `${RESOURCES}/:name`, params: objectPath, code: 200, answer: stored('checkout', '5') }));
    expect(entry).toMatchObject({ action: 'delete', object: { name: 'checkout' } });
    expect(entry!.object).not.toHaveProperty('resourceVersion');
  });

  it('records a minted token by id, name and role, never its value', () => {
    const minted = { id: 'b9ad', name: 'ci-bot', role: 'editor', source: 'api', token: 'ptl_secret-value' };
    const entry = auditEntryOf(finished({ route: '/v1/tokens', params: {}, principal: { name: 'alice', role: 'admin' }, body: { name: 'ci-bot', role: 'editor' }, answer: minted }));
    expect(entry).toMatchObject({ actor: 'alice', role: 'admin', action: 'token.create', object: { kind: 'Token', name: 'ci-bot' }, token: { id: 'b9ad', name: 'ci-bot', role: 'editor' } });
    expect(JSON.stringify(entry)).not.toContain('ptl_secret-value');
    const refused = auditEntryOf(finished({ route: '/v1/tokens', params: {}, code: 422, body: { name: 'ci-bot', role: 'owner' }, answer: status(422, 'Invalid', 'role') }));
    expect(refused).toMatchObject({ action: 'token.create', token: { name: 'ci-bot' } });
    expect(refused!.token).not.toHaveProperty('role');
  });

  it('records a revoked token by the id in its path and the name and role its handler noted', () => {
    const revoke = { method: 'DELETE', route: '/v1/tokens/:id', params: { id: 'b9ad' }, code: 200 };
    expect(auditEntryOf(finished({ ...revoke, notes: { token: { name: 'ci-bot', role: 'editor' } } }))).toMatchObject({ action: 'token.revoke', object: { kind: 'Token', name: 'ci-bot' }, token: { id: 'b9ad', name: 'ci-bot', role: 'editor' } });
    expect(auditEntryOf(finished({ ...revoke, code: 404 }))).toMatchObject({ action: 'token.revoke', object: { kind: 'Token' }, token: { id: 'b9ad' } });
  });

  it('records registrations by the node they made, actor bootstrap without a role', () => {
    const node = { id: 'n-1', role: 'gateway' as const, namespace: 'default', name: 'gw-1' };
    const registered = auditEntryOf(finished({ route: '/agent/v1/register', params: {}, principal: { name: 'bootstrap', role: 'viewer' }, bootstrap: true, node, answer: { id: 'n-1', name: 'gw-1', credential: 'ptn_secret' } }));
    expect(registered).toMatchObject({ actor: 'bootstrap', action: 'gateway.register', object: { kind: 'GatewayNode', namespace: 'default', name: 'gw-1' }, node: { id: 'n-1' } });
    expect(registered).not.toHaveProperty('role');
    expect(JSON.stringify(registered)).not.toContain('ptn_secret');
    const refused = auditEntryOf(finished({ route: '/agent/v1/register', params: {}, principal: { name: 'bootstrap', role: 'viewer' }, bootstrap: true, code: 422, body: { role: 'instance', name: 'orders-1' }, answer: status(422, 'Invalid', 'no') }));
    expect(refused).toMatchObject({ action: 'instance.register', object: { kind: 'ServiceInstance', name: 'orders-1' } });
    // An admin token may register too: then it is the admin's, with its role.
    expect(auditEntryOf(finished({ route: '/agent/v1/register', params: {}, principal: { name: 'alice', role: 'admin' }, node, answer: { id: 'n-1' } }))).toMatchObject({ actor: 'alice', role: 'admin' });
  });

  it('records a node draining and leaving as the node, and an attempt with a wrong credential by the id it named', () => {
    const node = { id: 'n-2', role: 'instance' as const, namespace: 'shop', name: 'orders-1' };
    const leave = { method: 'DELETE', route: '/agent/v1/nodes/:id', params: { id: 'n-2' }, code: 200 };
    const left = auditEntryOf(finished({ ...leave, principal: { name: 'instance/shop/orders-1', role: 'viewer' }, nodeAuthenticated: true, node }));
    expect(left).toMatchObject({ actor: 'instance/shop/orders-1', action: 'instance.deregister', object: { kind: 'ServiceInstance', namespace: 'shop', name: 'orders-1' }, node: { id: 'n-2' } });
    expect(left).not.toHaveProperty('role');
    expect(auditEntryOf(finished({ ...leave, route: '/agent/v1/nodes/:id/drain', method: 'POST', principal: { name: 'instance/shop/orders-1', role: 'viewer' }, nodeAuthenticated: true, node }))).toMatchObject({ action: 'instance.drain' });
    expect(auditEntryOf(finished({ ...leave, principal: undefined, code: 401 }))).toMatchObject({ action: 'node.deregister', node: { id: 'n-2' }, outcome: { code: 401 } });
  });

  it('records a gateway credential revoked by the gateway the answer names', () => {
    const answer = { kind: 'Status', status: 'Success', code: 200, details: { name: 'gw-1', kind: 'gateways' } };
    expect(auditEntryOf(finished({ route: '/v1/gateways/:gateway/revoke-credential', params: { gateway: '17203f5d' }, principal: { name: 'alice', role: 'admin' }, code: 200, answer }))).toMatchObject({
      action: 'gateway.revoke-credential',
      object: { kind: 'GatewayNode', namespace: 'default', name: 'gw-1' },
    });
  });

  it('records a write route nobody described under its method and route', () => {
    expect(auditEntryOf(finished({ method: 'PUT', route: '/v1/new-thing/:id', params: { id: 'x' }, code: 200 }))).toMatchObject({ action: 'PUT /v1/new-thing/:id', object: { kind: 'Unknown' } });
  });

  it('describes no route it also leaves out', () => {
    expect(Object.keys(AUDITED_WRITES).filter((route) => route in UNAUDITED_WRITES)).toEqual([]);
  });
});
