import { describe, expect, it } from 'vitest';
import type { GatewayRow, TrafficPoint, ZoneSummary } from '@portolan/api';
import { latestZoneTraffic, zoneCards } from './zone-cards';

const gateway = (name: string, zone: string, phase: GatewayRow['phase'] = 'Healthy'): GatewayRow => ({
  id: name, name, namespace: 'default', zone, pool: 'edge', address: '127.0.0.1:1', version: '0.1.0', phase,
  lastHeartbeat: '2026-12-02T12:00:00Z', synced: true, transport: 'websocket', requestsPerSecond: 1, serverErrorPercent: 0, p99Ms: 5, openBreakers: 0, ejectedEndpoints: 0,
});
const T1 = '2026-12-02T12:00:00.000Z';
const T2 = '2026-12-02T12:00:05.000Z';
const point = (zone: string, time: string, pool: string, requestsPerSecond: number, serverErrorPercent: number | null, p99Ms: number | null): TrafficPoint => ({
  time, zone, pool, gateways: 1, requestsPerSecond, serverErrorPercent, p50Ms: null, p95Ms: null, p99Ms, rateLimited: 0, retries: 0, breakerOpen: 0, timeouts: 0,
});
/** The live store's shape: `pool/zone` → points. */
const byKey = (series: TrafficPoint[][]) => new Map(series.map((points) => [`${points[0].pool}/${points[0].zone}`, points] as const));
const zone = (name: string, extra: Partial<ZoneSummary> = {}): ZoneSummary => ({ zone: name, drained: false, gateways: { total: 0, routable: 0 }, endpoints: { total: 2, healthy: 2 }, failover: [], ...extra });

describe('latestZoneTraffic', () => {
  it('adds up the pools of the newest slot, weights the error share by requests, and takes the slowest p99', () => {
    const series = [
      [point('a', T1, 'edge', 100, 0, 10), point('a', T2, 'edge', 30, 10, 20)],
      [point('a', T2, 'internal', 10, 50, 80)],
      [point('b', T1, 'edge', 5, null, null)],
    ];
    const zones = latestZoneTraffic(byKey(series));
    expect(zones.get('a')).toEqual({ time: T2, requestsPerSecond: 40, serverErrorPercent: 20, p99Ms: 80 });
    expect(zones.get('b')).toEqual({ time: T1, requestsPerSecond: 5, serverErrorPercent: null, p99Ms: null });
  });

  it('has no numbers for a zone whose newest slot is older than the freshness bound', () => {
    const zones = latestZoneTraffic(byKey([[point('a', T1, 'edge', 10, 0, 5)], [point('b', T2, 'edge', 10, 0, 5)]]), Date.parse(T2));
    expect(zones.has('a')).toBe(false);
    expect(zones.get('b')).toMatchObject({ time: T2 });
    const [stale] = zoneCards([gateway('g1', 'a')], byKey([[point('a', T1, 'edge', 10, 50, 5)]]), [], Date.parse(T2));
    expect(stale).toMatchObject({ requestsPerSecond: null, serverErrorPercent: null, p99Ms: null, health: 'Healthy' });
  });

  it('ignores an older slot of another pool', () => {
    const zones = latestZoneTraffic(byKey([[point('a', T1, 'old', 99, 90, 999)], [point('a', T2, 'edge', 1, 0, 3)]]));
    expect(zones.get('a')).toMatchObject({ time: T2, requestsPerSecond: 1, p99Ms: 3 });
  });
});

describe('zoneCards', () => {
  it.each([
    { name: 'all healthy, low errors', phases: ['Healthy', 'Healthy'], errors: 0, zoneExtra: {}, health: 'Healthy' },
    { name: 'one offline', phases: ['Healthy', 'Offline'], errors: 0, zoneExtra: {}, health: 'Degraded' },
    { name: 'none routable', phases: ['Offline', 'Draining'], errors: 0, zoneExtra: {}, health: 'Failing' },
    { name: '0.1% errors is degraded (Kiali)', phases: ['Healthy'], errors: 0.1, zoneExtra: {}, health: 'Degraded' },
    { name: 'above 10% errors is failing', phases: ['Healthy'], errors: 10.5, zoneExtra: {}, health: 'Failing' },
    { name: 'drained', phases: ['Healthy'], errors: 0, zoneExtra: { drained: true, reason: 'maintenance' }, health: 'Degraded' },
    {
      name: 'failed over',
      phases: ['Healthy'],
      errors: 0,
      zoneExtra: { failover: [{ policy: 'default/checkout', state: 'FailedOver' as const, since: 'T', reason: 'healthy endpoints 0% < 50%' }] },
      health: 'Failing',
    },
  ])('$name → $health', ({ phases, errors, zoneExtra, health }) => {
    const rows = phases.map((phase, index) => gateway(`g${index}`, 'a', phase as GatewayRow['phase']));
    const [card] = zoneCards(rows, byKey([[point('a', T1, 'edge', 10, errors, 5)]]), [zone('a', zoneExtra)]);
    expect(card.health).toBe(health);
  });

  it('counts gateways by state and shows no data (not zero) for a zone without reports', () => {
    const cards = zoneCards([gateway('g1', 'a'), gateway('g2', 'a', 'Draining'), gateway('g3', 'b')], new Map(), [zone('c')]);
    expect(cards.map((card) => card.zone)).toEqual(['a', 'b', 'c']);
    expect(cards[0].gateways).toEqual({ Healthy: 1, Degraded: 0, Draining: 1, Offline: 0, total: 2 });
    expect(cards[0].requestsPerSecond).toBeNull();
    expect(cards[2].health).toBe('NoData');
  });

  it('lists only FailedOver decisions', () => {
    const [card] = zoneCards([], new Map(), [zone('a', { failover: [{ policy: 'p1', state: 'Healthy', since: 'T', reason: 'ok' }, { policy: 'p2', state: 'FailedOver', since: 'T', reason: 'bad' }] })]);
    expect(card.failedOverBy).toEqual([{ policy: 'p2', since: 'T', reason: 'bad' }]);
  });
});
