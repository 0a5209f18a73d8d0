/**
 * Acceptance: a policy applied through the API reaches every connected gateway, over WebSocket and
 * over long-poll, every gateway ACKs that revision, and the policy's status says so. A snapshot a
 * gateway cannot apply is NACKed with its reason, the gateway keeps the old version of that part,
 * and the control plane reports the NACK.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, route, send, service, TestMesh, type ControlPlane, type GatewayProcess } from './support/mesh.js';

let mesh: TestMesh;
let controlPlane: ControlPlane;
let gateways: GatewayProcess[];

beforeAll(async () => {
  mesh = await TestMesh.start('portolan-distribution-', {
    upstreams: ['orders'],
    gateways: [
      { name: 'ws-1', transport: 'websocket' },
      { name: 'ws-2', transport: 'websocket' },
      { name: 'poll-1', transport: 'long-poll' },
    ],
    configure: async ({ controlPlane, upstreams }) => {
      await controlPlane.apply(service('orders', [{ port: upstreams.orders.port, zone: 'zone-a' }]));
      await controlPlane.apply(route('orders', '/orders'));
    },
  });
  ({ controlPlane, gateways } = mesh);
});

afterAll(() => mesh?.stop());

describe('policy distribution', () => {
  it('reaches every gateway over WebSocket and long-poll; every gateway ACKs the revision and the status shows it', async () => {
    const policy = await controlPlane.apply({
      kind: 'RetryPolicy',
      metadata: { name: 'orders-retries' },
      spec: { targetRef: { kind: 'Service', name: 'orders' }, attempts: 2 },
    });
    const revision = Number(policy.metadata.resourceVersion);
    for (const gateway of gateways) {
      const config = await eventually(`${gateway.name} to apply revision ${revision}`, () => gateway.config(), (c) => c?.revision === revision);
      expect(config.routes[0].retry.config.attempts).toBe(2);
    }
    const nodes = await Promise.all(gateways.map((gateway) => eventually(`${gateway.name} ACK`, () => controlPlane.gatewayNode(gateway.name), (node) => node.status.appliedRevision === revision)));
    expect(nodes.map((node) => [node.metadata.name, node.status.synced, node.status.transport])).toEqual([
      ['ws-1', true, 'websocket'],
      ['ws-2', true, 'websocket'],
      ['poll-1', true, 'long-poll'],
    ]);
    const status = await eventually('rollout 3/3', () => controlPlane.get('RetryPolicy', 'orders-retries'), (p) => p.status.rollout.acked === 3);
    expect(status.status.rollout).toEqual({ gateways: 3, acked: 3, nacked: 0 });
    expect(status.status.conditions.find((c: any) => c.type === 'Synced')).toMatchObject({ status: 'True', message: 'ACKed by 3 of 3 gateways.' });
    expect((await send(gateways[2].proxyUrl, '/orders/1')).status).toBe(200);
  });

  it('reports traffic counters of each heartbeat period on the GatewayNode', async () => {
    for (let i = 0; i < 20; i++) await send(gateways[1].proxyUrl, '/orders/stats');
    await send(gateways[1].proxyUrl, '/nowhere');
    const node = await eventually(
      'a heartbeat with the traffic',
      () => controlPlane.gatewayNode('ws-2'),
      (n) => (n.status.stats?.responses['2xx'] ?? 0) > 0,
      15_000,
    );
    expect(node.status.stats).toMatchObject({ latency: { p50Ms: expect.any(Number), p99Ms: expect.any(Number) }, breakers: [], ejectedEndpoints: [] });
    expect(await gateways[1].metrics()).toMatch(/portolan_gateway_request_duration_seconds_count\{route="default\/orders",service="default\/orders",status_class="2xx",zone="zone-a"\} \d+/);
    expect(await gateways[1].metrics()).toMatch(/portolan_gateway_applied_revision \d+/);
  });

  it('NACKs a route it cannot compile, naming it; keeps serving the old version of that route; the control plane reports it', async () => {
    const good = await controlPlane.apply({
      kind: 'Route',
      metadata: { name: 'orders' },
      spec: { match: { pathPrefix: '/orders', headers: [{ name: 'x-tenant', value: 'acme', type: 'RegularExpression' }] }, backendRef: { name: 'orders' } },
    });
    const goodRevision = Number(good.metadata.resourceVersion);
    await eventually('the regex route to apply', () => gateways[0].config(), (c) => c?.revision >= goodRevision);
    expect((await send(gateways[0].proxyUrl, '/orders', { headers: { 'x-tenant': 'acme' } })).status).toBe(200);
    expect((await send(gateways[0].proxyUrl, '/orders', { headers: { 'x-tenant': 'other' } })).status).toBe(404);

    // RE2 accepts inline flags; JavaScript's engine (Node 20) does not, so the gateway cannot apply it.
    const bad = await controlPlane.apply({
      kind: 'Route',
      metadata: { name: 'orders' },
      spec: { match: { pathPrefix: '/orders', headers: [{ name: 'x-tenant', value: '(?i)acme', type: 'RegularExpression' }] }, backendRef: { name: 'orders' } },
    });
    const badRevision = Number(bad.metadata.resourceVersion);
    const node = await eventually('the NACK to be reported', () => controlPlane.gatewayNode('ws-1'), (n) => n.status.lastNack?.revision === badRevision);
    expect(node.status.lastNack.errors).toEqual([
      expect.objectContaining({ resource: 'Route/default/orders', field: 'spec.match.headers[0].value', message: expect.stringMatching(/regular expression/i) }),
    ]);
    expect(node.status.phase).toBe('Degraded');
    expect(node.status.synced).toBe(false);
    expect((await gateways[0].config()).rejected).toEqual(node.status.lastNack.errors);
    // The old version of the route still serves.
    expect((await send(gateways[0].proxyUrl, '/orders', { headers: { 'x-tenant': 'acme' } })).status).toBe(200);
    expect((await send(gateways[0].proxyUrl, '/orders', { headers: { 'x-tenant': 'other' } })).status).toBe(404);

    // Apply merges; an empty list replaces the header conditions.
    await controlPlane.apply({ kind: 'Route', metadata: { name: 'orders' }, spec: { match: { pathPrefix: '/orders', headers: [] }, backendRef: { name: 'orders' } } });
    await eventually('recovery after a fixed route', () => controlPlane.gatewayNode('ws-1'), (n) => n.status.phase === 'Healthy' && n.status.synced);
    expect((await send(gateways[0].proxyUrl, '/orders', { headers: { 'x-tenant': 'other' } })).status).toBe(200);
  });
});
