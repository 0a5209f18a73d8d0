import type { FailoverPolicy, Lifecycle, Service } from '@portolan/api';
import type { HeartbeatStats } from '@portolan/agent-client';
import { describe, expect, it } from 'vitest';
import { PoolTrafficWindow } from '../autoscaling/pool-traffic-window';
import { heartbeatStats, latencyHistogram } from '../autoscaling/testing/heartbeat-stats';
import type { RegisteredGateway, RegisteredInstance, RegisteredNode } from '../registry/node-registry';
import { zoneSignals } from './zone-signals';

const NOW = Date.parse('2026-12-02T10:00:00Z'); // a multiple of the traffic window's 5 s slots

function policy(targetRef: FailoverPolicy['spec']['targetRef'], zones = ['zone-a', 'zone-b'], namespace = 'shop'): FailoverPolicy {
  return {
    apiVersion: 'mesh.portolan.dev/v1alpha1',
    kind: 'FailoverPolicy',
    metadata: { name: 'failover', namespace },
    spec: { targetRef, zones: zones.map((name, priority) => ({ name, priority })) },
  };
}

function service(name: string, endpoints: Array<{ address: string; zone?: string }> = [], namespace = 'shop'): Service {
  return {
    apiVersion: 'mesh.portolan.dev/v1alpha1',
    kind: 'Service',
    metadata: { name, namespace },
    spec: { ports: [{ port: 8080 }], ...(endpoints.length ? { endpoints } : {}) },
  };
}

const base = (name: string, namespace: string, phase: Lifecycle) => ({
  id: `${namespace}/${name}`,
  namespace,
  name,
  registeredAt: NOW - 60_000,
  lastHeartbeat: NOW - 1_000,
  draining: phase === 'Draining',
  degradedBecause: phase === 'Degraded' ? ['open breaker'] : [],
  lifecycle: { phase, remove: false },
});

function instance(name: string, serviceName: string, zone: string | undefined, phase: Lifecycle = 'Healthy', namespace = 'shop'): RegisteredInstance {
  return { ...base(name, namespace, phase), role: 'instance', spec: { service: serviceName, address: `10.0.0.${name.length}`, port: 8080, ...(zone ? { zone } : {}) } };
}

function gateway(name: string, zone: string, phase: Lifecycle = 'Healthy'): RegisteredGateway {
  return { ...base(name, 'portolan', phase), role: 'gateway', spec: { zone, pool: 'edge', address: `${name}:8443`, version: '1.0.0' } };
}

/**
 * One heartbeat's counters: `answers` answered by the gateway itself (all 2xx, 5 ms), and per
 * endpoint zone in `tries` the tries it sent there, `[zone, tries, failed]`, every one in the
 * 25-50 ms bucket.
 */
function stats(answers: number, ...tries: Array<[zone: string, requests: number, failed?: number]>): HeartbeatStats {
  return heartbeatStats({
    requests: answers,
    latencyHistogram: latencyHistogram([[5, answers]]),
    upstreamZones: tries.map(([zone, requests, failed = 0]) => ({ zone, requests, serverErrors: failed, latencyHistogram: latencyHistogram([[40, requests]]) })),
  });
}

const signals = (target: FailoverPolicy, services: Service[], nodes: RegisteredNode[], traffic = new PoolTrafficWindow(), forMs = 2_000) =>
  zoneSignals(target, services, nodes, traffic, forMs, NOW);

const byZone = (list: ReturnType<typeof zoneSignals>) => Object.fromEntries(list.map((reading) => [reading.zone, reading]));

describe('zoneSignals', () => {
  it('counts only the targeted Service\'s instances for a Service target, every service\'s for a Mesh target', () => {
    const services = [service('checkout'), service('search')];
    const nodes = [
      instance('checkout-a1', 'checkout', 'zone-a'),
      instance('checkout-a2', 'checkout', 'zone-a'),
      instance('checkout-b1', 'checkout', 'zone-b'),
      instance('search-a1', 'search', 'zone-a'),
      instance('search-b1', 'search', 'zone-b'),
      instance('search-b2', 'search', 'zone-b', 'Offline'),
      // Same service name in another namespace: not the policy's Service.
      instance('checkout-other-ns', 'checkout', 'zone-b', 'Healthy', 'other'),
    ];

    const forService = byZone(signals(policy({ kind: 'Service', name: 'checkout' }), services, nodes));
    expect(forService['zone-a'].endpoints).toEqual({ total: 2, healthy: 2 });
    expect(forService['zone-b'].endpoints).toEqual({ total: 1, healthy: 1 });

    const forMesh = byZone(signals(policy({ kind: 'Mesh' }), services, nodes));
    expect(forMesh['zone-a'].endpoints).toEqual({ total: 3, healthy: 3 });
    expect(forMesh['zone-b'].endpoints).toEqual({ total: 4, healthy: 3 });
  });

  it('counts a targeted Service\'s static endpoints as healthy, and ignores other services\' and zoneless ones', () => {
    const services = [
      service('checkout', [{ address: '10.1.0.1', zone: 'zone-a' }, { address: '10.1.0.2', zone: 'zone-b' }, { address: '10.1.0.3', zone: 'zone-b' }, { address: '10.1.0.4' }]),
      service('search', [{ address: '10.2.0.1', zone: 'zone-a' }]),
    ];
    const result = byZone(signals(policy({ kind: 'Service', name: 'checkout' }), services, []));
    expect(result['zone-a'].endpoints).toEqual({ total: 1, healthy: 1 });
    expect(result['zone-b'].endpoints).toEqual({ total: 2, healthy: 2 });
    expect(Object.keys(result)).toEqual(['zone-a', 'zone-b']);
  });

  it('counts Offline, Draining and Degraded instances in the total but not as healthy', () => {
    const nodes = [
      instance('a-healthy', 'checkout', 'zone-a', 'Healthy'),
      instance('a-offline', 'checkout', 'zone-a', 'Offline'),
      instance('a-draining', 'checkout', 'zone-a', 'Draining'),
      instance('a-degraded', 'checkout', 'zone-a', 'Degraded'),
    ];
    const result = byZone(signals(policy({ kind: 'Service', name: 'checkout' }), [service('checkout')], nodes));
    expect(result['zone-a'].endpoints).toEqual({ total: 4, healthy: 1 });
  });

  it('ignores instances without a zone', () => {
    const nodes = [instance('zoneless-1', 'checkout', undefined), instance('zoneless-2', 'checkout', undefined, 'Offline'), instance('a1', 'checkout', 'zone-a')];
    const result = signals(policy({ kind: 'Mesh' }), [service('checkout')], nodes);
    expect(result.map((reading) => [reading.zone, reading.endpoints])).toEqual([
      ['zone-a', { total: 1, healthy: 1 }],
      ['zone-b', { total: 0, healthy: 0 }],
    ]);
  });

  it('counts gateways per zone, routable only when Healthy or Degraded, whatever the policy targets', () => {
    const nodes = [
      gateway('edge-a1', 'zone-a'),
      gateway('edge-a2', 'zone-a', 'Degraded'),
      gateway('edge-a3', 'zone-a', 'Draining'),
      gateway('edge-b1', 'zone-b', 'Offline'),
      gateway('edge-c1', 'zone-c'),
    ];
    const result = byZone(signals(policy({ kind: 'Service', name: 'checkout' }), [service('checkout')], nodes));
    expect(result['zone-a'].gateways).toEqual({ total: 3, routable: 2 });
    expect(result['zone-b'].gateways).toEqual({ total: 1, routable: 0 });
    // A zone the policy does not list shows up when something is in it.
    expect(result['zone-c'].gateways).toEqual({ total: 1, routable: 1 });
    expect(result['zone-c'].endpoints).toEqual({ total: 0, healthy: 0 });
  });

  it('lists every zone of the policy, sorted, even with nothing in it', () => {
    const result = signals(policy({ kind: 'Mesh' }, ['zone-c', 'zone-a', 'zone-b']), [], [instance('d1', 'checkout', 'zone-d')]);
    expect(result).toEqual([
      { zone: 'zone-a', endpoints: { total: 0, healthy: 0 }, gateways: { total: 0, routable: 0 }, requests: 0, errorRatePercent: null, p99LatencyMs: null },
      { zone: 'zone-b', endpoints: { total: 0, healthy: 0 }, gateways: { total: 0, routable: 0 }, requests: 0, errorRatePercent: null, p99LatencyMs: null },
      { zone: 'zone-c', endpoints: { total: 0, healthy: 0 }, gateways: { total: 0, routable: 0 }, requests: 0, errorRatePercent: null, p99LatencyMs: null },
      { zone: 'zone-d', endpoints: { total: 1, healthy: 1 }, gateways: { total: 0, routable: 0 }, requests: 0, errorRatePercent: null, p99LatencyMs: null },
    ]);
  });

  it('takes error rate and p99 from the tries every gateway, of any zone and pool, sent to the zone\'s endpoints, and null without tries', () => {
    const traffic = new PoolTrafficWindow();
    traffic.add({ name: 'edge-a1', pool: 'edge', zone: 'zone-a' }, stats(300, ['zone-a', 300, 30]), NOW - 3_000);
    traffic.add({ name: 'internal-b1', pool: 'internal', zone: 'zone-b' }, stats(100, ['zone-a', 100, 10]), NOW - 2_000);
    // zone-b's gateways answered plenty, but no try went to zone-b's endpoints.
    traffic.add({ name: 'edge-b1', pool: 'edge', zone: 'zone-b' }, stats(500), NOW - 2_000);
    const result = byZone(signals(policy({ kind: 'Mesh' }), [], [], traffic));
    expect(result['zone-a'].requests).toBe(400);
    expect(result['zone-a'].errorRatePercent).toBe(10);
    // Every try in the 25-50 ms bucket: p99 interpolates to 25 + 25 * 0.99.
    expect(result['zone-a'].p99LatencyMs).toBeCloseTo(49.75, 6);
    expect(result['zone-b']).toMatchObject({ requests: 0, errorRatePercent: null, p99LatencyMs: null });
  });

  it('judges a failed-over zone by no traffic at all, not by its gateways that now send to other zones (no flapping on their health)', () => {
    const traffic = new PoolTrafficWindow();
    // zone-a failed over: its gateways answer everything well, with zone-b's and zone-c's endpoints.
    traffic.add({ name: 'edge-a1', pool: 'edge', zone: 'zone-a' }, stats(200, ['zone-b', 100], ['zone-c', 100]), NOW - 2_000);
    traffic.add({ name: 'edge-a2', pool: 'edge', zone: 'zone-a' }, stats(200, ['zone-b', 100, 10], ['zone-c', 100]), NOW - 2_000);
    traffic.add({ name: 'edge-b1', pool: 'edge', zone: 'zone-b' }, stats(100, ['zone-b', 100, 10]), NOW - 2_000);
    const result = byZone(signals(policy({ kind: 'Mesh' }, ['zone-a', 'zone-b', 'zone-c']), [], [], traffic));
    expect(result['zone-a']).toMatchObject({ requests: 0, errorRatePercent: null, p99LatencyMs: null });
    // zone-b's errors are zone-b's, whichever gateway met them.
    expect(result['zone-b']).toMatchObject({ requests: 300, errorRatePercent: 20 / 3 });
    expect(result['zone-c']).toMatchObject({ requests: 200, errorRatePercent: 0 });
  });

  it('measures over `for`, but never over less than 5 s', () => {
    const traffic = new PoolTrafficWindow();
    // In the 5 s slot that ends 5 s before now, and in the one before it (ends 10 s before now).
    traffic.add({ name: 'edge-a1', pool: 'edge', zone: 'zone-a' }, stats(100, ['zone-a', 100, 50]), NOW - 8_000);
    traffic.add({ name: 'edge-a1', pool: 'edge', zone: 'zone-a' }, stats(100, ['zone-a', 100]), NOW - 12_000);
    // In the current slot.
    traffic.add({ name: 'edge-a1', pool: 'edge', zone: 'zone-a' }, stats(100, ['zone-a', 100]), NOW - 1_000);
    const target = policy({ kind: 'Mesh' });

    const over = (forMs: number) => byZone(signals(target, [], [], traffic, forMs))['zone-a'];
    // for 0s and 2s: a 5 s window, only the current slot.
    expect(over(0)).toMatchObject({ requests: 100, errorRatePercent: 0 });
    expect(over(2_000)).toMatchObject({ requests: 100, errorRatePercent: 0 });
    // for 10s: the slot 5-10 s ago too, not the one that ended 10 s ago.
    expect(over(10_000)).toMatchObject({ requests: 200, errorRatePercent: 25 });
    // for 15s: all three.
    expect(over(15_000).requests).toBe(300);
    expect(over(15_000).errorRatePercent).toBeCloseTo(50 / 3, 9);
  });

  it('has no error rate or latency from gateways that report no tries per zone (older than the field)', () => {
    const traffic = new PoolTrafficWindow();
    const { upstreamZones: _tries, ...old } = stats(50);
    traffic.add({ name: 'edge-a1', pool: 'edge', zone: 'zone-a' }, { ...old, responses: { '2xx': 40, '3xx': 0, '4xx': 0, '5xx': 10 } }, NOW - 1_000);
    const result = byZone(signals(policy({ kind: 'Mesh' }), [], [], traffic));
    expect(result['zone-a']).toMatchObject({ requests: 0, errorRatePercent: null, p99LatencyMs: null });
  });
});
