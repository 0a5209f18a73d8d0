import { describe, expect, it } from 'vitest';
import { buildResolutionIndex, GROUP_VERSION, type EffectiveEndpoint, type Resource } from '@portolan/api';
import { orderByLocality, serviceEndpoints, zoneRulesFromIndex, zoneRulesWithoutRoute, type BackendZoneRules } from './endpoint-locality';
import { failoverPolicy, instanceNode, service, zoneObject } from './testing/mesh-objects';

const endpoint = (address: string, zone: string | undefined, weight = 1): EffectiveEndpoint => ({ address, port: 80, ...(zone ? { zone } : {}), weight });
const ENDPOINTS = [endpoint('10.0.3.1', 'zone-c'), endpoint('10.0.1.2', 'zone-a'), endpoint('10.0.2.1', 'zone-b'), endpoint('10.0.1.1', 'zone-a')];
const failover = (zones: Record<string, number>, failedOver: string[] = []): BackendZoneRules['failover'] => ({
  policy: { kind: 'FailoverPolicy', namespace: 'default', name: 'orders' },
  zones: Object.entries(zones).map(([zone, priority]) => ({ zone, priority })),
  failedOver,
});
const summary = (endpoints: ReturnType<typeof orderByLocality>) => endpoints.map((e) => `${e.address} ${e.zone} w${e.weight} p${e.priority}`);

describe('orderByLocality', () => {
  it('puts the client zone first, then the spill zones by failover priority, one priority each', () => {
    expect(summary(orderByLocality('zone-a', ENDPOINTS, { failover: failover({ 'zone-a': 0, 'zone-c': 1, 'zone-b': 2 }) }))).toEqual([
      '10.0.1.1 zone-a w100 p0',
      '10.0.1.2 zone-a w100 p0',
      '10.0.3.1 zone-c w0 p1',
      '10.0.2.1 zone-b w0 p2',
    ]);
  });

  it('leaves a drained zone out: its clients go to the next zones by priority', () => {
    expect(summary(orderByLocality('zone-a', ENDPOINTS, { failover: failover({ 'zone-a': 0, 'zone-b': 1, 'zone-c': 1 }), drainedZones: ['zone-a'] }))).toEqual([
      '10.0.2.1 zone-b w50 p0',
      '10.0.3.1 zone-c w50 p0',
    ]);
  });

  it('splits by capacity among zones of the same priority, heaviest zone first', () => {
    const endpoints = [endpoint('10.0.2.1', 'zone-b', 1), endpoint('10.0.3.1', 'zone-c', 3)];
    expect(summary(orderByLocality('zone-a', endpoints, { drainedZones: ['zone-a'] }))).toEqual(['10.0.3.1 zone-c w75 p0', '10.0.2.1 zone-b w25 p0']);
  });

  it('uses a failed-over zone only after every healthy one', () => {
    expect(summary(orderByLocality('zone-a', ENDPOINTS, { failover: failover({ 'zone-a': 0, 'zone-b': 1, 'zone-c': 2 }, ['zone-a']) }))).toEqual([
      '10.0.2.1 zone-b w100 p0',
      '10.0.3.1 zone-c w0 p1',
      '10.0.1.1 zone-a w0 p2',
      '10.0.1.2 zone-a w0 p2',
    ]);
  });

  it('without failover or drained zones, as gateways do: the own zone, then every other zone at once', () => {
    expect(summary(orderByLocality('zone-b', ENDPOINTS, {}))).toEqual(['10.0.2.1 zone-b w100 p0', '10.0.1.1 zone-a w0 p1', '10.0.1.2 zone-a w0 p1', '10.0.3.1 zone-c w0 p1']);
  });

  it('without a client zone and without rules, every zone at once, by capacity', () => {
    expect(summary(orderByLocality(undefined, ENDPOINTS, {}))).toEqual(['10.0.1.1 zone-a w50 p0', '10.0.1.2 zone-a w50 p0', '10.0.2.1 zone-b w25 p0', '10.0.3.1 zone-c w25 p0']);
  });

  it('does not take a client without a zone for one in the zone of zoneless endpoints', () => {
    const endpoints = [endpoint('10.0.9.1', undefined), endpoint('10.0.1.1', 'zone-a')];
    expect(summary(orderByLocality(undefined, endpoints, { failover: failover({ 'zone-a': 0 }) }))).toEqual(['10.0.1.1 zone-a w100 p0', '10.0.9.1  w0 p1']);
  });

  it('answers no endpoint for a service without any', () => {
    expect(orderByLocality('zone-a', [], { drainedZones: ['zone-b'] })).toEqual([]);
  });
});

describe('zone rules of a service', () => {
  const orders = service('orders', { endpoints: [{ address: '10.0.1.1', zone: 'zone-a' }] });
  const policies = [
    failoverPolicy('everything', { kind: 'Mesh' }, { 'zone-b': 0 }),
    failoverPolicy('orders', { kind: 'Service', name: 'orders' }, { 'zone-a': 0, 'zone-b': 1 }, { zones: [{ zone: 'zone-b', state: 'FailedOver', since: '2026-02-01T10:00:00Z', reason: 'test' }] }),
  ];
  const zones = [zoneObject('zone-c', true, 'maintenance'), zoneObject('zone-d', false)];

  it('come from the route that sends to the service, and are the same without one', () => {
    const route: Resource = { apiVersion: GROUP_VERSION, kind: 'Route', metadata: { name: 'shop', namespace: 'default' }, spec: { backendRef: { name: 'orders', port: 80 } } };
    const index = buildResolutionIndex([...policies, ...zones, orders, route], 7);
    const fromRoute = zoneRulesFromIndex(index, { namespace: 'default', name: 'orders' });
    expect(fromRoute).toEqual({
      failover: { policy: { kind: 'FailoverPolicy', namespace: 'default', name: 'orders' }, zones: [{ zone: 'zone-a', priority: 0 }, { zone: 'zone-b', priority: 1 }], failedOver: ['zone-b'] },
      drainedZones: ['zone-c'],
    });
    expect(zoneRulesWithoutRoute(orders, [...policies, ...zones])).toEqual(fromRoute);
  });

  it('are absent from the index when no route sends to the service', () => {
    expect(zoneRulesFromIndex(buildResolutionIndex([...policies, orders], 1), { namespace: 'default', name: 'orders' })).toBeUndefined();
  });

  it('take the Mesh FailoverPolicy for a service without its own, and nothing when there is none', () => {
    expect(zoneRulesWithoutRoute(service('cart'), policies).failover?.policy.name).toBe('everything');
    expect(zoneRulesWithoutRoute(service('cart'), [])).toEqual({ failover: undefined, drainedZones: undefined });
  });
});

describe('serviceEndpoints', () => {
  it('joins the static endpoints (service port by default) and the registered instances that take traffic', () => {
    const cart = service('cart', { ports: [{ port: 8443 }, { port: 80 }], endpoints: [{ address: '10.0.1.1', zone: 'zone-a' }, { address: '10.0.1.2', port: 9000, weight: 3 }] });
    const nodes = [
      instanceNode('cart-1', 'cart', '10.0.2.1', 'zone-b'),
      instanceNode('cart-2', 'cart', '10.0.2.2', 'zone-b', 'Degraded'),
      instanceNode('cart-3', 'cart', '10.0.2.3', 'zone-b', 'Draining'),
      instanceNode('orders-1', 'orders', '10.0.3.1', 'zone-b'),
      instanceNode('cart-4', 'cart', '10.0.2.4', undefined, 'Healthy', 2),
    ];
    expect(serviceEndpoints(cart, nodes)).toEqual([
      { address: '10.0.1.1', port: 8443, zone: 'zone-a', weight: 1 },
      { address: '10.0.1.2', port: 9000, weight: 3 },
      { address: '10.0.2.1', port: 8080, zone: 'zone-b', weight: 1 },
      { address: '10.0.2.4', port: 8080, weight: 2 },
    ]);
  });
});
