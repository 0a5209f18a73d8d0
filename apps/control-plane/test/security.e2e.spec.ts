/**
 * The control plane's defences, against one control plane process logging at debug level (as an
 * operator chasing a problem runs it): minted tokens expire; revocation and expiry end live
 * sessions at once; failed authentications lock an address out; the API answers no cross-origin
 * request and the live feed no page of another site; and nothing secret reaches its output.
 *
 * A test that fails authentications on purpose connects from a loopback address of its own
 * (127.0.0.2, …; Linux routes all of 127/8 to lo), so the lockout it provokes leaves the others be.
 * One more describe runs two replicas in this process on the Consul test double: a revocation
 * through one ends the live feeds the token opened on the other.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { request } from 'undici';
import { ConsulTestServer } from '@portolan/consul-test-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { LIVE_CLOSE_UNAUTHORIZED, LIVE_PATH, LIVE_PROTOCOL, LIVE_TOKEN_PROTOCOL_PREFIX } from '@portolan/api';
import { ApiClient, nsPath } from './support/api-client';
import { makeDataDir, removeDataDir, startControlPlaneProcess, stopControlPlaneProcess, type ControlPlaneProcess } from './support/control-plane-process';
import { startInProcess, type InProcessControlPlane } from './support/in-process';

const ADMIN = `admin-${randomBytes(18).toString('base64url')}`;
const BOOTSTRAP = `bootstrap-${randomBytes(18).toString('base64url')}`;
const FAILURE_LIMIT = 5;
const DAY_MS = 86_400_000;

/** Every secret the control plane was given or handed out, by what it is: none may appear in its output. */
const secrets = new Map<string, string>([
  ['the admin token', ADMIN],
  ['the bootstrap token', BOOTSTRAP],
]);

let cp: ControlPlaneProcess;
let dataDir: string;

const tokenProtocol = (token: string) => `${LIVE_TOKEN_PROTOCOL_PREFIX}${Buffer.from(token).toString('base64url')}`;
/** A client of the API connecting from `localAddress`. */
const from = (localAddress: string, token?: string) => new ApiClient(cp.apiUrl, cp.caPem, token, localAddress);

interface FeedOptions {
  token?: string;
  origin?: string;
  localAddress?: string;
}

/** A live-feed client (of this file's control plane, or `at` another): its hello, how it closed, or how its upgrade was refused. */
function openFeed({ token, origin, localAddress }: FeedOptions, at: { apiUrl: string; caPem: string } = cp) {
  const ws = new WebSocket(`${at.apiUrl.replace('https', 'wss')}${LIVE_PATH}`, [LIVE_PROTOCOL, ...(token ? [tokenProtocol(token)] : [])], {
    ca: at.caPem,
    headers: origin ? { origin } : {},
    ...(localAddress ? { localAddress } : {}),
  });
  ws.on('error', () => undefined);
  const messages: Array<{ type: string }> = [];
  const waiters = new Set<() => void>();
  ws.on('message', (data) => {
    messages.push(JSON.parse(String(data)) as { type: string });
    for (const wake of [...waiters]) wake();
  });
  const next = (type: string) =>
    new Promise<void>((resolve) => {
      const check = () => messages.some((message) => message.type === type) && (waiters.delete(check), resolve());
      waiters.add(check);
      check();
    });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  const refused = new Promise<{ status: number; headers: IncomingHttpHeaders; body: any }>((resolve) =>
    ws.on('unexpected-response', (_request, response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body: JSON.parse(body) }));
    }),
  );
  return { ws, hello: next('hello'), next, closed, refused };
}

/** Upgrades to a gateway's agent stream; resolves with the status of a refused upgrade, or 101. */
function agentUpgrade(id: string, credential: string, localAddress: string): Promise<number> {
  const ws = new WebSocket(`${cp.apiUrl.replace('https', 'wss')}/agent/v1/nodes/${id}/stream`, { ca: cp.caPem, headers: { authorization: `Bearer ${credential}` }, localAddress });
  ws.on('error', () => undefined);
  return new Promise((resolve) => {
    ws.on('unexpected-response', (_request, response) => {
      response.resume();
      resolve(response.statusCode!);
    });
    ws.on('open', () => {
      ws.terminate();
      resolve(101);
    });
  });
}

async function mint(body: Record<string, unknown>) {
  const minted = await cp.client.call('POST', '/v1/tokens', body);
  expect(minted.status, JSON.stringify(minted.body)).toBe(201);
  secrets.set(`the token minted as ${body.name}`, minted.body.token);
  return minted.body as { id: string; token: string; createdAt: string; expiresAt: string };
}

async function registerGateway(name: string) {
  const registered = await cp.client.withToken(BOOTSTRAP).call('POST', '/agent/v1/register', { role: 'gateway', name, zone: 'zone-a', pool: 'edge', address: '127.0.0.1:1', version: 'test' });
  expect(registered.status).toBe(201);
  secrets.set(`the credential of gateway ${name}`, registered.body.credential);
  return registered.body as { id: string; credential: string };
}

async function refusalCounts(): Promise<Record<string, number>> {
  const response = await request(`${cp.opsUrl}/metrics`);
  const text = await response.body.text();
  return Object.fromEntries([...text.matchAll(/^portolan_auth_refusals_total\{reason="(\w+)"\} (\d+)$/gm)].map(([, reason, count]) => [reason, Number(count)]));
}

beforeAll(async () => {
  dataDir = makeDataDir('portolan-security-');
  cp = await startControlPlaneProcess(dataDir, {
    PORTOLAN_LOG_LEVEL: 'debug',
    PORTOLAN_ADMIN_TOKEN: ADMIN,
    PORTOLAN_BOOTSTRAP_TOKEN: BOOTSTRAP,
    PORTOLAN_AUTH_FAILURE_LIMIT: String(FAILURE_LIMIT),
  });
});
afterAll(async () => {
  // Unless the last test stopped it, as it does to read the whole output.
  if (cp && cp.child.exitCode === null && cp.child.signalCode === null) await stopControlPlaneProcess(cp);
  if (dataDir) removeDataDir(dataDir);
});

describe('minted tokens', () => {
  it('live 90 days unless the admin says otherwise, at most a year; more is refused with a Status naming the field', async () => {
    const lifetime = (token: { createdAt: string; expiresAt: string }) => Date.parse(token.expiresAt) - Date.parse(token.createdAt);
    expect(lifetime(await mint({ name: 'default-lifetime', role: 'viewer' }))).toBe(90 * DAY_MS);
    expect(lifetime(await mint({ name: 'one-day', role: 'viewer', expiresIn: '24h' }))).toBe(DAY_MS);
    const inAWeek = new Date(Date.now() + 7 * DAY_MS).toISOString();
    const dated = await mint({ name: 'dated', role: 'viewer', expiresAt: inAWeek });
    expect(dated.expiresAt).toBe(inAWeek);
    const listed = (await cp.client.call('GET', '/v1/tokens')).body.items;
    expect(listed.find((token: { id: string }) => token.id === dated.id)).toMatchObject({ source: 'api', expiresAt: inAWeek });
    expect(listed.find((token: { source: string }) => token.source === 'environment')).not.toHaveProperty('expiresAt');

    for (const [body, field] of [
      [{ expiresIn: '8761h' }, 'expiresIn'],
      [{ expiresIn: '90d' }, 'expiresIn'],
      [{ expiresAt: '2020-01-01T00:00:00Z' }, 'expiresAt'],
    ] as const) {
      const refused = await cp.client.call('POST', '/v1/tokens', { name: 'too-long', role: 'admin', ...body });
      expect(refused.status).toBe(422);
      expect(refused.body).toMatchObject({ kind: 'Status', reason: 'Invalid', details: { causes: [{ field }] }, message: expect.stringContaining(field) });
    }
    expect((await cp.client.call('GET', '/v1/tokens')).body.items).toHaveLength(listed.length);
  });

  it('stop working when they expire: the live feed closes with 4401 and the API answers 401', async () => {
    const shortLived = await mint({ name: 'short-lived', role: 'viewer', expiresIn: '2s' });
    expect((await cp.client.withToken(shortLived.token).call('GET', '/v1/whoami')).body).toEqual({ name: 'short-lived', role: 'viewer' });
    const feed = openFeed({ token: shortLived.token });
    await feed.hello;
    expect(await feed.closed).toEqual({ code: LIVE_CLOSE_UNAUTHORIZED, reason: expect.stringContaining('expired') });
    const refused = await cp.client.withToken(shortLived.token).call('GET', '/v1/whoami');
    expect(refused.status).toBe(401);
    expect(refused.body).toMatchObject({ kind: 'Status', reason: 'Unauthorized', message: expect.stringContaining('expired') });
  });

  it('end every live session of a token the moment it is revoked, and no other', async () => {
    const revoked = await mint({ name: 'to-revoke', role: 'viewer' });
    const feeds = [openFeed({ token: revoked.token }), openFeed({ token: revoked.token })];
    const bystander = openFeed({ token: ADMIN });
    await Promise.all([...feeds, bystander].map((feed) => feed.hello));
    expect((await cp.client.call('DELETE', `/v1/tokens/${revoked.id}`)).status).toBe(200);
    for (const feed of feeds) expect(await feed.closed).toEqual({ code: LIVE_CLOSE_UNAUTHORIZED, reason: expect.stringContaining('revoked') });
    const policy = { apiVersion: 'mesh.portolan.dev/v1alpha1', kind: 'RateLimitPolicy', metadata: { name: 'after-revocation' }, spec: { targetRef: { kind: 'Mesh' }, limits: [{ name: 'l', requests: 1, interval: '1s' }] } };
    expect((await cp.client.call('POST', nsPath('ratelimitpolicies'), policy)).status).toBe(201);
    await bystander.next('changed');
    expect(bystander.ws.readyState).toBe(WebSocket.OPEN);
    bystander.ws.close();
  });
});

describe('replicas on Consul', () => {
  let consul: ConsulTestServer;
  const replicas: InProcessControlPlane[] = [];
  beforeAll(async () => {
    consul = await ConsulTestServer.start();
    for (const name of ['a', 'b']) {
      replicas.push(
        await startInProcess({
          PORTOLAN_STORE: 'consul',
          CONSUL_HTTP_ADDR: consul.address,
          PORTOLAN_REPLICA_NAME: name,
          PORTOLAN_ADMIN_TOKEN: ADMIN,
          PORTOLAN_BOOTSTRAP_TOKEN: BOOTSTRAP,
          PORTOLAN_LOG_LEVEL: 'warn',
        }),
      );
    }
  });
  afterAll(async () => {
    for (const replica of replicas.splice(0)) await replica.stop();
    await consul?.close();
  });

  it('end the live feeds a token opened on one replica the moment it is revoked through another', async () => {
    const [a, b] = replicas;
    const minted = await a.client.call('POST', '/v1/tokens', { name: 'replicated', role: 'viewer' });
    expect(minted.status).toBe(201);
    // B knows the token once its mirror of Consul does (one blocking-query round trip); asked by id, not by the token, so that no refusal is counted.
    await expect.poll(async () => (await b.client.call('GET', '/v1/tokens')).body.items.some((token: { id: string }) => token.id === minted.body.id)).toBe(true);
    const at = { apiUrl: b.running.apiUrl, caPem: b.running.caPem };
    const feed = openFeed({ token: minted.body.token }, at);
    const bystander = openFeed({ token: ADMIN }, at);
    await Promise.all([feed.hello, bystander.hello]);
    expect((await a.client.call('DELETE', `/v1/tokens/${minted.body.id}`)).status).toBe(200);
    expect(await feed.closed).toEqual({ code: LIVE_CLOSE_UNAUTHORIZED, reason: expect.stringContaining('revoked') });
    expect(bystander.ws.readyState).toBe(WebSocket.OPEN);
    bystander.ws.close();
  });
});

describe('failed authentications', () => {
  it(`lock an address out after ${FAILURE_LIMIT}, at every door and with correct credentials too, and are counted by reason`, async () => {
    const locked = '127.0.0.2';
    const gateway = await registerGateway('lockout-gw');
    const before = await refusalCounts();
    const guesser = from(locked);
    expect((await guesser.withToken('guess-1').call('GET', '/v1/whoami')).status).toBe(401);
    expect((await guesser.withToken('guess-2').call('POST', '/agent/v1/register', { role: 'gateway' })).status).toBe(401);
    expect((await openFeed({ token: 'guess-3', localAddress: locked }).closed).code).toBe(LIVE_CLOSE_UNAUTHORIZED);
    expect((await guesser.withToken('guess-4').call('POST', `/agent/v1/nodes/${gateway.id}/heartbeat`, {})).status).toBe(401);
    // Sending no credential guesses nothing, and is not counted.
    expect((await guesser.call('GET', '/v1/whoami')).status).toBe(401);
    expect(await agentUpgrade(gateway.id, 'guess-5', locked)).toBe(401);

    const lockedOut = await guesser.withToken(ADMIN).call('GET', '/v1/whoami');
    expect(lockedOut.status).toBe(429);
    expect(lockedOut.body).toMatchObject({ kind: 'Status', code: 429, reason: 'TooManyRequests', details: { retryAfterSeconds: expect.any(Number) } });
    expect(Number(lockedOut.headers['retry-after'])).toBe(lockedOut.body.details.retryAfterSeconds);
    expect(lockedOut.body.details.retryAfterSeconds).toBeGreaterThan(0);
    expect((await guesser.withToken(BOOTSTRAP).call('POST', '/agent/v1/register', { role: 'gateway', name: 'late', zone: 'zone-a', pool: 'edge', address: '127.0.0.1:1', version: 't' })).status).toBe(429);
    expect((await guesser.withToken(gateway.credential).call('POST', `/agent/v1/nodes/${gateway.id}/heartbeat`, {})).status).toBe(429);
    expect(await agentUpgrade(gateway.id, gateway.credential, locked)).toBe(429);
    const feed = await openFeed({ token: ADMIN, localAddress: locked }).refused;
    expect(feed.status).toBe(429);
    expect(feed.headers['retry-after']).toBeDefined();
    // Routes that need no credential still answer, and every other address is unaffected.
    expect((await guesser.call('GET', '/version')).status).toBe(200);
    expect((await cp.client.call('GET', '/v1/whoami')).status).toBe(200);
    expect(await agentUpgrade(gateway.id, gateway.credential, '127.0.0.1')).toBe(101);

    const after = await refusalCounts();
    const delta = (reason: string) => (after[reason] ?? 0) - (before[reason] ?? 0);
    expect({ invalid_token: delta('invalid_token'), invalid_node_credential: delta('invalid_node_credential'), locked_out: delta('locked_out') }).toEqual({
      invalid_token: 3,
      invalid_node_credential: 2,
      locked_out: 5,
    });
    await guesser.close();
  });
});

describe('requests from other sites', () => {
  it('get no CORS headers from the API: neither a preflight nor a simple request', async () => {
    const evil = 'https://evil.example';
    const preflight = await cp.client.withToken(undefined).call('OPTIONS', nsPath('ratelimitpolicies'), undefined, undefined, {
      origin: evil,
      'access-control-request-method': 'DELETE',
      'access-control-request-headers': 'authorization',
    });
    const simple = await cp.client.call('GET', '/v1/whoami', undefined, undefined, { origin: evil });
    expect(simple.status).toBe(200);
    for (const response of [preflight, simple]) {
      expect(Object.keys(response.headers).filter((header) => header.startsWith('access-control-'))).toEqual([]);
    }
  });

  it('cannot open the live feed: an upgrade with a foreign Origin is refused 403; the dashboard\'s own and a non-browser client are served', async () => {
    const foreign = await openFeed({ token: ADMIN, origin: 'https://evil.example' }).refused;
    expect(foreign.status).toBe(403);
    expect(foreign.body).toMatchObject({ kind: 'Status', code: 403, reason: 'Forbidden' });
    const own = openFeed({ token: ADMIN, origin: new URL(cp.apiUrl).origin });
    const cli = openFeed({ token: ADMIN });
    await Promise.all([own.hello, cli.hello]);
    for (const feed of [own, cli]) feed.ws.close();
  });
});

describe('the output of the control plane', () => {
  it('holds no token, bootstrap token, gateway credential or private key, whatever happened', async () => {
    // A gateway's life: registration, heartbeats, a wrong credential, its credential revoked, registered again.
    const gateway = await registerGateway('logged-gw');
    const node = cp.client.withToken(gateway.credential);
    expect((await node.call('POST', `/agent/v1/nodes/${gateway.id}/heartbeat`, {})).status).toBe(200);
    expect((await node.call('GET', `/agent/v1/nodes/${gateway.id}/snapshot?wait=1ms`)).status).toBe(200);
    const wrongNode = from('127.0.0.3', `${gateway.credential}x`);
    expect((await wrongNode.call('POST', `/agent/v1/nodes/${gateway.id}/heartbeat`, {})).status).toBe(401);
    await wrongNode.close();
    expect((await cp.client.call('POST', `/v1/gateways/${gateway.id}/revoke-credential`)).status).toBe(200);
    expect((await node.call('POST', `/agent/v1/nodes/${gateway.id}/heartbeat`, {})).status).toBe(404);
    await registerGateway('logged-gw');
    // Tokens used, misused, revoked.
    const minted = await mint({ name: 'logged', role: 'editor' });
    expect((await cp.client.withToken(minted.token).call('GET', nsPath('ratelimitpolicies'))).status).toBe(200);
    const wrongToken = from('127.0.0.4');
    expect((await wrongToken.withToken(`${minted.token}-wrong`).call('GET', nsPath('ratelimitpolicies'))).status).toBe(401);
    expect((await cp.client.call('DELETE', `/v1/tokens/${minted.id}`)).status).toBe(200);
    expect((await wrongToken.withToken(minted.token).call('GET', '/v1/whoami')).status).toBe(401);
    await wrongToken.close();

    const tls = join(dataDir, 'tls');
    for (const [what, file] of [['the CA private key', 'ca.key'], ['the serving private key', 'server.key']]) {
      // The body of the PEM, line by line: a log line would hold it escaped or re-wrapped, never with its armour.
      readFileSync(join(tls, file), 'utf8').split('\n').filter((line) => line.length >= 32 && !line.startsWith('-----')).forEach((line, index) => secrets.set(`${what} (line ${index + 1})`, line));
    }
    for (const [what, value] of [...secrets]) secrets.set(`${what}, as a live-feed subprotocol`, tokenProtocol(value).slice(LIVE_TOKEN_PROTOCOL_PREFIX.length));

    // Stopped first, so that every line is written out, the shutdown's too.
    await stopControlPlaneProcess(cp);
    const output = cp.output();
    // The test means something only if the control plane did log at debug level, requests included.
    expect(output).toContain('"level":"debug"');
    expect(output).toContain('request served');
    expect(output).toContain('too many failed authentications from this address');
    expect([...secrets].filter(([, value]) => output.includes(value)).map(([what]) => what)).toEqual([]);
  });
});
