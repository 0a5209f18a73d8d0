import { describe, expect, it } from 'vitest';
import type { MeshEvent, TrafficPoint } from '@portolan/api';
import { applyLiveMessage, initialLiveState, MAX_EVENTS, MAX_POINTS_PER_SERIES, mergeEvents, mergeTraffic } from './live-store';

const point = (time: string, requestsPerSecond = 1, zone = 'a'): TrafficPoint => ({
  time, zone, pool: 'edge', gateways: 1, requestsPerSecond, serverErrorPercent: 0, p50Ms: 1, p95Ms: 2, p99Ms: 3, rateLimited: 0, retries: 0, breakerOpen: 0, timeouts: 0,
});
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
});
