import type { GatewayRow, ProxyStatus } from '@portolan/api';
import { describe, expect, it } from 'vitest';
import { countOutcomes, gatewayProgress } from './rollout';

const POLICY = 'RateLimitPolicy/default/checkout-limits';

function proxy(gateway: string, overrides: Partial<ProxyStatus> = {}): ProxyStatus {
  return {
    gateway,
    namespace: 'default',
    zone: 'zone-a',
    pool: 'edge',
    phase: 'Healthy',
    sync: 'Synced',
    stale: false,
    transport: 'websocket',
    desiredVersion: 'v',
    desiredRevision: 50,
    appliedRevision: 50,
    ...overrides,
  };
}

function row(name: string, overrides: Partial<GatewayRow> = {}): GatewayRow {
  return {
    id: name,
    name,
    namespace: 'default',
    zone: 'zone-b',
    pool: 'edge',
    address: '127.0.0.1:1',
    version: '1',
    phase: 'Healthy',
    lastHeartbeat: '2026-05-01T12:00:00Z',
    synced: true,
    transport: 'websocket',
    requestsPerSecond: null,
    serverErrorPercent: null,
    p99Ms: null,
    openBreakers: 0,
    ejectedEndpoints: 0,
    ...overrides,
  };
}

describe('gatewayProgress', () => {
  it('is ACKed at or after the revision, pending before', () => {
    const progress = gatewayProgress(['a', 'b'], 50, POLICY, [proxy('a', { appliedRevision: 50 }), proxy('b', { appliedRevision: 49, sync: 'Stale' })], null);
    expect(progress.map((gateway) => [gateway.name, gateway.outcome])).toEqual([
      ['a', 'acked'],
      ['b', 'pending'],
    ]);
  });

  it('takes the newer of proxy-status and the live row', () => {
    const [gateway] = gatewayProgress(['a'], 50, POLICY, [proxy('a', { appliedRevision: 49, sync: 'Stale' })], [row('a', { appliedRevision: 51 })]);
    expect(gateway).toMatchObject({ outcome: 'acked', appliedRevision: 51, zone: 'zone-a' });
  });

  it('is NACKed with the reason naming this policy', () => {
    const [gateway] = gatewayProgress(
      ['a'],
      50,
      POLICY,
      [
        proxy('a', {
          sync: 'Rejected',
          appliedRevision: 49,
          lastNack: {
            version: 'v',
            revision: 50,
            time: '2026-05-01T12:00:00Z',
            errors: [
              { resource: 'TimeoutPolicy/default/other', message: 'not ours' },
              { resource: POLICY, field: 'limits[0]', message: 'bucket too large' },
            ],
          },
        }),
      ],
      null,
    );
    expect(gateway).toMatchObject({ outcome: 'nacked', reason: 'limits[0]: bucket too large' });
  });

  it('does not blame this policy for another policy’s NACK or for an older one', () => {
    const otherPolicy = proxy('a', {
      sync: 'Rejected',
      appliedRevision: 49,
      lastNack: { version: 'v', revision: 50, time: 't', errors: [{ resource: 'TimeoutPolicy/default/other', message: 'not ours' }] },
    });
    const older = proxy('b', { sync: 'Rejected', appliedRevision: 49, lastNack: { version: 'v', revision: 40, time: 't', errors: [] } });
    expect(gatewayProgress(['a', 'b'], 50, POLICY, [otherPolicy, older], null).map((gateway) => gateway.outcome)).toEqual(['pending', 'pending']);
  });

  it('uses the live row’s NACK before proxy-status has it, and marks disconnected gateways', () => {
    const progress = gatewayProgress(['a', 'b', 'c'], 50, POLICY, [proxy('c', { sync: 'Disconnected', appliedRevision: 10 })], [
      row('a', { synced: false, nack: 'limits: invalid', appliedRevision: 49 }),
      row('b', { transport: 'none', appliedRevision: 49 }),
    ]);
    expect(progress.map((gateway) => [gateway.outcome, gateway.reason])).toEqual([
      ['nacked', 'limits: invalid'],
      ['disconnected', undefined],
      ['disconnected', undefined],
    ]);
    expect(countOutcomes(progress)).toEqual({ acked: 0, nacked: 1, pending: 0, disconnected: 2 });
  });

  it('is pending when nothing is known of the gateway yet', () => {
    expect(gatewayProgress(['x'], 50, POLICY, undefined, null)).toEqual([{ name: 'x', zone: '', outcome: 'pending', appliedRevision: undefined }]);
  });
});
