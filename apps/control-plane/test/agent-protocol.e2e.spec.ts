/**
 * The server side of the agent protocol, spoken by hand (raw WebSocket and HTTP) so the wire
 * format itself is under test: registration, push on every revision, long-poll with ETag,
 * ACK/NACK bookkeeping shown on GatewayNode and in policy status, lifecycle, drain.
 */
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { nsPath } from './support/api-client';
import { startInProcess, type InProcessControlPlane } from './support/in-process';
import { eventually } from './support/eventually';

const BOOTSTRAP = 'bootstrap-token-for-agent-tests';

const service = { apiVersion: 'mesh.portolan.dev/v1alpha1', kind: 'Service', metadata: { name: 'orders' }, spec: { ports: [{ port: 8080 }], endpoints: [{ address: '127.0.0.1', port: 9001, zone: 'zone-a' }] } };
const route = { apiVersion: 'mesh.portolan.dev/v1alpha1', kind: 'Route', metadata: { name: 'orders' }, spec: { match: { pathPrefix: '/orders' }, backendRef: { name: 'orders' } } };
const rateLimit = (requests: number) => ({
  apiVersion: 'mesh.portolan.dev/v1alpha1',
  kind: 'RateLimitPolicy',
  metadata: { name: 'orders-limit' },
  spec: { targetRef: { kind: 'Service', name: 'orders' }, scope: 'mesh', limits: [{ name: 'per-minute', requests, interval: '60s' }] },
});

interface Registered {
  id: string;
  name: string;
  credential: string;
}

let cp: InProcessControlPlane;

async function register(body: Record<string, unknown>): Promise<Registered> {
  const response = await cp.client.withToken(BOOTSTRAP).call('POST', '/agent/v1/register', body);
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.body;
}

const gateway = (name: string, zone = 'zone-a') => register({ role: 'gateway', name, zone, pool: 'edge', address: '127.0.0.1:18080', version: 'test' });

/** A raw WebSocket agent that heartbeats, records every snapshot and can answer ACK or NACK. */
class RawAgent {
  readonly snapshots: any[] = [];
  private waiters: Array<() => void> = [];
  readonly socket: WebSocket;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(readonly node: Registered) {
    const client = cp.client.withToken(node.credential);
    this.heartbeat = setInterval(() => void client.call('POST', `/agent/v1/nodes/${node.id}/heartbeat`, {}).catch(() => undefined), 100);
    this.socket = new WebSocket(`${cp.running.apiUrl.replace('https', 'wss')}/agent/v1/nodes/${node.id}/stream`, {
      ca: cp.running.caPem,
      headers: { authorization: `Bearer ${node.credential}` },
    });
    this.socket.on('message', (data) => {
      const message = JSON.parse(String(data));
      this.snapshots.push(message.snapshot);
      for (const wake of this.waiters.splice(0)) wake();
    });
  }

  async next(predicate: (snapshot: any) => boolean = () => true): Promise<any> {
    for (;;) {
      const found = this.snapshots.find(predicate);
      if (found) return found;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  ack(snapshot: any, status: 'ACK' | 'NACK' = 'ACK', errors?: unknown[]) {
    this.socket.send(JSON.stringify({ type: 'ack', ack: { version: snapshot.version, revision: snapshot.revision, status, errors } }));
  }

  close() {
    clearInterval(this.heartbeat);
    this.socket.terminate();
  }
}


beforeAll(async () => {
  cp = await startInProcess({ PORTOLAN_BOOTSTRAP_TOKEN: BOOTSTRAP, PORTOLAN_HEARTBEAT_INTERVAL: '200ms', PORTOLAN_NODE_TTL: '600ms', PORTOLAN_NODE_REMOVE_AFTER: '1s' });
  for (const object of [service, route]) expect((await cp.client.call('POST', nsPath(`${object.kind.toLowerCase()}s`), object)).status).toBe(201);
});
afterAll(async () => {
  await cp?.stop();
});

describe('the agent protocol', () => {
  it('rejects a bad registration with a Status naming the field, and a wrong bootstrap token with 401', async () => {
    const bad = await cp.client.withToken(BOOTSTRAP).call('POST', '/agent/v1/register', { role: 'gateway', zone: 'Not A Zone!', pool: 'edge', address: 'x:1', version: 't' });
    expect(bad.status).toBe(422);
    expect(bad.body.details.causes.map((cause: { field: string }) => cause.field)).toContain('spec.zone');
    expect((await cp.client.withToken('nope').call('POST', '/agent/v1/register', { role: 'gateway' })).status).toBe(401);
  });

  it('pushes the current snapshot on connect and a new one on every change, and counts ACKs in policy status', async () => {
    const node = await gateway('push-a');
    const agent = new RawAgent(node);
    try {
      const first = await agent.next();
      expect(first.gateway).toMatchObject({ id: node.id, name: 'push-a', zone: 'zone-a', pool: 'edge' });
      expect(first.routes.map((r: any) => r.route.name)).toEqual(['orders']);
      expect(first.routes[0].backend.endpoints).toEqual([{ address: '127.0.0.1', port: 9001, zone: 'zone-a', weight: 1 }]);
      agent.ack(first);

      const created = await cp.client.call('POST', nsPath('ratelimitpolicies'), rateLimit(100));
      const revision = Number(created.body.metadata.resourceVersion);
      const pushed = await agent.next((snapshot) => snapshot.revision === revision);
      expect(pushed.routes[0].rateLimit.config.limits).toEqual([{ name: 'per-minute', requests: 100, interval: '60s' }]);
      expect(pushed.routes[0].rateLimit.provenance.limits).toMatchObject({ kind: 'RateLimitPolicy', name: 'orders-limit' });

      const pending = (await cp.client.call('GET', nsPath('ratelimitpolicies', 'orders-limit'))).body;
      expect(pending.status.conditions.find((c: any) => c.type === 'Programmed')).toMatchObject({ status: 'False', reason: 'Pending' });
      agent.ack(pushed);
      const synced = await eventually(
        async () => (await cp.client.call('GET', nsPath('ratelimitpolicies', 'orders-limit'))).body,
        (policy) => policy.status.rollout.acked === 1,
        'the ACK to show in policy status',
      );
      expect(synced.status.rollout).toEqual({
        revision,
        gateways: 1,
        acked: 1,
        nacked: 0,
        pending: 0,
        zones: [{ zone: 'zone-a', gateways: 1, acked: 1, nacked: 0, pending: 0 }],
        rejections: [],
      });
      expect(synced.status.conditions.find((c: any) => c.type === 'Programmed')).toMatchObject({ status: 'True', message: 'ACKed by 1 of 1 gateways.' });
      const rollout = (await cp.client.call('GET', `${nsPath('ratelimitpolicies', 'orders-limit')}/rollout`)).body;
      expect(rollout).toEqual({
        kind: 'PolicyRollout',
        policy: { kind: 'RateLimitPolicy', namespace: 'default', name: 'orders-limit' },
        revision,
        summary: { gateways: 1, acked: 1, nacked: 0, pending: 0, zones: [{ zone: 'zone-a', gateways: 1, acked: 1, nacked: 0, pending: 0 }], rejections: [] },
        gateways: [{ gateway: 'push-a', zone: 'zone-a', outcome: 'acked', appliedRevision: revision }],
      });
      const notAPolicy = await cp.client.call('GET', `${nsPath('services', 'orders')}/rollout`);
      expect(notAPolicy.status).toBe(404);
      expect(notAPolicy.body.message).toContain('only policies');

      const view = (await cp.client.call('GET', nsPath('gatewaynodes', 'push-a'))).body;
      expect(view.status).toMatchObject({ phase: 'Healthy', synced: true, appliedRevision: revision, transport: 'websocket' });

      const metrics = await (await fetch(`${cp.running.opsUrl}/metrics`)).text();
      const sample = (pattern: RegExp) => Number(pattern.exec(metrics)?.[1] ?? NaN);
      expect(sample(/^portolan_config_convergence_seconds_count (\d+)$/m)).toBeGreaterThanOrEqual(1);
      expect(sample(/^portolan_connected_agents\{transport="websocket"\} (\d+)$/m)).toBeGreaterThanOrEqual(1);
      expect(sample(/^portolan_gateways\{zone="zone-a",pool="edge",phase="Healthy"\} (\d+)$/m)).toBeGreaterThanOrEqual(1);
    } finally {
      agent.close();
      await cp.client.call('DELETE', nsPath('ratelimitpolicies', 'orders-limit'));
    }
  });

  it('pushes nothing when a new revision does not change what the gateway runs', async () => {
    const agent = new RawAgent(await gateway('quiet-a'));
    try {
      const first = await agent.next();
      const unrelated = { apiVersion: 'mesh.portolan.dev/v1alpha1', kind: 'Service', metadata: { name: 'unrouted' }, spec: { ports: [{ port: 1 }] } };
      expect((await cp.client.call('POST', nsPath('services'), unrelated)).status).toBe(201);
      // A later, relevant change proves the stream is alive and ordered after the unrelated one.
      const policy = await cp.client.call('POST', nsPath('ratelimitpolicies'), { ...rateLimit(7), metadata: { name: 'quiet-limit' } });
      await agent.next((snapshot) => snapshot.revision === Number(policy.body.metadata.resourceVersion));
      expect(agent.snapshots.map((snapshot) => snapshot.version)).toEqual([first.version, agent.snapshots[1].version]);
    } finally {
      agent.close();
      await cp.client.call('DELETE', nsPath('ratelimitpolicies', 'quiet-limit'));
      await cp.client.call('DELETE', nsPath('services', 'unrouted'));
    }
  });

  it('serves long-poll: at once when the version differs, 304 when nothing changes, and wakes on a change', async () => {
    const node = await gateway('poll-a');
    const client = cp.client.withToken(node.credential);
    const first = await client.call('GET', `/agent/v1/nodes/${node.id}/snapshot?wait=5s`);
    expect(first.status).toBe(200);
    const etag = first.headers.etag as string;
    expect(etag).toBe(`"${first.body.version}"`);

    const unchanged = await client.call('GET', `/agent/v1/nodes/${node.id}/snapshot?wait=300ms`, undefined, undefined, { 'if-none-match': etag });
    expect(unchanged.status).toBe(304);

    const waiting = client.call('GET', `/agent/v1/nodes/${node.id}/snapshot?wait=20s`, undefined, undefined, { 'if-none-match': etag });
    await new Promise((resolve) => setTimeout(resolve, 100));
    // Scope gateway: a mesh-scoped share would change (and unsync the gateway) whenever another
    // test's gateway, or this one without heartbeats, passes the 600 ms TTL.
    const limit = rateLimit(5);
    const created = await cp.client.call('POST', nsPath('ratelimitpolicies'), { ...limit, metadata: { name: 'poll-limit' }, spec: { ...limit.spec, scope: 'gateway' } });
    const woken = await waiting;
    expect(woken.status).toBe(200);
    expect(woken.body.revision).toBe(Number(created.body.metadata.resourceVersion));
    expect(woken.headers['x-portolan-revision']).toBe(created.body.metadata.resourceVersion);

    const malformed = await client.call('POST', `/agent/v1/nodes/${node.id}/acks`, { version: woken.body.version, revision: woken.body.revision, status: 'NACK', errors: [{ resource: 'Route/default/x', message: 'ok' }, { message: 42 }] });
    expect(malformed.status).toBe(400);
    expect(malformed.body).toMatchObject({ kind: 'Status', reason: 'BadRequest', message: expect.stringContaining('errors[1]: must be {"resource": string, "field"?: string, "message": string}') });
    expect((await client.call('POST', `/agent/v1/nodes/${node.id}/acks`, { version: woken.body.version, revision: woken.body.revision, status: 'ACK' })).status).toBe(204);
    const view = (await cp.client.call('GET', nsPath('gatewaynodes', 'poll-a'))).body;
    expect(view.status).toMatchObject({ synced: true, transport: 'long-poll', appliedVersion: woken.body.version });
    await cp.client.call('DELETE', nsPath('ratelimitpolicies', 'poll-limit'));
    await client.call('DELETE', `/agent/v1/nodes/${node.id}`);
  });

  it('records a NACK with its reasons, marks the gateway Degraded, and clears it on a later ACK', async () => {
    const node = await gateway('nack-a');
    const agent = new RawAgent(node);
    try {
      const first = await agent.next();
      const errors = [{ resource: 'Route/default/orders', field: 'spec.match.headers[0].value', message: 'Invalid regular expression' }];
      agent.ack(first, 'NACK', errors);
      const degraded = await eventually(async () => (await cp.client.call('GET', nsPath('gatewaynodes', 'nack-a'))).body, (g) => g.status.phase === 'Degraded', 'Degraded');
      expect(degraded.status.lastNack).toMatchObject({ version: first.version, errors });
      expect(degraded.status.conditions[0]).toMatchObject({ type: 'Ready', status: 'True', reason: 'ConfigRejected' });

      // Gateway-scoped, so other tests' gateways passing their TTL do not change this one's snapshot.
      const limit = rateLimit(9);
      const created = await cp.client.call('POST', nsPath('ratelimitpolicies'), { ...limit, metadata: { name: 'nack-limit' }, spec: { ...limit.spec, scope: 'gateway' } });
      const rejected = await eventually(
        async () => (await cp.client.call('GET', nsPath('ratelimitpolicies', 'nack-limit'))).body,
        () => true,
        'policy',
      );
      expect(rejected.status.rollout.gateways).toBeGreaterThanOrEqual(1);
      const next = await agent.next((snapshot) => snapshot.revision === Number(created.body.metadata.resourceVersion));
      const policyErrors = [{ resource: 'RateLimitPolicy/default/nack-limit', field: 'spec.limits[0].interval', message: 'interval too short for this gateway' }];
      agent.ack(next, 'NACK', policyErrors);
      const refused = await eventually(
        async () => (await cp.client.call('GET', nsPath('ratelimitpolicies', 'nack-limit'))).body,
        (policy) => policy.status.rollout.nacked === 1,
        'the NACK to show in policy status',
      );
      expect(refused.status.rollout.rejections).toEqual([{ gateway: 'nack-a', zone: 'zone-a', version: next.version, errors: policyErrors }]);
      const refusedRollout = (await cp.client.call('GET', `${nsPath('ratelimitpolicies', 'nack-limit')}/rollout`)).body;
      expect(refusedRollout.gateways.find((entry: any) => entry.gateway === 'nack-a')).toMatchObject({ outcome: 'nacked', rejection: { version: next.version, errors: policyErrors } });
      expect(refused.status.conditions.find((c: any) => c.type === 'Programmed')).toMatchObject({ status: 'False', reason: 'Rejected' });
      const stale = (await cp.client.call('GET', '/v1/proxy-status?stale=true')).body.items;
      expect(stale.find((item: any) => item.gateway === 'nack-a')).toMatchObject({ sync: 'Rejected', stale: true, lastNack: { version: next.version, errors: policyErrors } });
      agent.ack(next);
      await eventually(async () => (await cp.client.call('GET', nsPath('gatewaynodes', 'nack-a'))).body, (g) => g.status.phase === 'Healthy', 'Healthy after ACK');
      const all = (await cp.client.call('GET', '/v1/proxy-status')).body.items;
      expect(all.find((item: any) => item.gateway === 'nack-a')).toMatchObject({ sync: 'Synced', stale: false, transport: 'websocket', appliedVersion: next.version });
    } finally {
      agent.close();
      await cp.client.call('DELETE', nsPath('ratelimitpolicies', 'nack-limit'));
    }
  });

  it('gives each pool member its share slot and re-divides when one drains; drain waits for the others to ACK', async () => {
    // Shares are sent only where a mesh-scoped limit uses them.
    const meshLimit = await cp.client.call('POST', nsPath('ratelimitpolicies'), { ...rateLimit(100), metadata: { name: 'shares-limit' } });
    expect(meshLimit.status).toBe(201);
    const names = ['share-1', 'share-2', 'share-3'];
    const nodes = await Promise.all(names.map((name) => register({ role: 'gateway', name, zone: 'zone-a', pool: 'shares', address: '127.0.0.1:1', version: 't' })));
    const agents = nodes.map((node) => new RawAgent(node));
    const acking = agents.map((agent) => {
      let acked = 0;
      return setInterval(() => {
        while (acked < agent.snapshots.length) agent.ack(agent.snapshots[acked++]);
      }, 20);
    });
    try {
      const shares = await Promise.all(agents.map((agent) => agent.next((s) => s.share?.size === 3)));
      expect(shares.map((s) => s.share.index).sort()).toEqual([0, 1, 2]);

      const started = Date.now();
      const drained = await cp.client.withToken(nodes[0].credential).call('POST', `/agent/v1/nodes/${nodes[0].id}/drain?wait=10s`);
      expect(drained.status).toBe(200);
      expect(drained.body).toMatchObject({ lifecycle: 'Draining', propagated: true, pending: [] });
      expect(Date.now() - started).toBeLessThan(10_000);
      for (const agent of agents.slice(1)) expect(agent.snapshots.at(-1).share.size).toBe(2);
      expect(agents.slice(1).map((agent) => agent.snapshots.at(-1).share.index).sort()).toEqual([0, 1]);
      expect((await cp.client.call('GET', nsPath('gatewaynodes', 'share-1'))).body.status.phase).toBe('Draining');

      expect((await cp.client.withToken(nodes[0].credential).call('DELETE', `/agent/v1/nodes/${nodes[0].id}`)).status).toBe(200);
      expect((await cp.client.call('GET', nsPath('gatewaynodes', 'share-1'))).status).toBe(404);
    } finally {
      acking.forEach(clearInterval);
      agents.forEach((agent) => agent.close());
      await cp.client.call('DELETE', nsPath('ratelimitpolicies', 'shares-limit'));
    }
  });

  it('adds registered instances to the service endpoints and drops them when they go Offline, then removes them', async () => {
    const agent = new RawAgent(await gateway('instances-a'));
    try {
      await agent.next();
      const instance = await register({ role: 'instance', service: { namespace: 'default', name: 'orders' }, zone: 'zone-b', address: '127.0.0.1', port: 9002 });
      const withInstance = await agent.next((s) => s.routes[0].backend.endpoints.length === 2);
      expect(withInstance.routes[0].backend.endpoints[1]).toEqual({ address: '127.0.0.1', port: 9002, zone: 'zone-b', weight: 1 });
      const listed = (await cp.client.call('GET', nsPath('serviceinstances'))).body.items;
      expect(listed.map((item: any) => item.metadata.name)).toContain(instance.name);

      // No heartbeats: after the TTL (600 ms) it is Offline and leaves the endpoints...
      const seen = agent.snapshots.indexOf(withInstance);
      await agent.next((s) => agent.snapshots.indexOf(s) > seen && s.routes[0].backend.endpoints.length === 1);
      const offline = (await cp.client.call('GET', nsPath('serviceinstances', instance.name))).body;
      expect(offline.status.phase).toBe('Offline');
      expect(offline.status.removalInSeconds).toBeGreaterThanOrEqual(0);
      // ...and after the removal grace (1 s) it is gone.
      await eventually(async () => (await cp.client.call('GET', nsPath('serviceinstances', instance.name))).status, (status) => status === 404, 'removal');
      expect((await cp.client.withToken(instance.credential).call('POST', `/agent/v1/nodes/${instance.id}/heartbeat`, {})).status).toBe(404);
    } finally {
      agent.close();
    }
  });

  it('explains a gateway\'s effective config field by field, and a dry run lists the gateways a change would reach', async () => {
    const a = new RawAgent(await gateway('explain-a', 'zone-a'));
    const b = new RawAgent(await gateway('explain-b', 'zone-b'));
    try {
      await Promise.all([a.next(), b.next()]);
      const retry = { apiVersion: 'mesh.portolan.dev/v1alpha1', kind: 'RetryPolicy', metadata: { name: 'explain-retry' }, spec: { targetRef: { kind: 'Service', name: 'orders' }, attempts: 2 } };
      const created = await cp.client.call('POST', nsPath('retrypolicies'), retry);
      await a.next((s) => s.revision === Number(created.body.metadata.resourceVersion));
      const explained = (await cp.client.call('GET', `${nsPath('gatewaynodes', 'explain-a')}/effective-config`)).body;
      const fields = explained.routes.find((r: any) => r.route === 'default/orders').fields;
      expect(fields).toContainEqual({ path: 'retry.attempts', value: 2, setBy: `RetryPolicy/default/explain-retry@${created.body.metadata.resourceVersion}` });
      expect(fields).toContainEqual({ path: 'retry.backoff.baseInterval', value: '25ms', setBy: 'Default' });

      const zoned = { apiVersion: 'mesh.portolan.dev/v1alpha1', kind: 'TimeoutPolicy', metadata: { name: 'zone-b-timeout' }, spec: { targetRef: { kind: 'Route', name: 'orders', zone: 'zone-b' }, requestTimeout: '3s' } };
      const dryRun = await cp.client.call('POST', `${nsPath('timeoutpolicies')}?dryRun=All`, zoned);
      expect(dryRun.status).toBe(201);
      const radius = dryRun.body.status.blastRadius;
      expect(radius.shapes.map((shape: any) => shape.zone)).toEqual(['zone-b']);
      expect(radius.shapes[0].gateways).toContain('explain-b');
      expect(radius.shapes[0].changes).toContainEqual({ route: 'default/orders', path: 'timeout.requestTimeout', before: null, after: '3s', setBy: 'TimeoutPolicy/default/zone-b-timeout@dry-run' });
      expect((await cp.client.call('GET', nsPath('timeoutpolicies', 'zone-b-timeout'))).status).toBe(404);

      const deletion = await cp.client.call('DELETE', `${nsPath('retrypolicies', 'explain-retry')}?dryRun=All`);
      const removed = deletion.body.status.blastRadius;
      expect(removed.affected).toBeGreaterThanOrEqual(2);
      expect(removed.shapes.flatMap((shape: any) => shape.changes.map((change: any) => change.path))).toContain('retry.attempts');
    } finally {
      a.close();
      b.close();
      await cp.client.call('DELETE', nsPath('retrypolicies', 'explain-retry'));
    }
  });

  it('watches GatewayNodes from a list\'s resourceVersion without missing a change in between', async () => {
    const listed = await cp.client.call('GET', nsPath('gatewaynodes'));
    const from = listed.body.metadata.resourceVersion;
    const node = await gateway('watched-a');
    await cp.client.withToken(node.credential).call('POST', `/agent/v1/nodes/${node.id}/drain?wait=1ms`);
    const watched = await cp.client.call('GET', `${nsPath('gatewaynodes')}?watch=true&resourceVersion=${from}&timeoutSeconds=1`);
    const events = String(watched.body).trim().split('\n').map((line) => JSON.parse(line)).filter((event) => event.object.metadata.name === 'watched-a');
    // (The TTL here is 600 ms, so it may also go Offline before the watch ends.)
    expect(events.slice(0, 2).map((event) => [event.type, event.object.status.phase])).toEqual([
      ['ADDED', 'Healthy'],
      ['MODIFIED', 'Draining'],
    ]);
  });

  it('revokes a gateway\'s credential at an admin\'s word: its stream closes with 4401, its held long-poll ends 401, and it must register again', async () => {
    const node = await gateway('revoked-a');
    const agent = new RawAgent(node);
    const streamClosed = new Promise<{ code: number; reason: string }>((resolve) => agent.socket.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
    try {
      const first = await agent.next();
      const client = cp.client.withToken(node.credential);
      const held = client.call('GET', `/agent/v1/nodes/${node.id}/snapshot?wait=20s`, undefined, undefined, { 'if-none-match': `"${first.version}"` });
      // The long-poll is the gateway's latest transport once it is held.
      await eventually(async () => (await cp.client.call('GET', nsPath('gatewaynodes', 'revoked-a'))).body.status?.transport, (transport) => transport === 'long-poll', 'the long-poll to be held');

      const revoked = await cp.client.call('POST', '/v1/gateways/revoked-a/revoke-credential');
      expect(revoked.status).toBe(200);
      expect(revoked.body).toMatchObject({ kind: 'Status', status: 'Success', message: expect.stringContaining('register again') });
      expect(await streamClosed).toEqual({ code: 4401, reason: expect.stringContaining('revoked') });
      const ended = await held;
      expect(ended.status).toBe(401);
      expect(ended.body).toMatchObject({ kind: 'Status', reason: 'Unauthorized', message: expect.stringContaining('revoked') });

      // The credential authenticates nothing any more; the node's endpoints say to register again.
      expect((await client.call('POST', `/agent/v1/nodes/${node.id}/heartbeat`, {})).status).toBe(404);
      const upgrade = new WebSocket(`${cp.running.apiUrl.replace('https', 'wss')}/agent/v1/nodes/${node.id}/stream`, { ca: cp.running.caPem, headers: { authorization: `Bearer ${node.credential}` } });
      expect(await new Promise((resolve) => upgrade.on('unexpected-response', (_request, response) => resolve(response.statusCode)))).toBe(401);
      expect((await cp.client.call('GET', nsPath('gatewaynodes', 'revoked-a'))).status).toBe(404);

      const again = await gateway('revoked-a');
      expect(again.credential).not.toBe(node.credential);
      expect((await cp.client.withToken(again.credential).call('POST', `/agent/v1/nodes/${again.id}/heartbeat`, {})).status).toBe(200);
      expect((await cp.client.call('POST', `/v1/gateways/${again.id}/revoke-credential`)).status).toBe(200);
      const unknown = await cp.client.call('POST', '/v1/gateways/revoked-a/revoke-credential');
      expect(unknown.status).toBe(404);
      expect(unknown.body).toMatchObject({ kind: 'Status', reason: 'NotFound', message: expect.stringContaining('revoked-a') });
    } finally {
      agent.close();
    }
  });

  it('tells agents to keep their connection open longer than heartbeats are apart, so a heartbeat does not pay a new TLS handshake', async () => {
    // Node's default was 5 s: shorter than a heartbeat interval of 5 s or more (docs/benchmarks.md).
    const node = await gateway('keep-alive-a');
    // As the agent's HTTP client: undici, keep-alive on.
    const agent = new Agent({ connect: { ca: cp.running.caPem } });
    let connections = 0;
    agent.on('connect', () => connections++);
    try {
      for (let beat = 0; beat < 3; beat++) {
        const answer = await request(`${cp.running.apiUrl}/agent/v1/nodes/${node.id}/heartbeat`, {
          method: 'POST',
          dispatcher: agent,
          headers: { authorization: `Bearer ${node.credential}`, 'content-type': 'application/json' },
          body: '{}',
        });
        await answer.body.text();
        expect(answer.statusCode).toBe(200);
        expect(answer.headers.connection).toBe('keep-alive');
        expect(answer.headers['keep-alive']).toBe('timeout=75');
        // Heartbeats are seconds apart; the connection is idle, not still finishing the last answer.
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(connections).toBe(1);
    } finally {
      await agent.close();
    }
  });

  it('keeps registry kinds read-only', async () => {
    const write = await cp.client.call('POST', nsPath('gatewaynodes'), { apiVersion: 'mesh.portolan.dev/v1alpha1', kind: 'GatewayNode', metadata: { name: 'fake' }, spec: {} });
    expect(write.status).toBe(405);
    expect(write.body).toMatchObject({ kind: 'Status', reason: 'MethodNotAllowed' });
    expect(write.body.message).toContain('agent protocol');
  });
});
