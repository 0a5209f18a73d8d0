import { describe, expect, it } from 'vitest';
import { summarizeZones } from './zone-listing';
import { failoverPolicy, gatewayNode, instanceNode, service, zoneObject } from './testing/mesh-objects';

describe('summarizeZones', () => {
  it('lists every zone named anywhere, sorted, with gateways, endpoints, drain and failover state', () => {
    const zones = summarizeZones({
      nodes: [
        gatewayNode('gw-a1', 'zone-a'),
        gatewayNode('gw-a2', 'zone-a', 'Offline'),
        gatewayNode('gw-b1', 'zone-b', 'Degraded'),
        instanceNode('orders-a1', 'orders', '10.0.1.1', 'zone-a'),
        instanceNode('orders-a2', 'orders', '10.0.1.2', 'zone-a', 'Degraded'),
        instanceNode('orders-x', 'orders', '10.0.9.9', undefined),
      ],
      services: [service('cart', { endpoints: [{ address: '10.0.2.1', zone: 'zone-b' }, { address: '10.0.3.1', zone: 'zone-c' }, { address: '10.0.9.1' }] })],
      zoneObjects: [zoneObject('zone-b', true, 'AZ maintenance'), zoneObject('zone-e', false)],
      failoverPolicies: [
        failoverPolicy('mesh', { kind: 'Mesh' }, { 'zone-a': 0, 'zone-d': 1 }, { zones: [{ zone: 'zone-a', state: 'FailedOver', since: '2026-02-01T10:00:00Z', reason: '5xx 12% above 5%' }] }),
      ],
    });
    expect(zones.map((zone) => zone.zone)).toEqual(['zone-a', 'zone-b', 'zone-c', 'zone-d', 'zone-e']);
    expect(zones[0]).toEqual({
      zone: 'zone-a',
      drained: false,
      gateways: { total: 2, routable: 1 },
      endpoints: { total: 2, healthy: 1 },
      failover: [{ policy: 'default/mesh', state: 'FailedOver', since: '2026-02-01T10:00:00Z', reason: '5xx 12% above 5%' }],
    });
    expect(zones[1]).toMatchObject({ zone: 'zone-b', drained: true, reason: 'AZ maintenance', gateways: { total: 1, routable: 1 }, endpoints: { total: 1, healthy: 1 }, failover: [] });
    expect(zones[2]).toMatchObject({ zone: 'zone-c', gateways: { total: 0, routable: 0 }, endpoints: { total: 1, healthy: 1 } });
    expect(zones[3].failover).toEqual([{ policy: 'default/mesh', state: 'Healthy', since: '2026-01-01T00:00:00Z', reason: expect.stringContaining('no failover decision') }]);
    expect(zones[4]).toEqual({ zone: 'zone-e', drained: false, gateways: { total: 0, routable: 0 }, endpoints: { total: 0, healthy: 0 }, failover: [] });
  });

  it('takes a zone as drained by a Zone object of any namespace, with the default namespace giving the reason', () => {
    const [zone] = summarizeZones({
      nodes: [],
      services: [],
      zoneObjects: [zoneObject('zone-a', true, 'team drain', 'team'), zoneObject('zone-a', true, 'operator drain')],
      failoverPolicies: [],
    });
    expect(zone).toMatchObject({ zone: 'zone-a', drained: true, reason: 'operator drain' });
    const [other] = summarizeZones({ nodes: [], services: [], zoneObjects: [zoneObject('zone-a', false), zoneObject('zone-a', true, 'team drain', 'team')], failoverPolicies: [] });
    expect(other).toMatchObject({ drained: true, reason: 'team drain' });
  });

  it('shows no reason for a zone that is not drained', () => {
    const [zone] = summarizeZones({ nodes: [], services: [], zoneObjects: [zoneObject('zone-a', false, 'was drained once')], failoverPolicies: [] });
    expect(zone).not.toHaveProperty('reason');
  });
});
