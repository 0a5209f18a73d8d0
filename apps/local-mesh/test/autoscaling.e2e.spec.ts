/**
 * Acceptance: a latency step at the upstream raises the desired gateway count within the metric's
 * window plus one evaluation interval; the Local scaler starts real gateway processes that
 * register and take traffic; when latency falls, the count goes down only after the scale-down
 * stabilization window, and the removed gateways drain without a failed request. Every decision
 * is an event (GET /v1/events), in the policy's status and in the control plane's metrics.
 *
 * Traffic comes from a load generator that follows the registry like a load balancer would.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryLoad } from './support/load.js';
import { eventually, REPO_ROOT, route, service, TestMesh, type ControlPlane } from './support/mesh.js';

const INTERVAL_MS = 1_000;
const WINDOW = '10s';
const WINDOW_MS = 10_000;
const SCALE_DOWN_STABILIZATION_MS = 15_000;
const TARGET_MS = 150;

let mesh: TestMesh;
let controlPlane: ControlPlane;
let load: RegistryLoad;
let upstreamDelayMs = 2;

const autoscalePolicy = {
  kind: 'AutoscalePolicy',
  metadata: { name: 'edge-zone-a' },
  spec: {
    target: { pool: 'edge', zone: 'zone-a' },
    scaler: { type: 'Local' },
    metric: { latency: { statistic: 'P99', target: `${TARGET_MS}ms` }, window: WINDOW },
    minReplicas: 2,
    maxReplicas: 4,
    behavior: {
      scaleUp: { stabilizationWindow: '0s', policies: [{ type: 'Pods', value: 2, period: '5s' }] },
      scaleDown: { stabilizationWindow: `${SCALE_DOWN_STABILIZATION_MS / 1000}s`, policies: [{ type: 'Pods', value: 2, period: '5s' }] },
    },
  },
};

async function events(reason?: string): Promise<any[]> {
  const answer = await controlPlane.call('GET', `/v1/events?kind=AutoscalePolicy&name=edge-zone-a${reason ? `&reason=${reason}` : ''}`);
  expect(answer.status).toBe(200);
  return answer.body.items;
}

async function status(): Promise<any> {
  return (await controlPlane.get('AutoscalePolicy', 'edge-zone-a')).status;
}

beforeAll(async () => {
  mesh = await TestMesh.start('portolan-autoscaling-', {
    controlPlaneEnv: {
      PORTOLAN_OPS_PORT: '0',
      PORTOLAN_AUTOSCALE_INTERVAL: `${INTERVAL_MS}ms`,
      PORTOLAN_HEARTBEAT_INTERVAL: '1s',
      PORTOLAN_NODE_TTL: '5s',
      PORTOLAN_LOCAL_SCALER_GATEWAY: join(REPO_ROOT, 'apps/gateway/dist/main.js'),
      PORTOLAN_LOCAL_SCALER_GATEWAY_ARGS: '--propagation-wait 5s --drain-timeout 10s',
    },
    upstreams: ['shop'],
    gateways: [
      { name: 'edge-a-1', zone: 'zone-a' },
      { name: 'edge-a-2', zone: 'zone-a' },
    ],
    configure: async ({ controlPlane, upstreams }) => {
      upstreams.shop.respond = () => ({ status: 200, delayMs: upstreamDelayMs });
      await controlPlane.apply(service('shop', [{ port: upstreams.shop.port, zone: 'zone-a' }]));
      await controlPlane.apply(route('shop', '/shop'));
    },
  });
  ({ controlPlane } = mesh);
  load = new RegistryLoad(controlPlane, { path: '/shop', requestsPerSecond: 40, pool: 'edge', zone: 'zone-a' });
  await load.start();
  await controlPlane.apply(autoscalePolicy);
});

afterAll(async () => {
  await load?.stop();
  await mesh?.stop();
});

describe('autoscaling a gateway pool on latency with the Local scaler', () => {
  it('holds the minimum while latency is under target, and says why in status', async () => {
    const steady = await eventually('the first evaluations with a reading', status, (s) => s?.metric?.value !== null && s?.metric?.value !== undefined && s.currentReplicas === 2, 30_000);
    expect(steady.desiredReplicas).toBe(2);
    expect(steady.metric).toMatchObject({ unit: 'ms', source: 'Heartbeats', target: TARGET_MS });
    expect(steady.metric.value).toBeLessThan(TARGET_MS);
    expect(steady.conditions.find((c: any) => c.type === 'ScalingActive')).toMatchObject({ status: 'True', reason: 'ValidMetricFound' });
    expect(await events('ScaledUp')).toEqual([]);
  });

  it('scales up after a latency step, and the new gateways register and take traffic', async () => {
    const stepAt = Date.now();
    upstreamDelayMs = 400;
    const [scaledUp] = await eventually('a ScaledUp event', () => events('ScaledUp'), (items) => items.length > 0, WINDOW_MS + INTERVAL_MS + 30_000);
    const reactionMs = Date.parse(scaledUp.time) - stepAt;
    process.stdout.write(`autoscale reaction: latency step -> ScaledUp in ${reactionMs} ms (window ${WINDOW_MS} ms + interval ${INTERVAL_MS} ms)\n`);
    // Event times are whole seconds; the bound is the acceptance's, with a second for that rounding and one heartbeat.
    expect(reactionMs).toBeLessThanOrEqual(WINDOW_MS + INTERVAL_MS + 2_000);
    expect(scaledUp.details).toMatchObject({ currentReplicas: 2, metric: { unit: 'ms', target: TARGET_MS, source: 'Heartbeats' }, scaler: { type: 'Local', result: 'ok' } });
    expect(scaledUp.details.metric.value).toBeGreaterThan(TARGET_MS);
    expect(scaledUp.details.desiredReplicas).toBeGreaterThan(2);
    expect(scaledUp.details.scaler.started.length).toBe(scaledUp.details.desiredReplicas - 2);

    const started: string[] = scaledUp.details.scaler.started;
    await eventually('the started gateways to take traffic', () => started.map((name) => load.servedBy(name)), (served) => served.every((count) => count > 0), 30_000);
    const nodes = (await controlPlane.call('GET', '/apis/mesh.portolan.dev/v1alpha1/namespaces/default/gatewaynodes')).body.items as any[];
    for (const name of started) expect(nodes.find((node) => node.metadata.name === name)).toMatchObject({ spec: { pool: 'edge', zone: 'zone-a' }, status: { phase: 'Healthy' } });

    const current = await status();
    expect(current.recentEvents[0]).toMatchObject({ reason: 'ScaledUp', currentReplicas: 2 });
    expect(current.lastScaleTime).toBeDefined();
    const metrics = await (await fetch(`${controlPlane.opsUrl}/metrics`)).text();
    expect(metrics).toMatch(/portolan_autoscaler_scalings_total\{policy="default\/edge-zone-a",direction="up",result="ok"\} [1-9]/);
    expect(metrics).toMatch(/portolan_autoscaler_desired_replicas\{policy="default\/edge-zone-a"\} [3-4]/);
  });

  it('scales down only after the stabilization window once latency falls, and the removed gateways drain without failed requests', async () => {
    await eventually('the scaled-up count to be reached', status, (s) => s?.currentReplicas > 2, 30_000);
    const fallAt = Date.now();
    upstreamDelayMs = 2;
    const [scaledDown] = await eventually('a ScaledDown event', () => events('ScaledDown'), (items) => items.length > 0, WINDOW_MS + SCALE_DOWN_STABILIZATION_MS + 40_000);
    const afterMs = Date.parse(scaledDown.time) - fallAt;
    process.stdout.write(`autoscale down: latency fall -> ScaledDown in ${afterMs} ms (stabilization ${SCALE_DOWN_STABILIZATION_MS} ms)\n`);
    // The high recommendations of the step stay in the 15 s window: nothing may come down before it passed.
    expect(afterMs).toBeGreaterThanOrEqual(SCALE_DOWN_STABILIZATION_MS - 1_000);
    const stopping: string[] = scaledDown.details.scaler.stopping;
    expect(stopping.length).toBeGreaterThan(0);
    await eventually('the stopped gateways to leave the registry', async () => (await controlPlane.call('GET', '/apis/mesh.portolan.dev/v1alpha1/namespaces/default/gatewaynodes')).body.items.map((node: any) => node.metadata.name), (names: string[]) => stopping.every((name) => !names.includes(name)), 40_000);
    await eventually('the count to be back at the minimum', status, (s) => s?.currentReplicas === 2 && s.desiredReplicas === 2, 40_000);
    const failures = load.failures();
    process.stdout.write(`autoscaling run: ${load.outcomes.length} requests, ${failures.length} failed\n`);
    expect(failures).toEqual([]);
    expect(load.gateways().sort()).toEqual(['edge-a-1', 'edge-a-2']);
  });
});
