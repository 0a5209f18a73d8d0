/**
 * Acceptance: with the control plane killed, gateways keep serving; a gateway restarted while it is
 * down serves from its persisted config; when it returns, gateways reconnect and converge. And
 * SIGTERM under load: no in-flight request fails, the gateway deregisters and exits 0.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from 'undici';
import { eventually, route, send, service, TestMesh, type ControlPlane, type GatewayProcess, type RecordingUpstream } from './support/mesh.js';

let mesh: TestMesh;
let controlPlane: ControlPlane;
let upstream: RecordingUpstream;
let gateways: GatewayProcess[];

beforeAll(async () => {
  mesh = await TestMesh.start('portolan-fail-static-', {
    upstreams: ['orders'],
    gateways: [
      { name: 'static-ws', transport: 'websocket' },
      { name: 'static-poll', transport: 'long-poll' },
    ],
    configure: async ({ controlPlane, upstreams }) => {
      await controlPlane.apply(service('orders', [{ port: upstreams.orders.port }]));
      await controlPlane.apply(route('orders', '/orders'));
    },
  });
  ({ controlPlane, gateways } = mesh);
  upstream = mesh.upstreams.orders;
  const revision = Number((await controlPlane.get('Route', 'orders')).metadata.resourceVersion);
  for (const gateway of gateways) await eventually(`${gateway.name} configured`, () => gateway.config(), (c) => c?.revision >= revision);
});

afterAll(() => mesh?.stop());

describe('fail static', () => {
  it('keeps serving without the control plane, serves from disk after a restart, and converges when it returns', async () => {
    await controlPlane.kill();
    for (const gateway of gateways) expect((await send(gateway.proxyUrl, '/orders')).status).toBe(200);

    const restarted = gateways[0];
    await restarted.stop();
    await restarted.start();
    expect((await send(restarted.proxyUrl, '/orders')).status).toBe(200);
    expect(restarted.output()).toContain('serving the last good configuration from disk');

    await controlPlane.start();
    const policy = await controlPlane.apply({ kind: 'TimeoutPolicy', metadata: { name: 'after-outage' }, spec: { targetRef: { kind: 'Mesh' }, requestTimeout: '7s' } });
    const revision = Number(policy.metadata.resourceVersion);
    for (const gateway of gateways) {
      const config = await eventually(`${gateway.name} to converge`, () => gateway.config(), (c) => c?.revision >= revision, 60_000);
      expect(config.routes[0].timeout.config.requestTimeout).toBe('7s');
      await eventually(`${gateway.name} synced`, () => controlPlane.gatewayNode(gateway.name), (node) => node.status?.synced === true, 30_000);
    }
  });
});

describe('graceful drain', () => {
  it('finishes every in-flight request on SIGTERM, deregisters, and exits 0', async () => {
    const gateway = gateways[1];
    upstream.respond = () => ({ status: 200, delayMs: 700 });
    const client = new Agent({ connections: 50 });
    const before = upstream.requests.length;
    const inFlight = Array.from({ length: 30 }, () => send(gateway.proxyUrl, '/orders', { dispatcher: client }));
    await eventually('requests to reach the upstream', () => upstream.requests.length, (n) => n >= before + 30);
    gateway.signal('SIGTERM');
    const answers = await Promise.all(inFlight);
    expect(answers.map((answer) => answer.status)).toEqual(Array(30).fill(200));
    expect(await gateway.exited()).toBe(0);
    const node = await controlPlane.call('GET', '/apis/mesh.portolan.dev/v1alpha1/namespaces/default/gatewaynodes/static-poll');
    expect(node.status).toBe(404);
    expect(gateway.output()).toMatch(/draining: the control plane no longer routes to this gateway/);
    await client.close();
    upstream.respond = () => ({ status: 200 });
  });
});
