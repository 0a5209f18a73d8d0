/**
 * Acceptance: a token bucket of 100 per 60 s admits exactly 100 requests and answers the 101st
 * 429 with Retry-After. With scope mesh, three gateways of a pool together admit 100; after one
 * leaves, the two left still admit 100 together.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, route, send, service, TestMesh, type ControlPlane, type GatewayProcess } from './support/mesh.js';

let mesh: TestMesh;
let controlPlane: ControlPlane;
let gateways: GatewayProcess[];

const limit = (name: string, scope: 'gateway' | 'mesh', routeName: string) => ({
  kind: 'RateLimitPolicy',
  metadata: { name },
  spec: {
    targetRef: { kind: 'Route', name: routeName },
    scope,
    key: { type: 'header', header: 'x-tenant' },
    limits: [{ name: 'per-minute', requests: 100, interval: '60s' }],
  },
});

async function waitForRevision(revision: number, among: GatewayProcess[] = gateways) {
  for (const gateway of among) await eventually(`${gateway.name} at revision ${revision}`, () => gateway.config(), (c) => c?.revision >= revision);
}

beforeAll(async () => {
  mesh = await TestMesh.start('portolan-rate-limit-', {
    upstreams: ['api'],
    gateways: ['edge-1', 'edge-2', 'edge-3'].map((name) => ({ name, pool: 'edge' })),
    configure: async ({ controlPlane, upstreams }) => {
      await controlPlane.apply(service('api', [{ port: upstreams.api.port }]));
      await controlPlane.apply(route('local', '/local', 'api'));
      await controlPlane.apply(route('shared', '/shared', 'api'));
    },
  });
  ({ controlPlane, gateways } = mesh);
});

afterAll(() => mesh?.stop());

describe('RateLimitPolicy', () => {
  it('admits exactly 100 requests per 60 s on a gateway; the 101st gets 429 with Retry-After and RateLimit headers', async () => {
    const policy = await controlPlane.apply(limit('local-limit', 'gateway', 'local'));
    await waitForRevision(Number(policy.metadata.resourceVersion));
    const statuses: number[] = [];
    for (let i = 0; i < 100; i++) statuses.push((await send(gateways[0].proxyUrl, '/local', { headers: { 'x-tenant': 'acme' } })).status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(100);
    const limited = await send(gateways[0].proxyUrl, '/local', { headers: { 'x-tenant': 'acme' } });
    expect(limited.status).toBe(429);
    const retryAfter = Number(limited.headers['retry-after']);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(limited.headers['ratelimit-policy']).toBe('"per-minute";q=100;w=60');
    expect(limited.headers.ratelimit).toMatch(/^"per-minute";r=0;t=\d+$/);
    // Another key has its own bucket; another gateway enforces its own limit (scope gateway).
    expect((await send(gateways[0].proxyUrl, '/local', { headers: { 'x-tenant': 'globex' } })).status).toBe(200);
    expect((await send(gateways[1].proxyUrl, '/local', { headers: { 'x-tenant': 'acme' } })).status).toBe(200);
    expect(await gateways[0].metrics()).toMatch(/portolan_gateway_rate_limited_total\{route="default\/local"\} 1/);
  });

  it('with scope mesh, the pool admits 100 in total, and still 100 after a gateway leaves', async () => {
    const policy = await controlPlane.apply(limit('shared-limit', 'mesh', 'shared'));
    await waitForRevision(Number(policy.metadata.resourceVersion));
    const admitted = async (tenant: string, among: GatewayProcess[]) => {
      let passed = 0;
      for (let i = 0; i < 150; i++) {
        const response = await send(among[i % among.length].proxyUrl, '/shared', { headers: { 'x-tenant': tenant } });
        if (response.status === 200) passed++;
        else expect(response.status).toBe(429);
      }
      return passed;
    };
    expect(await admitted('acme', gateways)).toBe(100);

    const leaving = gateways.pop()!;
    leaving.signal('SIGTERM');
    expect(await leaving.exited()).toBe(0);
    for (const gateway of gateways) await eventually(`${gateway.name} to get a share of 2`, () => gateway.config(), (c) => c?.share.size === 2);
    expect(await admitted('initech', gateways)).toBe(100);
  });
});
