import { describe, expect, it } from 'vitest';
import type { EffectiveEndpoint, RouteFailover } from './effective-config.js';
import { computeZoneWeights } from './zone-weights.js';

/** `counts`: endpoints per zone, each of weight 1 ('' for endpoints without a zone). */
function endpoints(counts: Record<string, number>): EffectiveEndpoint[] {
  return Object.entries(counts).flatMap(([zone, count]) =>
    Array.from({ length: count }, (_, index) => ({ address: `10.0.0.${index}`, port: 8080, ...(zone ? { zone } : {}), weight: 1 })),
  );
}

function failover(zones: Record<string, number>, failedOver: string[] = []): RouteFailover {
  return { policy: { kind: 'FailoverPolicy', namespace: 'default', name: 'checkout' }, zones: Object.entries(zones).map(([zone, priority]) => ({ zone, priority })), failedOver };
}

const THREE = { 'zone-a': 0, 'zone-b': 1, 'zone-c': 1 };

interface Case {
  what: string;
  own: string;
  eps: Record<string, number>;
  fo?: RouteFailover;
  drained?: string[];
  expected: unknown;
}

describe('computeZoneWeights', () => {
  it.each<Case>([
    {
      what: 'a healthy own zone keeps all new requests, the others are where it spills, by priority',
      own: 'zone-a', eps: { 'zone-a': 2, 'zone-b': 2, 'zone-c': 1 }, fo: failover(THREE),
      expected: [{ zone: 'zone-a', weight: 100 }, { zone: 'zone-b', weight: 0 }, { zone: 'zone-c', weight: 0 }],
    },
    {
      what: 'a failed-over own zone: the next priority\'s zones share by healthy capacity; the bad zone is the last resort',
      own: 'zone-a', eps: { 'zone-a': 2, 'zone-b': 3, 'zone-c': 1 }, fo: failover(THREE, ['zone-a']),
      expected: [{ zone: 'zone-b', weight: 75 }, { zone: 'zone-c', weight: 25 }, { zone: 'zone-a', weight: 0 }],
    },
    {
      what: 'an own zone without endpoints goes to the best priority',
      own: 'zone-d', eps: { 'zone-a': 1, 'zone-b': 1 }, fo: failover(THREE),
      expected: [{ zone: 'zone-a', weight: 100 }, { zone: 'zone-b', weight: 0 }],
    },
    {
      what: 'a drained own zone is left out entirely',
      own: 'zone-a', eps: { 'zone-a': 2, 'zone-b': 1, 'zone-c': 2 }, drained: ['zone-a'],
      expected: [{ zone: 'zone-b', weight: 33 }, { zone: 'zone-c', weight: 67 }],
    },
    {
      what: 'shares of three zones add up to exactly 100',
      own: 'zone-x', eps: { 'zone-a': 1, 'zone-b': 1, 'zone-c': 1 }, drained: ['zone-x'],
      expected: [{ zone: 'zone-a', weight: 34 }, { zone: 'zone-b', weight: 33 }, { zone: 'zone-c', weight: 33 }],
    },
    {
      what: 'unlisted zones come after listed ones, endpoints without a zone last',
      own: 'zone-a', eps: { 'zone-a': 1, 'zone-z': 1, '': 1, 'zone-b': 1 }, fo: failover({ 'zone-a': 0, 'zone-b': 5 }, ['zone-a']),
      expected: [{ zone: 'zone-b', weight: 100 }, { zone: 'zone-z', weight: 0 }, { zone: '', weight: 0 }, { zone: 'zone-a', weight: 0 }],
    },
    {
      what: 'every zone failed over: the best of them still gets the traffic (panic), not nothing',
      own: 'zone-a', eps: { 'zone-a': 1, 'zone-b': 1 }, fo: failover(THREE, ['zone-a', 'zone-b']),
      expected: [{ zone: 'zone-a', weight: 100 }, { zone: 'zone-b', weight: 0 }],
    },
    {
      what: 'every zone drained: traffic still flows to the best priority',
      own: 'zone-a', eps: { 'zone-b': 1, 'zone-c': 1 }, fo: failover(THREE), drained: ['zone-b', 'zone-c'],
      expected: [{ zone: 'zone-b', weight: 50 }, { zone: 'zone-c', weight: 50 }],
    },
  ])('$what', ({ own, eps, fo, drained, expected }) => {
    expect(computeZoneWeights(own, { endpoints: endpoints(eps), ...(fo ? { failover: fo } : {}), ...(drained ? { drainedZones: drained } : {}) })).toEqual(expected);
  });

  it('leaves weights out when neither a failover nor a drain applies: the gateway keeps preferring its own zone', () => {
    expect(computeZoneWeights('zone-a', { endpoints: endpoints({ 'zone-a': 1, 'zone-b': 1 }) })).toBeUndefined();
  });

  it('answers no zones for a service without endpoints', () => {
    expect(computeZoneWeights('zone-a', { endpoints: [], failover: failover(THREE) })).toEqual([]);
  });
});
