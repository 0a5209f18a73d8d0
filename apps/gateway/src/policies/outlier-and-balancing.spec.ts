import { describe, expect, it } from 'vitest';
import { pickEndpoint, planZones, type Candidate } from './load-balancer.js';
import { OutlierDetector } from './outlier-detector.js';

const settings = { consecutive5xx: 5, intervalMs: 10_000, baseEjectionMs: 30_000, maxEjectionMs: 300_000, maxEjectionPercent: 50 };

describe('OutlierDetector', () => {
  it('ejects after 5 consecutive failures, and a success in between resets the count', () => {
    const detector = new OutlierDetector(settings, ['a', 'b'], 0);
    for (let i = 0; i < 4; i++) detector.record('a', false, 0);
    detector.record('a', true, 0);
    for (let i = 0; i < 4; i++) detector.record('a', false, 0);
    expect(detector.isEjected('a', 0)).toBe(false);
    detector.record('a', false, 0);
    expect(detector.isEjected('a', 0)).toBe(true);
  });

  it('takes an endpoint back after its ejection time; the next ejection lasts twice as long', () => {
    const ejected: string[] = [];
    const detector = new OutlierDetector(settings, ['a', 'b'], 0, (endpoint) => ejected.push(endpoint));
    for (let i = 0; i < 5; i++) detector.record('a', false, 0);
    expect(detector.isEjected('a', 29_999)).toBe(true);
    expect(detector.isEjected('a', 30_000)).toBe(false);
    for (let i = 0; i < 5; i++) detector.record('a', false, 30_001);
    expect(detector.isEjected('a', 89_000)).toBe(true);
    expect(detector.isEjected('a', 90_001)).toBe(false);
    expect(ejected).toEqual(['a', 'a']);
  });

  it('lowers the ejection count after an interval without ejection', () => {
    const detector = new OutlierDetector(settings, ['a', 'b'], 0);
    for (let i = 0; i < 5; i++) detector.record('a', false, 0);
    detector.sweep(30_000);
    detector.sweep(50_000);
    for (let i = 0; i < 5; i++) detector.record('a', false, 50_000);
    expect(detector.isEjected('a', 79_999)).toBe(true);
    expect(detector.isEjected('a', 80_000)).toBe(false);
  });

  it.each([
    [2, 10, 1],
    [10, 10, 1],
    [10, 50, 5],
    [4, 50, 2],
  ])('with %i endpoints and maxEjectionPercent %i, ejects at most %i', (count, percent, most) => {
    const keys = Array.from({ length: count }, (_, i) => `e${i}`);
    const detector = new OutlierDetector({ ...settings, maxEjectionPercent: percent }, keys, 0);
    for (const key of keys) for (let i = 0; i < 5; i++) detector.record(key, false, 0);
    expect(detector.ejected(0)).toHaveLength(most);
  });

  it('keeps the state of remaining endpoints when the endpoint list changes', () => {
    const detector = new OutlierDetector(settings, ['a', 'b'], 0);
    for (let i = 0; i < 5; i++) detector.record('a', false, 0);
    const next = detector.withEndpoints(['a', 'c'], settings, 1, () => undefined);
    expect(next.isEjected('a', 2)).toBe(true);
    expect(next.isEjected('c', 2)).toBe(false);
  });
});

describe('pickEndpoint', () => {
  const endpoints: Candidate[] = [
    { key: 'a1', zone: 'a', weight: 1 },
    { key: 'a2', zone: 'a', weight: 1 },
    { key: 'b1', zone: 'b', weight: 1 },
  ];
  const sequence = (...values: number[]) => {
    let i = 0;
    return () => values[i++ % values.length];
  };
  const base = { endpoints, ownZone: 'a', isEjected: () => false, active: () => 0, tried: new Set<string>(), panicThresholdPercent: 50, random: sequence(0, 0.99) };

  it.each([
    ['prefers its own zone', base, ['a1', 'a2']],
    ['falls back to other zones when its own has nothing left', { ...base, isEjected: (e: Candidate) => e.zone === 'a', panicThresholdPercent: 0 }, ['b1']],
    ['never picks an ejected endpoint', { ...base, isEjected: (e: Candidate) => e.key === 'a1' }, ['a2']],
    ['ignores ejections in panic (too few healthy)', { ...base, isEjected: (e: Candidate) => e.key !== 'b1', panicThresholdPercent: 50 }, ['a1', 'a2']],
    ['avoids an endpoint this request already tried', { ...base, tried: new Set(['a1']) }, ['a2']],
  ])('%s', (_name, context, allowed) => {
    for (let i = 0; i < 20; i++) expect(allowed).toContain(pickEndpoint({ ...context, random: Math.random })!.key);
  });

  it('sends the request to the less loaded of two choices, weighing by weight', () => {
    const load: Record<string, number> = { a1: 5, a2: 1 };
    expect(pickEndpoint({ ...base, active: (e) => load[e.key] ?? 0 })!.key).toBe('a2');
    const weighted = [{ key: 'a1', zone: 'a', weight: 10 }, { key: 'a2', zone: 'a', weight: 1 }];
    expect(pickEndpoint({ ...base, endpoints: weighted, active: (e) => load[e.key] ?? 0 })!.key).toBe('a1');
  });

  it('returns nothing without endpoints', () => {
    expect(pickEndpoint({ ...base, endpoints: [] })).toBeUndefined();
  });

  it('returns nothing (rather than throwing) when every endpoint is ejected and panic is off (threshold 0)', () => {
    expect(pickEndpoint({ ...base, isEjected: () => true, panicThresholdPercent: 0, active: (e) => e.weight })).toBeUndefined();
  });
});

describe('pickEndpoint with zone weights', () => {
  /** mulberry32: a small seeded PRNG, so the statistical cases are reproducible. */
  const seeded = (seed: number) => () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  // Two endpoints in each of zones a, b and c, one in d, one without a zone (zone "").
  const endpoints: Candidate[] = [
    { key: 'a1', zone: 'a', weight: 1 },
    { key: 'a2', zone: 'a', weight: 1 },
    { key: 'b1', zone: 'b', weight: 1 },
    { key: 'b2', zone: 'b', weight: 1 },
    { key: 'c1', zone: 'c', weight: 1 },
    { key: 'c2', zone: 'c', weight: 1 },
    { key: 'd1', zone: 'd', weight: 1 },
    { key: 'x1', weight: 1 },
  ];
  const zoneOf = (key: string) => endpoints.find((endpoint) => endpoint.key === key)!.zone ?? '';
  type Weights = Array<{ zone: string; weight: number }>;
  interface Case {
    weights: Weights;
    ejected?: string[];
    tried?: string[];
    active?: Record<string, number>;
    panicThresholdPercent?: number;
  }
  const contextOf = (c: Case, random: () => number) => ({
    endpoints,
    ownZone: 'a',
    isEjected: (endpoint: Candidate) => (c.ejected ?? []).includes(endpoint.key),
    active: (endpoint: Candidate) => c.active?.[endpoint.key] ?? 0,
    tried: new Set(c.tried ?? []),
    panicThresholdPercent: c.panicThresholdPercent ?? 50,
    random,
    zones: planZones(endpoints, c.weights),
  });
  /** Share of `picks` picks per zone, and the endpoints picked. */
  const run = (c: Case, picks: number, seed = 1) => {
    const context = contextOf(c, seeded(seed));
    const zones: Record<string, number> = {};
    const keys = new Set<string>();
    for (let i = 0; i < picks; i++) {
      const key = pickEndpoint(context)?.key;
      if (key === undefined) continue;
      keys.add(key);
      zones[zoneOf(key)] = (zones[zoneOf(key)] ?? 0) + 1 / picks;
    }
    return { zones, keys: [...keys].sort() };
  };

  it.each<[string, Weights, Record<string, number>]>([
    ['75/25', [{ zone: 'a', weight: 75 }, { zone: 'b', weight: 25 }, { zone: 'c', weight: 0 }], { a: 0.75, b: 0.25 }],
    ['50/30/20', [{ zone: 'a', weight: 50 }, { zone: 'b', weight: 30 }, { zone: 'c', weight: 20 }], { a: 0.5, b: 0.3, c: 0.2 }],
    ['own zone 0, others 60/40', [{ zone: 'b', weight: 60 }, { zone: 'c', weight: 40 }, { zone: 'a', weight: 0 }], { b: 0.6, c: 0.4 }],
    ['endpoints without a zone are zone ""', [{ zone: '', weight: 10 }, { zone: 'b', weight: 90 }], { '': 0.1, b: 0.9 }],
  ])('sends new requests in proportion to the weights (%s, ±5%% over 4,000 picks)', (_name, weights, expected) => {
    for (const seed of [1, 2, 3]) {
      const { zones } = run({ weights }, 4_000, seed);
      expect(Object.keys(zones).sort()).toEqual(Object.keys(expected).sort());
      for (const [zone, share] of Object.entries(expected)) expect(Math.abs(zones[zone] - share)).toBeLessThanOrEqual(0.05);
    }
  });

  it('re-normalizes the weights over the zones that still have an endpoint (50/30/20 with c ejected: 62.5/37.5)', () => {
    const { zones } = run({ weights: [{ zone: 'a', weight: 50 }, { zone: 'b', weight: 30 }, { zone: 'c', weight: 20 }], ejected: ['c1', 'c2'] }, 4_000);
    expect(zones.c).toBeUndefined();
    expect(Math.abs(zones.a - 0.625)).toBeLessThanOrEqual(0.05);
    expect(Math.abs(zones.b - 0.375)).toBeLessThanOrEqual(0.05);
  });

  const ownZoneFirst: Weights = [{ zone: 'a', weight: 100 }, { zone: 'b', weight: 0 }, { zone: 'c', weight: 0 }];
  it.each<[string, Case, string[]]>([
    ['own zone 100: only the own zone', { weights: ownZoneFirst }, ['a1', 'a2']],
    ['own zone 100, one endpoint ejected: the other one', { weights: ownZoneFirst, ejected: ['a1'], panicThresholdPercent: 0 }, ['a2']],
    ['every endpoint of the weighted zone ejected: spills to the first zone of weight 0', { weights: ownZoneFirst, ejected: ['a1', 'a2'] }, ['b1', 'b2']],
    ['... and of that one too: the next one in list order', { weights: ownZoneFirst, ejected: ['a1', 'a2', 'b1', 'b2'] }, ['c1', 'c2']],
    ['spill order is the list order, not the name order', { weights: [{ zone: 'a', weight: 100 }, { zone: 'c', weight: 0 }, { zone: 'b', weight: 0 }], ejected: ['a1', 'a2'] }, ['c1', 'c2']],
    ['never spills to a zone absent from the list', { weights: [{ zone: 'a', weight: 100 }, { zone: 'b', weight: 0 }], ejected: ['a1', 'a2', 'b1', 'b2'], panicThresholdPercent: 0 }, []],
    ['a retry avoids the endpoint it tried', { weights: ownZoneFirst, tried: ['a1'] }, ['a2']],
    ['a retry after every endpoint of the zone moves to the next zone', { weights: ownZoneFirst, tried: ['a1', 'a2'] }, ['b1', 'b2']],
    ['a retry in a weighted split moves to the other weighted zone', { weights: [{ zone: 'a', weight: 50 }, { zone: 'b', weight: 50 }, { zone: 'c', weight: 0 }], tried: ['a1', 'a2'] }, ['b1', 'b2']],
    ['a drained zone (absent from the list) is never spilled to, even when least loaded', { weights: [{ zone: 'a', weight: 100 }, { zone: 'b', weight: 0 }], ejected: ['a1', 'a2'], active: { b1: 50, b2: 50 } }, ['b1', 'b2']],
    ['... nor used in the panic fallback', { weights: [{ zone: 'a', weight: 100 }, { zone: 'b', weight: 0 }], ejected: ['a1', 'a2', 'b1', 'b2'], active: { a1: 50, a2: 50, b1: 50, b2: 50 } }, ['a1', 'a2']],
    ['panic in a zone: fewer than the threshold healthy there, ejected ones too', { weights: ownZoneFirst, ejected: ['a1'], panicThresholdPercent: 60 }, ['a1', 'a2']],
    ['panic fallback: every listed endpoint ejected, own zone first, ejected ones too', { weights: [{ zone: 'b', weight: 100 }, { zone: 'a', weight: 0 }], ejected: ['a1', 'a2', 'b1', 'b2'] }, ['a1', 'a2']],
    ['fallback after every listed endpoint was tried: tries one again, own zone first', { weights: [{ zone: 'b', weight: 100 }, { zone: 'a', weight: 0 }], tried: ['a1', 'a2', 'b1', 'b2'] }, ['a1', 'a2']],
    ['fallback without the own zone listed', { weights: [{ zone: 'b', weight: 100 }, { zone: 'c', weight: 0 }], ejected: ['b1', 'b2', 'c1', 'c2'] }, ['b1', 'b2', 'c1', 'c2']],
    ['no endpoint in any listed zone: nothing', { weights: [{ zone: 'e', weight: 100 }, { zone: 'f', weight: 0 }] }, []],
    ['an empty list: nothing', { weights: [] }, []],
  ])('%s', (_name, c, allowed) => {
    expect(run(c, 400).keys).toEqual(allowed);
  });

  it('inside the zone, sends the request to the less loaded of two choices, weighing by weight', () => {
    // One weighted zone: no zone draw; the two draws choose a1 then a2.
    const draws = () => {
      let i = 0;
      return () => [0.1, 0.9][i++ % 2];
    };
    const context = contextOf({ weights: ownZoneFirst, active: { a1: 5, a2: 1 } }, draws());
    expect(pickEndpoint(context)!.key).toBe('a2');
    const heavy = endpoints.map((endpoint) => (endpoint.key === 'a1' ? { ...endpoint, weight: 10 } : endpoint));
    expect(pickEndpoint({ ...context, endpoints: heavy, zones: planZones(heavy, ownZoneFirst), random: draws() })!.key).toBe('a1');
  });

  it('reacts to failures in its own zone before the control plane does, and comes back after the ejection time', () => {
    let now = 0;
    const detector = new OutlierDetector({ ...settings, consecutive5xx: 2, maxEjectionPercent: 100 }, endpoints.map((endpoint) => endpoint.key), now);
    const context = { ...contextOf({ weights: ownZoneFirst }, seeded(7)), isEjected: (endpoint: Candidate) => detector.isEjected(endpoint.key, now) };
    const zonesPicked = (picks: number) => new Set(Array.from({ length: picks }, () => zoneOf(pickEndpoint(context)!.key)));
    expect(zonesPicked(50)).toEqual(new Set(['a']));
    for (const key of ['a1', 'a2']) for (let i = 0; i < 2; i++) detector.record(key, false, now);
    expect(zonesPicked(50)).toEqual(new Set(['b']));
    now = settings.baseEjectionMs;
    expect(zonesPicked(50)).toEqual(new Set(['a']));
  });

  it('groups once per config change: listed zones, weighted first, duplicates and non-positive weights handled', () => {
    const plan = planZones(endpoints, [{ zone: 'b', weight: 0 }, { zone: 'a', weight: 70 }, { zone: 'a', weight: 5 }, { zone: 'c', weight: 30 }, { zone: 'e', weight: -1 }]);
    expect(plan.zones.map(({ zone, weight, start, end }) => [zone, weight, end - start])).toEqual([
      ['a', 70, 2],
      ['c', 30, 2],
      ['b', 0, 2],
      ['e', 0, 0],
    ]);
    expect(plan.weightedCount).toBe(2);
    expect([...plan.cumulative]).toEqual([70, 100]);
    expect(plan.listed.map((endpoint) => endpoint.key)).toEqual(['a1', 'a2', 'c1', 'c2', 'b1', 'b2']);
  });
});
