import type { GatewayRolloutEntry, GatewayRow } from '@portolan/api';
import { describe, expect, it } from 'vitest';
import { gatewayProgress } from './rollout';

function row(name: string, overrides: Partial<GatewayRow> = {}): GatewayRow {
  return {
    id: name, name, namespace: 'default', zone: 'zone-b', pool: 'edge', address: '127.0.0.1:1', version: '1', phase: 'Healthy', lastHeartbeat: '2026-05-01T12:00:00Z',
    synced: true, transport: 'websocket', requestsPerSecond: null, serverErrorPercent: null, p99Ms: null, openBreakers: 0, ejectedEndpoints: 0, ...overrides,
  };
}
const entry = (gateway: string, outcome: GatewayRolloutEntry['outcome'], extra: Partial<GatewayRolloutEntry> = {}): GatewayRolloutEntry => ({ gateway, zone: 'zone-a', outcome, ...extra });

describe('gatewayProgress', () => {
  it('keeps the control plane judgement of ACKed and NACKed, with the NACK reason from what was rejected', () => {
    const progress = gatewayProgress(
      [
        entry('a', 'acked', { appliedRevision: 50 }),
        entry('b', 'nacked', { appliedRevision: 49, rejection: { version: 'v', errors: [{ resource: 'RateLimitPolicy/default/x', field: 'spec.limits[0].interval', message: 'too short' }] } }),
        entry('c', 'nacked', { rejection: { version: 'v', errors: [] } }),
      ],
      null,
    );
    expect(progress).toEqual([
      { name: 'a', zone: 'zone-a', outcome: 'acked', appliedRevision: 50 },
      { name: 'b', zone: 'zone-a', outcome: 'nacked', appliedRevision: 49, reason: 'spec.limits[0].interval: too short' },
      { name: 'c', zone: 'zone-a', outcome: 'nacked', reason: 'rejected without a reason' },
    ]);
  });

  it('shows a pending gateway without a connection, or Offline, as disconnected (the change cannot reach it now)', () => {
    const progress = gatewayProgress([entry('a', 'pending'), entry('b', 'pending'), entry('c', 'pending'), entry('d', 'pending')], [
      row('a', { transport: 'none' }),
      row('b', { phase: 'Offline' }),
      row('c'),
    ]);
    expect(progress.map((gateway) => gateway.outcome)).toEqual(['disconnected', 'disconnected', 'pending', 'pending']);
  });
});
