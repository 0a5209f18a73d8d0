import { describe, expect, it } from 'vitest';
import { pickEndpoint, type Candidate } from './load-balancer.js';
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
});
