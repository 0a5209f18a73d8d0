/**
 * Acceptance: a policy that opted into a guarded rollout, changed in a way that makes the gateways
 * answer 5xx, is rolled back automatically once the change has run for its watch window: the
 * previous spec is back in the store and at the gateway, a RolledBack event says why with the
 * numbers, and the policy is marked Degraded. A change that does no harm is verified instead.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryLoad } from './support/load.js';
import { eventually, route, service, TestMesh, type ControlPlane, type GatewayProcess } from './support/mesh.js';

const WINDOW_MS = 8_000;

let mesh: TestMesh;
let controlPlane: ControlPlane;
let gateway: GatewayProcess;
let load: RegistryLoad;

const timeouts = (requestTimeout: string) => ({
  kind: 'TimeoutPolicy',
  metadata: { name: 'shop-timeouts' },
  spec: {
    targetRef: { kind: 'Service', name: 'shop' },
    guardedRollout: { window: `${WINDOW_MS / 1000}s`, maxErrorRatePercent: 5 },
    requestTimeout,
  },
});

async function events(reason: string): Promise<any[]> {
  return (await controlPlane.call('GET', `/v1/events?kind=TimeoutPolicy&name=shop-timeouts&reason=${reason}`)).body.items;
}

beforeAll(async () => {
  mesh = await TestMesh.start('portolan-guarded-', {
    controlPlaneEnv: { PORTOLAN_HEARTBEAT_INTERVAL: '1s' },
    upstreams: ['shop'],
    gateways: [{ name: 'edge-1' }, { name: 'edge-2' }],
    configure: async ({ controlPlane: cp, upstreams }) => {
      upstreams.shop.respond = () => ({ status: 200, delayMs: 40 });
      await cp.apply(service('shop', [{ port: upstreams.shop.port, zone: 'zone-a' }]));
      await cp.apply(route('shop', '/shop'));
    },
  });
  ({ controlPlane } = mesh);
  gateway = mesh.gateways[0];
  load = new RegistryLoad(controlPlane, { path: '/shop', requestsPerSecond: 30 });
  await load.start();
});

afterAll(async () => {
  await load?.stop();
  await mesh?.stop();
});

describe('guarded rollout', () => {
  it('verifies a change that does no harm', async () => {
    const created = await controlPlane.apply(timeouts('5s'));
    expect(created.spec.requestTimeout).toBe('5s');
    const [verified] = await eventually('a RolloutVerified event', () => events('RolloutVerified'), (items) => items.length > 0, WINDOW_MS + 30_000);
    expect(verified.details.generation).toBe(1);
    expect(load.failures()).toEqual([]);
  });

  it('rolls back a change that makes the gateways answer 5xx, records why, and marks the policy Degraded', async () => {
    // 10 ms against an upstream that takes 40 ms: every request through the gateways times out (504).
    const changed = await controlPlane.apply(timeouts('10ms'));
    const changedAt = Date.now();
    await eventually('the gateway to run the bad timeout', () => gateway.config(), (c) => c?.routes?.[0]?.timeout?.config?.requestTimeout === '10ms');
    const [rolledBack] = await eventually('a RolledBack event', () => events('RolledBack'), (items) => items.length > 0, WINDOW_MS + 40_000);
    process.stdout.write(`guarded rollout: change -> rolled back after ${Date.parse(rolledBack.time) - changedAt} ms (window ${WINDOW_MS} ms): ${rolledBack.message}\n`);
    expect(rolledBack).toMatchObject({ type: 'Warning', source: 'rollout-guard', regarding: { kind: 'TimeoutPolicy', name: 'shop-timeouts' } });
    expect(rolledBack.details).toMatchObject({ generation: changed.metadata.generation, cause: 'error_rate', deleted: false });
    expect(rolledBack.details.window.errorRatePercent).toBeGreaterThan(5);
    expect(rolledBack.message).toMatch(/5xx/);

    const stored = await controlPlane.get('TimeoutPolicy', 'shop-timeouts');
    expect(stored.spec.requestTimeout).toBe('5s');
    expect(stored.status.conditions.find((c: any) => c.type === 'Degraded')).toMatchObject({ status: 'True', reason: 'RolledBack' });
    const history = (await controlPlane.call('GET', '/apis/mesh.portolan.dev/v1alpha1/namespaces/default/timeoutpolicies/shop-timeouts/history')).body;
    expect(JSON.stringify(history)).toContain('rollout-guard');

    await eventually('the gateway to run the previous timeout again', () => gateway.config(), (c) => c?.routes?.[0]?.timeout?.config?.requestTimeout === '5s');
    const recoveredAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(load.failures(recoveredAt + 500)).toEqual([]);
  });
});
