/**
 * Acceptance: a policy applied through the API reaches every connected gateway, over WebSocket and
 * over long-poll, every gateway ACKs that revision, and the policy's status says so. A snapshot a
 * gateway cannot apply is NACKed with its reason, the gateway keeps the old version of that part,
 * and the control plane reports the NACK.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, eventually, route, send, service, TestMesh, type ControlPlane, type GatewayProcess } from './support/mesh.js';

function kubectl(kubeconfig: string, args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile('/usr/bin/kubectl', ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8' }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    if (input !== undefined) child.stdin!.end(input);
  });
}

/**
 * Opens a watch (resolves once the server answered, so nothing after this is missed); `until`
 * reads events until `done` accepts an event's object and returns every object seen.
 */
async function openWatch(controlPlane: ControlPlane, path: string, timeoutMs = 30_000) {
  const answer = await request(`${controlPlane.apiUrl}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, dispatcher: controlPlane.dispatcher.agent, signal: AbortSignal.timeout(timeoutMs) });
  expect(answer.statusCode).toBe(200);
  return {
    async until(done: (object: any) => boolean): Promise<any[]> {
      const seen: any[] = [];
      let buffered = '';
      try {
        for await (const chunk of answer.body) {
          buffered += chunk.toString();
          let newline: number;
          while ((newline = buffered.indexOf('\n')) >= 0) {
            const event = JSON.parse(buffered.slice(0, newline));
            buffered = buffered.slice(newline + 1);
            seen.push(event.object);
            if (done(event.object)) return seen;
          }
        }
      } finally {
        answer.body.destroy();
      }
      throw new Error(`the watch ended without the awaited event; saw ${JSON.stringify(seen.map((o) => o.status?.conditions))}`);
    },
  };
}

const programmed = (policy: any) => policy.status?.conditions?.find((c: any) => c.type === 'Programmed');

let mesh: TestMesh;
let controlPlane: ControlPlane;
let gateways: GatewayProcess[];

beforeAll(async () => {
  mesh = await TestMesh.start('portolan-distribution-', {
    // Long enough that the last test sees a stopped gateway before the registry marks it Offline.
    controlPlaneEnv: { PORTOLAN_NODE_TTL: '12s' },
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
    expect(status.status.rollout).toEqual({
      revision,
      gateways: 3,
      acked: 3,
      nacked: 0,
      pending: 0,
      zones: [{ zone: 'zone-a', gateways: 3, acked: 3, nacked: 0, pending: 0 }],
      rejections: [],
    });
    expect(status.status.conditions.find((c: any) => c.type === 'Programmed')).toMatchObject({ status: 'True', message: 'ACKed by 3 of 3 gateways.' });
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
    expect(await gateways[1].metrics()).toMatch(/portolan_gateway_request_duration_seconds_count\{route="default\/orders",service="default\/orders",status_class="2xx",pool="edge",zone="zone-a"\} \d+/);
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

  // Last: it stops a gateway.
  it('reports a kubectl-applied policy Pending, then Programmed (kubectl wait ends); a killed gateway is listed as stale and Offline at once, and does not hold the next rollout', async () => {
    const kubeconfig = join(mesh.root, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{name: mesh, cluster: {server: '${controlPlane.apiUrl}', certificate-authority-data: ${Buffer.from(controlPlane.caPem).toString('base64')}}}]`,
        `users: [{name: admin, user: {token: ${ADMIN_TOKEN}}}]`,
        'contexts: [{name: mesh, context: {cluster: mesh, user: admin}}]',
        'current-context: mesh',
      ].join('\n'),
    );
    const manifest = (timeout: string) =>
      `apiVersion: mesh.portolan.dev/v1alpha1\nkind: TimeoutPolicy\nmetadata:\n  name: orders-timeout\nspec:\n  targetRef:\n    kind: Service\n    name: orders\n  requestTimeout: ${timeout}\n`;

    // Watching from before the apply: the status changes arrive as events without any further write.
    const watch = await openWatch(controlPlane, '/apis/mesh.portolan.dev/v1alpha1/namespaces/default/timeoutpolicies?watch=true&fieldSelector=metadata.name%3Dorders-timeout');
    const events = watch.until((p) => programmed(p)?.status === 'True');
    expect(await kubectl(kubeconfig, ['apply', '-f', '-'], manifest('7s'))).toMatchObject({ code: 0, stdout: expect.stringContaining('timeoutpolicy.mesh.portolan.dev/orders-timeout created') });
    const waited = await kubectl(kubeconfig, ['wait', '--for=condition=Programmed', 'timeoutpolicy/orders-timeout', '--timeout=30s']);
    expect(waited).toMatchObject({ code: 0, stdout: expect.stringContaining('condition met') });
    const seen = await events;
    // Created while no gateway had ACKed it yet; True only at the end.
    expect(seen.slice(0, -1).map((p) => programmed(p)?.reason)).toContain('Pending');
    expect(programmed(seen.at(-1))).toMatchObject({ status: 'True', reason: 'AllGatewaysACKed', message: 'ACKed by 3 of 3 gateways.' });
    const proxyStatus = await controlPlane.call('GET', '/v1/proxy-status');
    expect(proxyStatus.body.items.map((item: any) => [item.gateway, item.sync, item.stale])).toEqual([
      ['poll-1', 'Synced', false],
      ['ws-1', 'Synced', false],
      ['ws-2', 'Synced', false],
    ]);
    expect((await controlPlane.call('GET', '/v1/proxy-status?stale=true')).body.items).toEqual([]);

    await gateways[1].stop();
    const stale = await eventually('ws-2 listed as stale', async () => (await controlPlane.call('GET', '/v1/proxy-status?stale=true')).body.items, (items) => items.length > 0);
    // Killed: its stream ended without a goodbye, so it is Offline at once, not after the 12 s TTL...
    expect(stale).toEqual([expect.objectContaining({ gateway: 'ws-2', zone: 'zone-a', phase: 'Offline', sync: 'Disconnected', stale: true, transport: 'none' })]);
    expect((await controlPlane.gatewayNode('ws-2')).status.conditions).toEqual([expect.objectContaining({ type: 'Ready', status: 'False', reason: 'StreamLost' })]);

    // ...and a change while it is gone does not wait for it.
    expect((await kubectl(kubeconfig, ['apply', '-f', '-'], manifest('8s'))).code).toBe(0);
    const done = await eventually('Programmed by the two live gateways', () => controlPlane.get('TimeoutPolicy', 'orders-timeout'), (p) => p.status.rollout.acked === 2 && programmed(p).status === 'True');
    expect(done.status.rollout).toMatchObject({ gateways: 2, acked: 2, pending: 0, zones: [{ zone: 'zone-a', gateways: 2, acked: 2, nacked: 0, pending: 0 }] });
    expect(programmed(done)).toMatchObject({ reason: 'AllGatewaysACKed', message: 'ACKed by 2 of 2 gateways.' });
  });
});
