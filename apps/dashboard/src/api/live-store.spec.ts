import { describe, expect, it } from 'vitest';
import type { MeshEvent, ServiceTrafficPoint, TrafficPoint } from '@portolan/api';
import { applyLiveMessage, initialLiveState, MAX_EVENTS, MAX_POINTS_PER_SERIES, mergeEvents, mergeServiceTraffic, mergeTraffic } from './live-store';

const point = (time: string, requestsPerSecond = 1, zone = 'a'): TrafficPoint => ({
  time, zone, pool: 'edge', gateways: 1, requestsPerSecond, serverErrorPercent: 0, p50Ms: 1, p95Ms: 2, p99Ms: 3, rateLimited: 0, retries: 0, breakerOpen: 0, timeouts: 0,
});
const servicePoint = (time: string, requestsPerSecond = 1, zone = 'a', service = 'default/checkout'): ServiceTrafficPoint => {
  const { pool: _pool, ...figures } = point(time, requestsPerSecond, zone);
  return { ...figures, service };
};
const event = (id: string): MeshEvent => ({ id, time: '2026-12-02T12:00:00Z', type: 'Normal', reason: 'R', regarding: { kind: 'Zone', namespace: 'default', name: 'a' }, source: 's', message: 'm' });

describe('mergeTraffic', () => {
  it('keeps each series in time order, replaces a slot it already has, and separates series', () => {
    let traffic = mergeTraffic(new Map(), [point('T3'), point('T1')]);
    traffic = mergeTraffic(traffic, [point('T2'), point('T3', 9), point('T1', 5, 'b')]);
    expect(traffic.get('edge/a')!.map((p) => [p.time, p.requestsPerSecond])).toEqual([['T1', 1], ['T2', 1], ['T3', 9]]);
    expect(traffic.get('edge/b')!.map((p) => p.time)).toEqual(['T1']);
  });

  it('holds at most an hour of slots per series', () => {
    const points = Array.from({ length: MAX_POINTS_PER_SERIES + 10 }, (_, index) => point(`T${String(index).padStart(5, '0')}`));
    const series = mergeTraffic(new Map(), points).get('edge/a')!;
    expect(series).toHaveLength(MAX_POINTS_PER_SERIES);
    expect(series[0].time).toBe('T00010');
  });
});

describe('mergeServiceTraffic', () => {
  it('keeps a series per service and zone, in time order, replacing a slot it already has', () => {
    let traffic = mergeServiceTraffic(new Map(), [servicePoint('T2'), servicePoint('T1', 1, 'b')]);
    traffic = mergeServiceTraffic(traffic, [servicePoint('T1'), servicePoint('T2', 7), servicePoint('T1', 3, 'a', 'shop/users')]);
    expect([...traffic.keys()].sort()).toEqual(['default/checkout/a', 'default/checkout/b', 'shop/users/a']);
    expect(traffic.get('default/checkout/a')!.map((p) => [p.time, p.requestsPerSecond])).toEqual([['T1', 1], ['T2', 7]]);
  });

  it('holds at most an hour of slots per series, and leaves the map as it is for no points', () => {
    const points = Array.from({ length: MAX_POINTS_PER_SERIES + 10 }, (_, index) => servicePoint(`T${String(index).padStart(5, '0')}`));
    // In any order: the newest are kept.
    const traffic = mergeServiceTraffic(new Map(), [...points].reverse());
    const series = traffic.get('default/checkout/a')!;
    expect(series).toHaveLength(MAX_POINTS_PER_SERIES);
    expect(series[0].time).toBe('T00010');
    expect(mergeServiceTraffic(traffic, [])).toBe(traffic);
  });
});

describe('mergeEvents', () => {
  it('merges REST history and feed newest first without duplicates, bounded', () => {
    expect(mergeEvents([event('03'), event('01')], [event('02'), event('03')]).map((e) => e.id)).toEqual(['03', '02', '01']);
    const many = Array.from({ length: MAX_EVENTS + 5 }, (_, index) => event(String(index).padStart(4, '0')));
    expect(mergeEvents([], many)).toHaveLength(MAX_EVENTS);
  });
});

describe('applyLiveMessage', () => {
  it('tracks who is signed in, the newest revision, gateways and events', () => {
    let state = initialLiveState();
    expect(state.gateways).toBeNull();
    state = applyLiveMessage(state, { type: 'hello', user: 'bob', role: 'editor', revision: 4, slotMs: 5000 });
    state = applyLiveMessage(state, { type: 'changed', revision: 9, objects: [] });
    state = applyLiveMessage(state, { type: 'changed', revision: 8, objects: [] });
    state = applyLiveMessage(state, { type: 'gateways', items: [] });
    state = applyLiveMessage(state, { type: 'event', event: event('1') });
    expect(state).toMatchObject({ user: { name: 'bob', role: 'editor' }, revision: 9, gateways: [] });
    expect(state.events.map((e) => e.id)).toEqual(['1']);
  });

  it('adds a traffic message\'s points per pool and per service, and takes one without per-service points (an older control plane)', () => {
    let state = applyLiveMessage(initialLiveState(), { type: 'traffic', points: [point('T1')], services: [servicePoint('T1', 4)] });
    expect(state.traffic.get('edge/a')).toHaveLength(1);
    expect(state.serviceTraffic.get('default/checkout/a')!.map((p) => p.requestsPerSecond)).toEqual([4]);
    const serviceTraffic = state.serviceTraffic;
    state = applyLiveMessage(state, { type: 'traffic', points: [point('T2')] } as never);
    expect(state.traffic.get('edge/a')).toHaveLength(2);
    expect(state.serviceTraffic).toBe(serviceTraffic);
  });
});
