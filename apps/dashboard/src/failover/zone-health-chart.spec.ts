import { describe, expect, it } from 'vitest';
import type { MeshEvent } from '@portolan/api';
import { failoverMarkers } from './zone-health-chart';

const event = (reason: string, time: string, details: Record<string, unknown> = {}, name = 'checkout'): MeshEvent => ({
  id: time, time, type: 'Normal', reason, regarding: { kind: reason.startsWith('Zone') ? 'Zone' : 'FailoverPolicy', namespace: 'default', name }, source: 's', message: 'm', details,
});

describe('failoverMarkers', () => {
  it('marks failovers, failbacks, drains and undrains at their time, naming the zone', () => {
    const markers = failoverMarkers([
      event('FailedOver', '2026-12-02T12:00:00Z', { zone: 'zone-a' }),
      event('FailedBack', '2026-12-02T12:01:00Z', { zone: 'zone-a' }),
      event('ZoneDrained', '2026-12-02T12:02:00Z', {}, 'zone-c'),
      event('ZoneUndrained', '2026-12-02T12:03:00Z', {}, 'zone-c'),
      event('ScaledUp', '2026-12-02T12:04:00Z'),
    ]);
    expect(markers.map((marker) => [marker.time, marker.label])).toEqual([
      [Date.parse('2026-12-02T12:00:00Z') / 1000, 'FailedOver zone-a'],
      [Date.parse('2026-12-02T12:01:00Z') / 1000, 'FailedBack zone-a'],
      [Date.parse('2026-12-02T12:02:00Z') / 1000, 'ZoneDrained zone-c'],
      [Date.parse('2026-12-02T12:03:00Z') / 1000, 'ZoneUndrained zone-c'],
    ]);
    expect(new Set(markers.map((marker) => marker.color)).size).toBe(4);
  });
});
