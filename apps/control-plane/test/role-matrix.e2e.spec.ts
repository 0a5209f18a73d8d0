/**
 * Every route against every identity: no token, a wrong token, viewer, editor, admin. A route is
 * refused (401 without a valid token, 403 with too small a role) exactly when the role may not use
 * it. The matrix must name every route the server has, so a new route cannot slip in unchecked.
 * Agent routes: registration takes the bootstrap token (or an admin's); node routes take only the
 * node's own credential, so every user identity gets 401 there.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GROUP_PATH, nsPath } from './support/api-client';
import { startInProcess, type InProcessControlPlane } from './support/in-process';

const TOKENS = { viewer: 'viewer-token-0123456789', editor: 'editor-token-0123456789', admin: 'admin-token-01234567890' };
const BOOTSTRAP = 'bootstrap-token-0123456789';
/** `ops-port`: served on the plain-HTTP ops port only; the HTTPS API answers 404 to everyone. */
type Needs = 'public' | 'ops-port' | 'viewer' | 'editor' | 'admin' | 'bootstrap' | 'node';
const RANK: Record<Needs, number> = { public: 0, 'ops-port': 0, viewer: 1, editor: 2, admin: 3, bootstrap: 3, node: 99 };
const gatewayRegistration = (name: string) => ({ role: 'gateway', name, zone: 'zone-a', pool: 'edge', address: '127.0.0.1:1', version: 'test' });
let node: { id: string; credential: string };

const policy = (name: string) => ({
  apiVersion: 'mesh.portolan.dev/v1alpha1',
  kind: 'RateLimitPolicy',
  metadata: { name },
  spec: { targetRef: { kind: 'Mesh' }, limits: [{ name: 'per-minute', requests: 100, interval: '60s' }] },
});

interface RouteCase {
  route: string;
  needs: Needs;
  method: string;
  path: (run: string) => string;
  body?: (run: string) => unknown;
  contentType?: string;
}

const G = '/apis/mesh.portolan.dev/v1alpha1';
const MATRIX: RouteCase[] = [
  { route: 'GET /version', needs: 'public', method: 'GET', path: () => '/version' },
  { route: 'GET /healthz', needs: 'public', method: 'GET', path: () => '/healthz' },
  { route: 'GET /readyz', needs: 'public', method: 'GET', path: () => '/readyz' },
  { route: 'GET /metrics', needs: 'public', method: 'GET', path: () => '/metrics' },
  { route: 'GET /api', needs: 'viewer', method: 'GET', path: () => '/api' },
  { route: 'GET /apis', needs: 'viewer', method: 'GET', path: () => '/apis' },
  { route: 'GET /apis/mesh.portolan.dev', needs: 'viewer', method: 'GET', path: () => '/apis/mesh.portolan.dev' },
  { route: `GET ${G}`, needs: 'viewer', method: 'GET', path: () => G },
  { route: 'GET /openapi/v3', needs: 'viewer', method: 'GET', path: () => '/openapi/v3' },
  { route: `GET /openapi/v3${G}`, needs: 'viewer', method: 'GET', path: () => `/openapi/v3${G}` },
  { route: 'GET /openapi/v2', needs: 'viewer', method: 'GET', path: () => '/openapi/v2' },
  { route: `GET ${G}/:plural`, needs: 'viewer', method: 'GET', path: () => `${GROUP_PATH}/ratelimitpolicies` },
  { route: `GET ${G}/namespaces/:namespace/:plural`, needs: 'viewer', method: 'GET', path: () => nsPath('ratelimitpolicies') },
  { route: `GET ${G}/namespaces/:namespace/:plural/:name`, needs: 'viewer', method: 'GET', path: () => nsPath('ratelimitpolicies', 'seed') },
  { route: `GET ${G}/namespaces/:namespace/:plural/:name/rollout`, needs: 'viewer', method: 'GET', path: () => `${nsPath('ratelimitpolicies', 'seed')}/rollout` },
  { route: `GET ${G}/namespaces/:namespace/:plural/:name/history`, needs: 'viewer', method: 'GET', path: () => `${nsPath('ratelimitpolicies', 'seed')}/history` },
  { route: `GET ${G}/namespaces/:namespace/:plural/:name/status`, needs: 'viewer', method: 'GET', path: () => `${nsPath('ratelimitpolicies', 'seed')}/status` },
  // Status is the control plane's: an editor is let through and then refused 405, a viewer is refused 403 first.
  { route: `PUT ${G}/namespaces/:namespace/:plural/:name/status`, needs: 'editor', method: 'PUT', path: () => `${nsPath('ratelimitpolicies', 'seed')}/status`, body: () => policy('seed') },
  {
    route: `PATCH ${G}/namespaces/:namespace/:plural/:name/status`,
    needs: 'editor',
    method: 'PATCH',
    path: () => `${nsPath('ratelimitpolicies', 'seed')}/status`,
    body: () => ({ status: {} }),
    contentType: 'application/merge-patch+json',
  },
  { route: `POST ${G}/namespaces/:namespace/:plural`, needs: 'editor', method: 'POST', path: () => nsPath('ratelimitpolicies'), body: (run) => policy(`created-${run}`) },
  { route: `PUT ${G}/namespaces/:namespace/:plural/:name`, needs: 'editor', method: 'PUT', path: () => nsPath('ratelimitpolicies', 'seed'), body: () => policy('seed') },
  {
    route: `PATCH ${G}/namespaces/:namespace/:plural/:name`,
    needs: 'editor',
    method: 'PATCH',
    path: () => nsPath('ratelimitpolicies', 'seed'),
    body: (run) => ({ metadata: { labels: { run } } }),
    contentType: 'application/merge-patch+json',
  },
  { route: `POST ${G}/namespaces/:namespace/:plural/:name/rollback`, needs: 'editor', method: 'POST', path: () => `${nsPath('ratelimitpolicies', 'seed')}/rollback`, body: () => ({ revision: 1 }) },
  { route: `DELETE ${G}/namespaces/:namespace/:plural/:name`, needs: 'editor', method: 'DELETE', path: (run) => nsPath('ratelimitpolicies', `victim-${run}`) },
  { route: 'POST /agent/v1/register', needs: 'bootstrap', method: 'POST', path: () => '/agent/v1/register', body: (run) => gatewayRegistration(`gw-${run}`.toLowerCase()) },
  { route: 'POST /agent/v1/nodes/:id/heartbeat', needs: 'node', method: 'POST', path: () => `/agent/v1/nodes/${node.id}/heartbeat`, body: () => ({}) },
  { route: 'GET /agent/v1/nodes/:id/snapshot', needs: 'node', method: 'GET', path: () => `/agent/v1/nodes/${node.id}/snapshot?wait=1ms` },
  { route: 'POST /agent/v1/nodes/:id/acks', needs: 'node', method: 'POST', path: () => `/agent/v1/nodes/${node.id}/acks`, body: () => ({ version: 'x', revision: 0, status: 'ACK' }) },
  { route: 'POST /agent/v1/nodes/:id/tap', needs: 'node', method: 'POST', path: () => `/agent/v1/nodes/${node.id}/tap`, body: () => ({ requests: [] }) },
  { route: 'POST /agent/v1/nodes/:id/drain', needs: 'node', method: 'POST', path: () => `/agent/v1/nodes/${node.id}/drain?wait=1ms` },
  { route: 'DELETE /agent/v1/nodes/:id', needs: 'node', method: 'DELETE', path: () => `/agent/v1/nodes/${node.id}` },
  { route: `GET ${G}/namespaces/:namespace/gatewaynodes/:name/effective-config`, needs: 'viewer', method: 'GET', path: () => nsPath('gatewaynodes', 'matrix-gateway') + '/effective-config' },
  { route: 'GET /v1/proxy-status', needs: 'viewer', method: 'GET', path: () => '/v1/proxy-status' },
  { route: 'GET /v1/self-checks', needs: 'viewer', method: 'GET', path: () => '/v1/self-checks' },
  { route: 'GET /v1/events', needs: 'viewer', method: 'GET', path: () => '/v1/events' },
  { route: 'GET /v1/traffic', needs: 'viewer', method: 'GET', path: () => '/v1/traffic' },
  { route: 'GET /v1/zones', needs: 'viewer', method: 'GET', path: () => '/v1/zones' },
  { route: 'POST /v1/zones/:zone/drain', needs: 'editor', method: 'POST', path: (run) => `/v1/zones/matrix-${run}/drain`, body: () => ({}) },
  { route: 'DELETE /v1/zones/:zone/drain', needs: 'editor', method: 'DELETE', path: () => '/v1/zones/matrix-undrained/drain' },
  { route: 'POST /v1/zones/:zone/drills', needs: 'editor', method: 'POST', path: () => '/v1/zones/no-such-zone/drills', body: () => ({ duration: '5s' }) },
  { route: 'GET /v1/zones/drills/:id', needs: 'viewer', method: 'GET', path: () => '/v1/zones/drills/unknown' },
  { route: 'GET /v1/resolve/:service', needs: 'viewer', method: 'GET', path: () => '/v1/resolve/no-such-service' },
  { route: 'POST /v1/traces', needs: 'ops-port', method: 'POST', path: () => '/v1/traces', body: () => ({}) },
  { route: 'GET /observability/v1/traces', needs: 'viewer', method: 'GET', path: () => '/observability/v1/traces' },
  { route: 'GET /observability/v1/traces/:traceId', needs: 'viewer', method: 'GET', path: () => `/observability/v1/traces/${'0'.repeat(31)}1` },
  { route: 'GET /observability/v1/services', needs: 'viewer', method: 'GET', path: () => '/observability/v1/services' },
  { route: 'GET /v1/whoami', needs: 'viewer', method: 'GET', path: () => '/v1/whoami' },
  { route: 'GET /v1/tokens', needs: 'admin', method: 'GET', path: () => '/v1/tokens' },
  { route: 'GET /v1/audit', needs: 'admin', method: 'GET', path: () => '/v1/audit' },
  { route: 'POST /v1/tokens', needs: 'admin', method: 'POST', path: () => '/v1/tokens', body: (run) => ({ name: `t-${run}`, role: 'viewer' }) },
  { route: 'DELETE /v1/tokens/:id', needs: 'admin', method: 'DELETE', path: (run) => `/v1/tokens/minted-${run}` },
  { route: 'POST /v1/gateways/:gateway/revoke-credential', needs: 'admin', method: 'POST', path: (run) => `/v1/gateways/absent-${run}/revoke-credential` },
];

const IDENTITIES = [
  { name: 'no token', token: undefined, rank: -1 },
  { name: 'a wrong token', token: 'not-a-real-token-at-all', rank: -1 },
  { name: 'viewer', token: TOKENS.viewer, rank: 1 },
  { name: 'editor', token: TOKENS.editor, rank: 2 },
  { name: 'admin', token: TOKENS.admin, rank: 3 },
];

let cp: InProcessControlPlane;
beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'portolan-tokens-'));
  const file = join(dir, 'tokens.yaml');
  writeFileSync(file, `tokens:\n${Object.entries(TOKENS).map(([role, token]) => `  - {name: ${role}-user, role: ${role}, token: ${token}}`).join('\n')}\n`);
  // Every wrong token and every user token on a node route is a failed authentication from 127.0.0.1: far past the lockout's default.
  cp = await startInProcess({ PORTOLAN_TOKENS_FILE: file, PORTOLAN_BOOTSTRAP_TOKEN: BOOTSTRAP, PORTOLAN_AUTH_FAILURE_LIMIT: '100000' }, TOKENS.admin);
  expect((await cp.client.call('POST', nsPath('ratelimitpolicies'), policy('seed'))).status).toBe(201);
  const registered = await cp.client.withToken(BOOTSTRAP).call('POST', '/agent/v1/register', gatewayRegistration('matrix-gateway'));
  expect(registered.status).toBe(201);
  node = registered.body;
});
afterAll(async () => {
  await cp?.stop();
});

describe('the role matrix', () => {
  it('names every route the server has', () => {
    expect([...cp.running.routes].sort()).toEqual(MATRIX.map((c) => c.route).sort());
  });

  describe.each(IDENTITIES)('with $name', ({ name, token, rank }) => {
    it.each(MATRIX.map((c) => [c.route, c]))('%s', async (_route, routeCase) => {
      const run = `${name.replace(/\W/g, '')}-${Math.random().toString(36).slice(2, 8)}`;
      if (routeCase.method === 'DELETE' && routeCase.path(run).includes('victim')) {
        await cp.client.call('POST', nsPath('ratelimitpolicies'), policy(`victim-${run}`));
      }
      const client = cp.client.withToken(token);
      const response = await client.call(routeCase.method, routeCase.path(run), routeCase.body?.(run), routeCase.contentType);
      const needed = RANK[routeCase.needs];
      if (routeCase.needs === 'ops-port') {
        expect(response.status).toBe(404);
        expect(response.body.message).toContain('ops port');
      } else if (needed === 0) {
        expect(response.status).toBeLessThan(400);
      } else if (rank < 0 || routeCase.needs === 'node') {
        expect(response.status).toBe(401);
        expect(response.body).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
      } else if (rank < needed) {
        expect(response.status).toBe(403);
        expect(response.body).toMatchObject({ kind: 'Status', reason: 'Forbidden', code: 403 });
        expect(response.body.message).toContain(`needs role ${routeCase.needs === 'bootstrap' ? 'admin or the bootstrap token' : routeCase.needs}`);
      } else {
        expect([401, 403]).not.toContain(response.status);
      }
    });
  });

  it('lets the bootstrap token register and nothing else; a node credential works only on its own node routes', async () => {
    const bootstrap = cp.client.withToken(BOOTSTRAP);
    expect((await bootstrap.call('GET', nsPath('ratelimitpolicies'))).status).toBe(401);
    expect((await bootstrap.call('POST', '/agent/v1/register', gatewayRegistration('by-bootstrap'))).status).toBe(201);
    const credential = cp.client.withToken(node.credential);
    expect((await credential.call('POST', `/agent/v1/nodes/${node.id}/heartbeat`, {})).status).toBe(200);
    expect((await credential.call('GET', nsPath('ratelimitpolicies'))).status).toBe(401);
    expect((await credential.call('POST', nsPath('ratelimitpolicies'), policy('by-a-gateway'))).status).toBe(401);
    expect((await credential.call('GET', '/v1/whoami')).status).toBe(401);
    const other = (await bootstrap.call('POST', '/agent/v1/register', gatewayRegistration('another-gateway'))).body;
    for (const [method, path, body] of [
      ['POST', `/agent/v1/nodes/${other.id}/heartbeat`, {}],
      ['GET', `/agent/v1/nodes/${other.id}/snapshot?wait=1ms`, undefined],
      ['POST', `/agent/v1/nodes/${other.id}/acks`, { version: 'x', revision: 0, status: 'ACK' }],
      ['POST', `/agent/v1/nodes/${other.id}/tap`, { requests: [] }],
      ['POST', `/agent/v1/nodes/${other.id}/drain?wait=1ms`, undefined],
      ['DELETE', `/agent/v1/nodes/${other.id}`, undefined],
    ] as const) {
      expect((await credential.call(method, path, body)).status, `${method} ${path}`).toBe(401);
    }
    expect((await bootstrap.call('GET', nsPath('gatewaynodes', 'another-gateway'))).status).toBe(401);
    expect((await cp.client.call('GET', nsPath('gatewaynodes', 'another-gateway'))).body.status).toMatchObject({ phase: 'Healthy' });
  });

  it('refuses writes by a viewer without changing anything', async () => {
    const before = (await cp.client.call('GET', nsPath('ratelimitpolicies', 'seed'))).body;
    await cp.client.withToken(TOKENS.viewer).call('PUT', nsPath('ratelimitpolicies', 'seed'), { ...policy('seed'), spec: { targetRef: { kind: 'Mesh' }, limits: [{ name: 'per-second', requests: 1, interval: '1s' }] } });
    const after = (await cp.client.call('GET', nsPath('ratelimitpolicies', 'seed'))).body;
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });

  it('lets an admin mint a token that works at once and stops working when revoked', async () => {
    const minted = await cp.client.call('POST', '/v1/tokens', { name: 'ci-bot', role: 'editor' });
    expect(minted.status).toBe(201);
    const bot = cp.client.withToken(minted.body.token);
    expect((await bot.call('GET', '/v1/whoami')).body).toEqual({ name: 'ci-bot', role: 'editor' });
    expect((await bot.call('POST', nsPath('ratelimitpolicies'), policy('by-bot'))).status).toBe(201);
    expect(JSON.stringify((await cp.client.call('GET', '/v1/tokens')).body)).not.toContain(minted.body.token);
    expect((await cp.client.call('DELETE', `/v1/tokens/${minted.body.id}`)).status).toBe(200);
    expect((await bot.call('GET', '/v1/whoami')).status).toBe(401);
  });
});
