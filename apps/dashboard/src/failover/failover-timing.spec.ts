import { describe, expect, it } from 'vitest';
import type { MeshEvent } from '@portolan/api';
import { failoverTiming } from './failover-timing';

const event = (reason: string, details: Record<string, unknown>, regarding = { kind: 'FailoverPolicy', namespace: 'default', name: 'checkout' }): MeshEvent => ({
  id: '1', time: '2026-12-02T12:00:00Z', type: 'Normal', reason, regarding, source: 'x', message: 'm', details,
});

describe('failoverTiming', () => {
  it('reads detection → decision → traffic moved from a failover event', () => {
    expect(failoverTiming(event('FailedOver', { zone: 'zone-a', detectedAt: '2026-12-02T12:00:00.000Z', decidedAt: '2026-12-02T12:00:02.000Z', trafficMovedAt: '2026-12-02T12:00:02.250Z', pendingGateways: [] }))).toEqual({
      toTrafficMovedMs: 2250, toDecisionMs: 2000, zone: 'zone-a', pendingGateways: [],
    });
  });

  it('reads a drain: request → traffic moved, the zone from the event subject', () => {
    expect(failoverTiming(event('ZoneDrained', { requestedAt: '2026-12-02T12:00:00.000Z', trafficMovedAt: '2026-12-02T12:00:00.040Z', pending: [] }, { kind: 'Zone', namespace: 'default', name: 'zone-b' }))).toEqual({
      toTrafficMovedMs: 40, zone: 'zone-b', pendingGateways: [],
    });
  });

  it('says when traffic did not move, with the gateways still pending', () => {
    expect(failoverTiming(event('ZoneDrained', { requestedAt: '2026-12-02T12:00:00Z', trafficMovedAt: null, pending: ['edge-1', 7] }))).toMatchObject({ toTrafficMovedMs: null, pendingGateways: ['edge-1'] });
  });

  it('has nothing for events without times', () => {
    expect(failoverTiming(event('ScaledUp', { from: 1, to: 2 }))).toBeUndefined();
    expect(failoverTiming(event('FailedOver', { detectedAt: 'not a time' }))).toBeUndefined();
  });
});
