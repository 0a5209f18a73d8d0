import { describe, expect, it } from 'vitest';
import { isRoutable, lifecycleAt } from './lifecycle';

const settings = { ttlMs: 6_000, removeAfterMs: 300_000 };
const fine = { lastHeartbeat: 10_000, draining: false, degradedBecause: [] };

describe('lifecycleAt', () => {
  it.each([
    ['just heartbeated', fine, 10_000, { phase: 'Healthy', remove: false }],
    ['one interval late is still Healthy', fine, 14_000, { phase: 'Healthy', remove: false }],
    ['TTL reached is Offline', fine, 16_000, { phase: 'Offline', offlineSince: 16_000, removalAt: 316_000, remove: false }],
    ['removal grace over', fine, 316_000, { phase: 'Offline', offlineSince: 16_000, removalAt: 316_000, remove: true }],
    ['NACKing is Degraded', { ...fine, degradedBecause: ['NACK'] }, 11_000, { phase: 'Degraded', remove: false }],
    ['draining beats degraded', { ...fine, draining: true, degradedBecause: ['NACK'] }, 11_000, { phase: 'Draining', remove: false }],
    ['a silent draining node goes Offline', { ...fine, draining: true }, 16_000, { phase: 'Offline', offlineSince: 16_000, removalAt: 316_000, remove: false }],
    ['a lost stream is Offline at once', { ...fine, streamLostAt: 11_000 }, 11_000, { phase: 'Offline', offlineSince: 11_000, removalAt: 311_000, remove: false, streamLost: true }],
    ['removed the grace after its stream was lost', { ...fine, streamLostAt: 11_000 }, 311_000, { phase: 'Offline', offlineSince: 11_000, removalAt: 311_000, remove: true, streamLost: true }],
    ['a stream lost after the TTL ran out changes nothing', { ...fine, streamLostAt: 17_000 }, 17_000, { phase: 'Offline', offlineSince: 16_000, removalAt: 316_000, remove: false }],
    ['a draining node that loses its stream is Offline', { ...fine, draining: true, streamLostAt: 12_000 }, 12_000, { phase: 'Offline', offlineSince: 12_000, removalAt: 312_000, remove: false, streamLost: true }],
  ] as const)('%s', (_name, node, now, expected) => {
    expect(lifecycleAt(node, now, settings)).toEqual(expected);
  });

  it.each([
    ['Healthy', true],
    ['Degraded', true],
    ['Draining', false],
    ['Offline', false],
  ] as const)('%s routable: %s', (phase, routable) => {
    expect(isRoutable(phase)).toBe(routable);
  });
});
