/**
 * The audit log through the API, on one control plane for the file: writes by different principals
 * (an admin, an editor, a viewer refused, a kubectl-style server-side apply, a minted token, a
 * gateway) are read back from `GET /v1/audit` with who made them, what they did, when, from where
 * and with what outcome; every write route the server has is recorded except the agent's status
 * reports; only admins read the log; no credential ever appears in it; and it survives a restart.
 *
 * Each request carries a traceparent of its own, so its entry is found by its trace id.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UNAUDITED_WRITES } from '../src/audit/audited-writes';
import type { AuditEntry } from '../src/audit/audit-log';
import { nsPath, type ApiClient, type ApiResponse } from './support/api-client';
import { startInProcess, type InProcessControlPlane } from './support/in-process';

const TOKENS = { alice: 'alice-admin-token-0123456789', erin: 'erin-editor-token-0123456789', victor: 'victor-viewer-token-012345' };
const BOOTSTRAP = 'audit-bootstrap-token-0123456789';
const KUBECTL = 'kubectl/v1.33.1 (linux/amd64) kubernetes/8adc0f0';
const G = '/apis/mesh.portolan.dev/v1alpha1';

const policy = (name: string, requests = 100) => ({
  apiVersion: 'mesh.portolan.dev/v1alpha1',
  kind: 'RateLimitPolicy',
  metadata: { name },
  spec: { targetRef: { kind: 'Mesh' }, limits: [{ name: 'per-minute', requests, interval: '60s' }] },
});
const gatewayRegistration = (name: string) => ({ role: 'gateway', name, zone: 'zone-a', pool: 'edge', address: '127.0.0.1:1', version: 'test' });

let dataDir: string;
let cp: InProcessControlPlane;
const as = (who: keyof typeof TOKENS | string) => cp.client.withToken(who in TOKENS ? TOKENS[who as keyof typeof TOKENS] : who);
/** Every credential a request of this file sent: none may appear in the log. */
const credentials = new Set<string>([...Object.values(TOKENS), BOOTSTRAP, 'not-a-real-token-at-all']);

interface Sent {
  traceId: string;
  response: ApiResponse;
  /** The wall clock around the request: its entry's time is between. */
  sentAt: number;
  answeredAt: number;
}

/** A request with a trace of its own (and kubectl's user agent when asked), to find its entry by. */
async function send(client: ApiClient, method: string, path: string, body?: unknown, options: { contentType?: string; userAgent?: string } = {}): Promise<Sent> {
  const traceId = randomBytes(16).toString('hex');
  const headers: Record<string, string> = { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` };
  headers['user-agent'] = options.userAgent ?? 'audit-e2e';
  const sentAt = Date.now();
  const response = await client.call(method, path, body, options.contentType, headers);
  return { traceId, response, sentAt, answeredAt: Date.now() };
}

async function auditLog(query = 'limit=1000'): Promise<AuditEntry[]> {
  const answer = await as('alice').call('GET', `/v1/audit?${query}`);
  expect(answer.status).toBe(200);
  return answer.body.items;
}

async function entryOf(sent: Sent): Promise<AuditEntry> {
  const found = (await auditLog()).filter((entry) => entry.traceId === sent.traceId);
  expect(found, `one entry for trace ${sent.traceId}`).toHaveLength(1);
  const [entry] = found;
  expect(Date.parse(entry.time)).toBeGreaterThanOrEqual(sent.sentAt);
  expect(Date.parse(entry.time)).toBeLessThanOrEqual(sent.answeredAt);
  return entry;
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'portolan-audit-e2e-'));
  const file = join(dataDir, 'tokens.yaml');
  writeFileSync(file, `tokens:\n${Object.entries(TOKENS).map(([name, token]) => `  - {name: ${name}, role: ${{ alice: 'admin', erin: 'editor', victor: 'viewer' }[name]}, token: ${token}}`).join('\n')}\n`);
  cp = await startInProcess({ PORTOLAN_DATA_DIR: dataDir, PORTOLAN_TOKENS_FILE: file, PORTOLAN_BOOTSTRAP_TOKEN: BOOTSTRAP }, TOKENS.alice);
});

afterAll(async () => {
  await cp?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('the audit log', () => {
  it('records who wrote what, when, from where and with what outcome, refusals included', async () => {
    const created = await send(as('alice'), 'POST', nsPath('ratelimitpolicies'), policy('checkout-limits'));
    expect(created.response.status).toBe(201);
    expect(await entryOf(created)).toEqual({
      id: expect.any(String),
      time: expect.any(String),
      actor: 'alice',
      role: 'admin',
      sourceAddress: '127.0.0.1',
      userAgent: 'audit-e2e',
      action: 'create',
      method: 'POST',
      path: nsPath('ratelimitpolicies'),
      object: { kind: 'RateLimitPolicy', namespace: 'default', name: 'checkout-limits', resourceVersion: created.response.body.metadata.resourceVersion },
      outcome: { status: 'Success', code: 201 },
      dryRun: false,
      traceId: created.traceId,
    });

    const patched = await send(as('erin'), 'PATCH', nsPath('ratelimitpolicies', 'checkout-limits'), { metadata: { labels: { team: 'payments' } } }, { contentType: 'application/merge-patch+json' });
    expect(patched.response.status).toBe(200);
    expect(await entryOf(patched)).toMatchObject({
      actor: 'erin',
      role: 'editor',
      action: 'patch',
      object: { kind: 'RateLimitPolicy', namespace: 'default', name: 'checkout-limits', resourceVersion: patched.response.body.metadata.resourceVersion },
      outcome: { status: 'Success', code: 200 },
    });

    const refused = await send(as('victor'), 'PUT', nsPath('ratelimitpolicies', 'checkout-limits'), policy('checkout-limits', 1));
    expect(refused.response.status).toBe(403);
    const refusal = await entryOf(refused);
    expect(refusal).toMatchObject({
      actor: 'victor',
      role: 'viewer',
      sourceAddress: '127.0.0.1',
      action: 'update',
      object: { kind: 'RateLimitPolicy', namespace: 'default', name: 'checkout-limits' },
      outcome: { status: 'Failure', code: 403, reason: 'Forbidden', message: refused.response.body.message },
    });
    expect(refusal.object).not.toHaveProperty('resourceVersion');

    const conflict = await send(as('alice'), 'POST', nsPath('ratelimitpolicies'), policy('checkout-limits'));
    expect(conflict.response.status).toBe(409);
    expect(await entryOf(conflict)).toMatchObject({ actor: 'alice', action: 'create', object: { name: 'checkout-limits' }, outcome: { code: 409, reason: 'AlreadyExists' } });

    const invalid = await send(as('erin'), 'POST', nsPath('ratelimitpolicies'), policy('broken', -1));
    expect(invalid.response.status).toBe(422);
    expect(await entryOf(invalid)).toMatchObject({ actor: 'erin', action: 'create', object: { name: 'broken' }, outcome: { code: 422, reason: 'Invalid' } });

    const dryRun = await send(as('erin'), 'POST', `${nsPath('ratelimitpolicies')}?dryRun=All`, policy('just-trying'));
    expect(dryRun.response.status).toBe(201);
    const tried = await entryOf(dryRun);
    expect(tried).toMatchObject({ action: 'create', dryRun: true, object: { name: 'just-trying' }, outcome: { status: 'Success', code: 201 } });
    expect(tried.object).not.toHaveProperty('resourceVersion');
  });

  it('records a kubectl-style server-side apply with its field manager and user agent, and not the body', async () => {
    const manifest = JSON.stringify(policy('applied-limits', 250));
    const applied = await send(as('erin'), 'PATCH', `${nsPath('ratelimitpolicies', 'applied-limits')}?fieldManager=kubectl&fieldValidation=Strict`, manifest, {
      contentType: 'application/apply-patch+yaml',
      userAgent: KUBECTL,
    });
    expect(applied.response.status).toBe(201);
    const entry = await entryOf(applied);
    expect(entry).toMatchObject({
      actor: 'erin',
      role: 'editor',
      userAgent: KUBECTL,
      action: 'apply',
      fieldManager: 'kubectl',
      object: { kind: 'RateLimitPolicy', namespace: 'default', name: 'applied-limits', resourceVersion: applied.response.body.metadata.resourceVersion },
      outcome: { status: 'Success', code: 201 },
    });
    expect(JSON.stringify(entry)).not.toContain('per-minute');
  });

  it('records minting and revoking a token with its id, name and role, the token\'s own writes, and failed authentications', async () => {
    const minted = await send(as('alice'), 'POST', '/v1/tokens', { name: 'ci-bot', role: 'editor' });
    expect(minted.response.status).toBe(201);
    credentials.add(minted.response.body.token);
    const { id } = minted.response.body;
    expect(await entryOf(minted)).toMatchObject({ actor: 'alice', role: 'admin', action: 'token.create', object: { kind: 'Token', name: 'ci-bot' }, token: { id, name: 'ci-bot', role: 'editor' }, outcome: { code: 201 } });

    const byBot = await send(as(minted.response.body.token), 'POST', nsPath('ratelimitpolicies'), policy('by-bot'));
    expect(byBot.response.status).toBe(201);
    expect(await entryOf(byBot)).toMatchObject({ actor: 'ci-bot', role: 'editor', action: 'create', object: { name: 'by-bot' } });

    const revoked = await send(as('alice'), 'DELETE', `/v1/tokens/${id}`);
    expect(revoked.response.status).toBe(200);
    expect(await entryOf(revoked)).toMatchObject({ actor: 'alice', action: 'token.revoke', object: { kind: 'Token', name: 'ci-bot' }, token: { id, name: 'ci-bot', role: 'editor' }, outcome: { code: 200 } });

    const afterRevocation = await send(as(minted.response.body.token), 'DELETE', nsPath('ratelimitpolicies', 'by-bot'));
    expect(afterRevocation.response.status).toBe(401);
    const failed = await entryOf(afterRevocation);
    expect(failed).toMatchObject({ sourceAddress: '127.0.0.1', action: 'delete', object: { kind: 'RateLimitPolicy', name: 'by-bot' }, outcome: { status: 'Failure', code: 401, reason: 'Unauthorized' } });
    expect(failed).not.toHaveProperty('actor');
    expect(failed).not.toHaveProperty('role');

    // Without any credential nobody is named, and anyone could fill the log: not recorded.
    const anonymous = await send(cp.client.withToken(undefined), 'POST', nsPath('ratelimitpolicies'), policy('anonymous'));
    expect(anonymous.response.status).toBe(401);
    expect((await auditLog()).filter((entry) => entry.traceId === anonymous.traceId)).toEqual([]);
  });

  it('records a gateway registering with the bootstrap token and leaving with its own credential, not its heartbeats', async () => {
    const registered = await send(as(BOOTSTRAP), 'POST', '/agent/v1/register', gatewayRegistration('audit-gw-1'));
    expect(registered.response.status).toBe(201);
    const node = registered.response.body;
    credentials.add(node.credential);
    const registration = await entryOf(registered);
    expect(registration).toMatchObject({ actor: 'bootstrap', action: 'gateway.register', object: { kind: 'GatewayNode', namespace: 'default', name: 'audit-gw-1' }, node: { id: node.id }, outcome: { code: 201 } });
    expect(registration).not.toHaveProperty('role');

    const heartbeat = await send(as(node.credential), 'POST', `/agent/v1/nodes/${node.id}/heartbeat`, {});
    expect(heartbeat.response.status).toBe(200);
    const deregistered = await send(as(node.credential), 'DELETE', `/agent/v1/nodes/${node.id}`);
    expect(deregistered.response.status).toBe(200);
    expect(await entryOf(deregistered)).toMatchObject({ actor: 'gateway/default/audit-gw-1', action: 'gateway.deregister', object: { kind: 'GatewayNode', name: 'audit-gw-1' }, node: { id: node.id } });
    expect((await auditLog()).filter((entry) => entry.traceId === heartbeat.traceId)).toEqual([]);
  });

  it('lets admins read it, newest first, filtered and a page at a time, and no one else', async () => {
    expect((await as('victor').call('GET', '/v1/audit')).status).toBe(403);
    expect((await as('erin').call('GET', '/v1/audit')).status).toBe(403);
    expect((await cp.client.withToken(undefined).call('GET', '/v1/audit')).status).toBe(401);

    const all = await auditLog();
    expect(all.map((entry) => entry.id)).toEqual(all.map((entry) => entry.id).sort().reverse());
    const byErin = await auditLog('actor=erin&kind=RateLimitPolicy&limit=1000');
    expect(byErin.length).toBeGreaterThanOrEqual(3);
    expect(byErin).toEqual(all.filter((entry) => entry.actor === 'erin' && entry.object.kind === 'RateLimitPolicy'));
    expect((await auditLog('action=token.revoke&name=ci-bot')).map((entry) => entry.action)).toEqual(['token.revoke']);

    const pages: AuditEntry[] = [];
    let next = '';
    do {
      const page = await as('alice').call('GET', `/v1/audit?limit=3${next ? `&continue=${encodeURIComponent(next)}` : ''}`);
      expect(page.body).toMatchObject({ apiVersion: 'v1', kind: 'AuditEntryList' });
      pages.push(...page.body.items);
      next = page.body.metadata.continue ?? '';
    } while (next);
    // Reads are not recorded, so paging does not move the log.
    expect(pages).toEqual(await auditLog());
  });

  it.each([
    ['limit=0', 'limit'],
    ['limit=1001', 'limit'],
    ['limit=ten', 'limit'],
    ['since=yesterday', 'since'],
    ['continue=not-a-token', 'continue'],
    ['actor=a&actor=b', 'actor'],
    ['user=alice', 'user'],
  ])('refuses ?%s with a 400 Status naming %s', async (query, parameter) => {
    const answer = await as('alice').call('GET', `/v1/audit?${query}`);
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ kind: 'Status', status: 'Failure', code: 400, details: { causes: [{ field: parameter }] } });
  });

  it('writes each entry as a structured log line too', async () => {
    const created = await send(as('alice'), 'POST', nsPath('ratelimitpolicies'), policy('logged'));
    const entry = await entryOf(created);
    const lines = cp.logs.map((line) => JSON.parse(line)).filter((line) => line.component === 'audit' && line.audit?.id === entry.id);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'info', traceId: created.traceId, audit: entry });
  });
});

interface WriteCase {
  route: string;
  action: string;
  send: (run: string) => Promise<Sent>;
}

let node: { id: string; credential: string };
let mintedId: string;

/** One request per write route, in an order that leaves each the state it needs. */
const WRITES: WriteCase[] = [
  { route: `POST ${G}/namespaces/:namespace/:plural`, action: 'create', send: (run) => send(as('erin'), 'POST', nsPath('ratelimitpolicies'), policy(`written-${run}`)) },
  { route: `PUT ${G}/namespaces/:namespace/:plural/:name`, action: 'update', send: (run) => send(as('erin'), 'PUT', nsPath('ratelimitpolicies', `written-${run}`), policy(`written-${run}`, 300)) },
  {
    route: `PATCH ${G}/namespaces/:namespace/:plural/:name`,
    action: 'patch',
    send: (run) => send(as('erin'), 'PATCH', nsPath('ratelimitpolicies', `written-${run}`), [{ op: 'add', path: '/metadata/labels', value: { tier: 'gold' } }], { contentType: 'application/json-patch+json' }),
  },
  { route: `PUT ${G}/namespaces/:namespace/:plural/:name/status`, action: 'update', send: (run) => send(as('erin'), 'PUT', `${nsPath('ratelimitpolicies', `written-${run}`)}/status`, policy(`written-${run}`)) },
  {
    route: `PATCH ${G}/namespaces/:namespace/:plural/:name/status`,
    action: 'patch',
    send: (run) => send(as('erin'), 'PATCH', `${nsPath('ratelimitpolicies', `written-${run}`)}/status`, { status: {} }, { contentType: 'application/merge-patch+json' }),
  },
  { route: `POST ${G}/namespaces/:namespace/:plural/:name/rollback`, action: 'rollback', send: (run) => send(as('erin'), 'POST', `${nsPath('ratelimitpolicies', `written-${run}`)}/rollback`, {}) },
  { route: `DELETE ${G}/namespaces/:namespace/:plural/:name`, action: 'delete', send: (run) => send(as('erin'), 'DELETE', nsPath('ratelimitpolicies', `written-${run}`)) },
  // Before any gateway is registered: a drain then has no gateway to wait for.
  { route: 'POST /v1/zones/:zone/drain', action: 'drain', send: () => send(as('erin'), 'POST', '/v1/zones/zone-x/drain', { reason: 'maintenance' }) },
  { route: 'DELETE /v1/zones/:zone/drain', action: 'undrain', send: () => send(as('erin'), 'DELETE', '/v1/zones/zone-x/drain') },
  { route: 'POST /v1/zones/:zone/drills', action: 'drill', send: () => send(as('erin'), 'POST', '/v1/zones/no-such-zone/drills', { duration: '5s' }) },
  {
    route: 'POST /v1/tokens',
    action: 'token.create',
    send: async (run) => {
      const sent = await send(as('alice'), 'POST', '/v1/tokens', { name: `t-${run}`, role: 'viewer' });
      credentials.add(sent.response.body.token);
      mintedId = sent.response.body.id;
      return sent;
    },
  },
  { route: 'DELETE /v1/tokens/:id', action: 'token.revoke', send: () => send(as('alice'), 'DELETE', `/v1/tokens/${mintedId}`) },
  {
    route: 'POST /agent/v1/register',
    action: 'gateway.register',
    send: async (run) => {
      const sent = await send(as(BOOTSTRAP), 'POST', '/agent/v1/register', gatewayRegistration(`gw-${run}`));
      node = sent.response.body;
      credentials.add(node.credential);
      return sent;
    },
  },
  { route: 'POST /agent/v1/nodes/:id/drain', action: 'gateway.drain', send: () => send(as(node.credential), 'POST', `/agent/v1/nodes/${node.id}/drain?wait=1ms`) },
  { route: 'DELETE /agent/v1/nodes/:id', action: 'gateway.deregister', send: () => send(as(node.credential), 'DELETE', `/agent/v1/nodes/${node.id}`) },
  { route: 'POST /v1/gateways/:gateway/revoke-credential', action: 'gateway.revoke-credential', send: () => send(as('alice'), 'POST', '/v1/gateways/no-such-gateway/revoke-credential') },
];

describe('every write route', () => {
  it('is either audited here or excluded for a stated reason', () => {
    const writeRoutes = cp.running.routes.filter((route) => !route.startsWith('GET '));
    expect(writeRoutes.sort()).toEqual([...WRITES.map((write) => write.route), ...Object.keys(UNAUDITED_WRITES)].sort());
  });

  it('produces an entry under its action, whatever its outcome', async () => {
    const run = randomBytes(3).toString('hex');
    for (const write of WRITES) {
      const sent = await write.send(run);
      expect([401, 403], `${write.route} answered ${sent.response.status}`).not.toContain(sent.response.status);
      expect(await entryOf(sent), write.route).toMatchObject({ action: write.action, method: write.route.split(' ')[0], outcome: { code: sent.response.status } });
    }
  });

  it('never records a token, a bootstrap token or a node credential', async () => {
    await send(as('not-a-real-token-at-all'), 'POST', nsPath('ratelimitpolicies'), policy('guess'));
    const log = JSON.stringify(await auditLog());
    expect(credentials.size).toBeGreaterThan(6);
    for (const credential of credentials) expect(log).not.toContain(credential);
  });
});

describe('after a restart', () => {
  it('keeps every entry', async () => {
    const before = await auditLog();
    expect(before.length).toBeGreaterThan(20);
    await cp.stop();
    cp = await startInProcess({ PORTOLAN_DATA_DIR: dataDir, PORTOLAN_TOKENS_FILE: join(dataDir, 'tokens.yaml'), PORTOLAN_BOOTSTRAP_TOKEN: BOOTSTRAP }, TOKENS.alice);
    expect(await auditLog()).toEqual(before);
  });
});
