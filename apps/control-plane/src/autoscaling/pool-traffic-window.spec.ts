import { MAX_SERVICES_PER_HEARTBEAT, MAX_UPSTREAM_ZONES, type HeartbeatStats, type ServiceTraffic, type UpstreamZoneStats } from '@portolan/agent-client';
import { describe, expect, it } from 'vitest';
import { histogramQuantile } from './latency-histogram';
import { MAX_WINDOW_MS, PoolTrafficWindow, SLOT_MS } from './pool-traffic-window';
import { heartbeatStats, latencyHistogram } from './testing/heartbeat-stats';

/** Heartbeat statistics with `requests` requests, all in the 25-50 ms bucket or, with `slow`, in 100-250 ms. */
const stats = (requests: number, slow = false): HeartbeatStats => heartbeatStats({ requests, periodMs: 2_000, latencyHistogram: latencyHistogram([[slow ? 200 : 40, requests]]) });

/** Tries to endpoints of `zone`: `requests` of which `failed` failed, all in the 25-50 ms bucket or, with `slow`, in 100-250 ms. */
const tries = (zone: string, requests: number, failed = 0, slow = false): UpstreamZoneStats => ({ zone, requests, serverErrors: failed, latencyHistogram: latencyHistogram([[slow ? 200 : 40, requests]]) });

const withTries = (base: HeartbeatStats, ...upstreamZones: UpstreamZoneStats[]): HeartbeatStats => ({ ...base, upstreamZones });

/** Answers for `service`: `requests` of which `failed` were 5xx, all in the 25-50 ms bucket or, with `slow`, in 100-250 ms; no policy action unless given. */
const answers = (service: string, requests: number, failed = 0, fields: Partial<ServiceTraffic> & { slow?: boolean } = {}): ServiceTraffic => {
  const { slow = false, ...counters } = fields;
  return { service, requests, serverErrors: failed, rateLimited: 0, retries: 0, breakerOpen: 0, timeouts: 0, latencyHistogram: latencyHistogram([[slow ? 200 : 40, requests]]), ...counters };
};

const withServices = (base: HeartbeatStats, ...services: ServiceTraffic[]): HeartbeatStats => ({ ...base, services });

const a1 = { name: 'edge-a-1', pool: 'edge', zone: 'zone-a' };
const a2 = { name: 'edge-a-2', pool: 'edge', zone: 'zone-a' };
const b1 = { name: 'edge-b-1', pool: 'edge', zone: 'zone-b' };
const other = { name: 'api-a-1', pool: 'api', zone: 'zone-a' };

describe('PoolTrafficWindow', () => {
  it('adds the heartbeats of every gateway of a pool and zone within the window, and nothing of other pools or zones', () => {
    const window = new PoolTrafficWindow();
    const t0 = 1_000_000;
    window.add(a1, stats(10), t0);
    window.add(a2, stats(20), t0 + 2_000);
    window.add(b1, stats(40, true), t0 + 2_000);
    window.add(other, stats(80, true), t0 + 2_000);
    const zoneA = window.read('edge', 'zone-a', 60_000, t0 + 4_000);
    expect(zoneA.requests).toBe(30);
    expect(zoneA.reportingGateways).toEqual(['edge-a-1', 'edge-a-2']);
    expect(histogramQuantile(0.99, zoneA.histogram)).toBeLessThanOrEqual(50);
    expect(window.readZone('zone-a', 60_000, t0 + 4_000).requests).toBe(110);
    const acrossZones = window.read('edge', undefined, 60_000, t0 + 4_000);
    expect(acrossZones.requests).toBe(70);
    expect(acrossZones.reportingGateways).toEqual(['edge-a-1', 'edge-a-2', 'edge-b-1']);
    expect(histogramQuantile(0.99, acrossZones.histogram)).toBeGreaterThan(100);
  });

  it('forgets heartbeats once they are older than the window, so a latency step that ended stops counting', () => {
    const window = new PoolTrafficWindow();
    const t0 = 2_000_000;
    window.add(a1, stats(50, true), t0);
    for (let t = t0 + 2_000; t <= t0 + 40_000; t += 2_000) window.add(a1, stats(50), t);
    const recent = window.read('edge', 'zone-a', 20_000, t0 + 40_000);
    expect(histogramQuantile(0.99, recent.histogram)).toBeLessThanOrEqual(50);
    const longer = window.read('edge', 'zone-a', 60_000, t0 + 40_000);
    expect(histogramQuantile(0.99, longer.histogram)).toBeGreaterThan(100);
  });

  it('covers only the time since it first heard of the pool, so a fresh control plane does not underestimate the rate', () => {
    const window = new PoolTrafficWindow();
    const t0 = 3_000_000;
    window.add(a1, stats(100), t0);
    window.add(a1, stats(100), t0 + 10_000);
    // From the start of the 2 s period the first heartbeat counted.
    expect(window.read('edge', 'zone-a', 120_000, t0 + 10_000).coveredMs).toBe(12_000);
    expect(window.read('edge', 'zone-a', 120_000, t0 + 500_000).coveredMs).toBe(120_000);
  });

  it('answers no gateways for a pool it never heard of (the metric is missing, not zero)', () => {
    const reading = new PoolTrafficWindow().read('edge', 'zone-a', 60_000, 5_000_000);
    expect(reading).toMatchObject({ requests: 0, reportingGateways: [], coveredMs: 0 });
  });

  it('counts 5xx answers for the error rate of a zone', () => {
    const window = new PoolTrafficWindow();
    window.add(a1, { ...stats(10), responses: { '2xx': 7, '3xx': 0, '4xx': 0, '5xx': 3 } }, 1_000);
    window.add(other, { ...stats(20), responses: { '2xx': 18, '3xx': 0, '4xx': 0, '5xx': 2 } }, 1_000);
    expect(window.readZone('zone-a', 60_000, 2_000)).toMatchObject({ requests: 30, serverErrors: 5 });
    expect(window.read('edge', 'zone-a', 60_000, 2_000)).toMatchObject({ requests: 10, serverErrors: 3 });
  });

  it('ignores statistics that are not the protocol\'s rather than counting them wrong', () => {
    const window = new PoolTrafficWindow();
    window.add(a1, { ...stats(10), requests: 'many' } as unknown as HeartbeatStats, 1_000);
    window.add(a1, { ...stats(10), latencyHistogram: { counts: [1, 'x'], sumMs: 3 } } as unknown as HeartbeatStats, 1_000);
    const reading = window.read('edge', 'zone-a', 60_000, 2_000);
    expect(reading.requests).toBe(10);
    expect(histogramQuantile(0.5, reading.histogram)).toBeNull();
  });

  it('keeps at most an hour of slots however long it runs', () => {
    const window = new PoolTrafficWindow();
    for (let t = 0; t < 3 * 3_600_000; t += SLOT_MS) window.add(a1, stats(1), t);
    const series = (window as unknown as { series: Map<string, { slots: unknown[] }> }).series.values().next().value!;
    expect(series.slots.length).toBeLessThanOrEqual(3_600_000 / SLOT_MS + 2);
  });

  describe('points per slot', () => {
    /** Heartbeat statistics with retries and the gateway's own failures. */
    const troubled = (requests: number, serverErrors: number): HeartbeatStats => ({
      ...heartbeatStats({ requests, serverErrors, periodMs: 2_000, latencyHistogram: latencyHistogram([[40, requests]]) }),
      retries: 4,
      errors: { rateLimited: 3, breakerOpen: 2, timeout: 1, connectFailure: 9, noRoute: 9, noEndpoint: 9 },
    });

    it('lists each ended slot of each pool and zone, oldest first, with its rate, error share, quantiles and counters', () => {
      const window = new PoolTrafficWindow();
      const t0 = 10 * SLOT_MS;
      window.add(a1, troubled(20, 5), t0 + 1_000);
      window.add(a2, troubled(30, 0), t0 + 3_000);
      window.add(b1, stats(10), t0 + 1_000);
      window.add(a1, stats(50), t0 + SLOT_MS + 1_000);
      // The second slot is still running at t0 + 2 slots - 1: only the first is given.
      const first = window.points(0, t0 + 2 * SLOT_MS - 1);
      expect(first).toEqual([
        {
          time: new Date(t0).toISOString(),
          pool: 'edge',
          zone: 'zone-a',
          gateways: 2,
          // Each gateway reported 2 s of its traffic: 50 answers over 2 s per gateway.
          requestsPerSecond: 50 / 2,
          serverErrorPercent: 10,
          p50Ms: expect.any(Number),
          p95Ms: expect.any(Number),
          p99Ms: expect.any(Number),
          // Counted over 2 s, scaled to the 5-s slot.
          rateLimited: 15,
          retries: 20,
          breakerOpen: 10,
          timeouts: 5,
        },
        expect.objectContaining({ time: new Date(t0).toISOString(), pool: 'edge', zone: 'zone-b', gateways: 1, serverErrorPercent: 0, retries: 0, rateLimited: 0 }),
      ]);
      const zoneA = first[0];
      expect(zoneA.p50Ms!).toBeGreaterThan(25);
      expect(zoneA.p99Ms!).toBeLessThanOrEqual(50);
      expect(zoneA.p50Ms!).toBeLessThanOrEqual(zoneA.p95Ms!);
      // Once it ended, the second slot follows; asking from the end of the first gives it alone.
      expect(window.points(t0 + SLOT_MS, t0 + 2 * SLOT_MS).map((point) => [point.time, point.zone, point.requestsPerSecond])).toEqual([
        [new Date(t0 + SLOT_MS).toISOString(), 'zone-a', 25],
      ]);
    });

    it('reads a steady rate as steady although 2-s heartbeats land 2 or 3 to a 5-s slot', () => {
      const window = new PoolTrafficWindow();
      // Two gateways at 100 requests/s each, heartbeating every 2 s out of step, with 3 retries/s each.
      for (let t = 1_000; t < 60_000; t += 2_000) {
        window.add(a1, { ...stats(200), retries: 6 }, t);
        window.add(a2, { ...stats(200), retries: 6 }, t + 700);
      }
      const points = window.points(10_000, 55_000);
      expect(points.length).toBeGreaterThanOrEqual(8);
      for (const point of points) {
        expect(point.requestsPerSecond).toBeCloseTo(200, 6);
        expect(point.retries).toBeCloseTo(30, 6);
      }
    });

    it('gives a slot that had reports without answers no error share or quantiles: no data, not zero', () => {
      const window = new PoolTrafficWindow();
      window.add(a1, stats(0), 1_000);
      expect(window.points(0, SLOT_MS)).toMatchObject([{ requestsPerSecond: 0, serverErrorPercent: null, p50Ms: null, p95Ms: null, p99Ms: null }]);
    });

    it('takes a slot that ended after `from` even when it started before, and keeps an hour of them', () => {
      const window = new PoolTrafficWindow();
      for (let t = 0; t < 2 * MAX_WINDOW_MS; t += SLOT_MS) window.add(a1, stats(1), t);
      const now = 2 * MAX_WINDOW_MS;
      expect(window.points(SLOT_MS / 2, SLOT_MS)).toEqual([]);
      const lastHour = window.points(now - MAX_WINDOW_MS, now);
      expect(lastHour).toHaveLength(MAX_WINDOW_MS / SLOT_MS);
      expect(window.points(now - SLOT_MS - 1, now).map((point) => point.time)).toEqual([new Date(now - 2 * SLOT_MS).toISOString(), new Date(now - SLOT_MS).toISOString()]);
    });

    it('ignores retry and failure counters that are not counts, and counts the rest of the heartbeat', () => {
      const window = new PoolTrafficWindow();
      window.add(a1, { ...stats(10), retries: -1, errors: { rateLimited: 'x', breakerOpen: 1 } } as unknown as HeartbeatStats, 1_000);
      window.add(a2, { ...stats(10), errors: undefined } as unknown as HeartbeatStats, 1_000);
      // Each heartbeat covers 2 s: 10 answers a gateway over 2 s, the counts scaled to the 5-s slot.
      expect(window.points(0, SLOT_MS)).toMatchObject([{ gateways: 2, requestsPerSecond: 10, retries: 0, rateLimited: 0, breakerOpen: 2.5, timeouts: 0 }]);
    });
  });

  describe('per upstream zone', () => {
    it('adds the tries every gateway sent to a zone\'s endpoints, whatever the gateway\'s own zone and pool', () => {
      const window = new PoolTrafficWindow();
      const t0 = 4_000_000;
      // zone-a's gateways send everything to zone-b (zone-a failed over); zone-b's own gateway too.
      window.add(a1, withTries(stats(30), tries('zone-b', 30, 3)), t0);
      window.add(a2, withTries(stats(20), tries('zone-b', 15, 0), tries('zone-c', 5, 5, true)), t0 + 1_000);
      window.add(b1, withTries(stats(40), tries('zone-b', 40, 2)), t0 + 2_000);
      window.add(other, withTries(stats(10), tries('', 10, 1)), t0 + 2_000);
      const now = t0 + 4_000;

      const zoneB = window.readUpstreamZone('zone-b', 60_000, now);
      expect(zoneB).toMatchObject({ requests: 85, serverErrors: 5, reportingGateways: ['edge-a-1', 'edge-a-2', 'edge-b-1'] });
      expect(histogramQuantile(0.99, zoneB.histogram)).toBeLessThanOrEqual(50);
      const zoneC = window.readUpstreamZone('zone-c', 60_000, now);
      expect(zoneC).toMatchObject({ requests: 5, serverErrors: 5, reportingGateways: ['edge-a-2'] });
      expect(histogramQuantile(0.99, zoneC.histogram)).toBeGreaterThan(100);
      // Endpoints without a zone are a zone of their own, "".
      expect(window.readUpstreamZone('', 60_000, now)).toMatchObject({ requests: 10, serverErrors: 1, reportingGateways: ['api-a-1'] });
      // No try went to zone-a's endpoints: nothing to read, however much went through its gateways.
      expect(window.readUpstreamZone('zone-a', 60_000, now)).toMatchObject({ requests: 0, serverErrors: 0, reportingGateways: [], coveredMs: 0 });
      expect(window.readZone('zone-a', 60_000, now).requests).toBe(60);
      // The answers per pool and zone are counted as before.
      expect(window.read('edge', 'zone-a', 60_000, now)).toMatchObject({ requests: 50, serverErrors: 0 });
    });

    it('forgets tries older than the window, and covers only the time since it first heard of tries to the zone', () => {
      const window = new PoolTrafficWindow();
      const t0 = 5_000_000;
      window.add(a1, withTries(stats(10), tries('zone-b', 10, 10)), t0);
      for (let t = t0 + 2_000; t <= t0 + 40_000; t += 2_000) window.add(a1, withTries(stats(10), tries('zone-b', 10)), t);
      expect(window.readUpstreamZone('zone-b', 20_000, t0 + 40_000)).toMatchObject({ serverErrors: 0, coveredMs: 20_000 });
      expect(window.readUpstreamZone('zone-b', 60_000, t0 + 40_000)).toMatchObject({ requests: 210, serverErrors: 10, coveredMs: 42_000 });
      expect(window.readUpstreamZone('zone-b', 10_000, t0 + 200_000)).toMatchObject({ requests: 0, reportingGateways: [] });
    });

    it('leaves out entries that are not the protocol\'s whole, and keeps the well-formed ones and the rest of the heartbeat', () => {
      const window = new PoolTrafficWindow();
      const malformed = [
        null,
        'zone-x',
        { ...tries('zone-x', 10), zone: 7 },
        { ...tries('zone-x', 10), requests: -1 },
        { ...tries('zone-x', 10), requests: 'ten' },
        { ...tries('zone-x', 10), serverErrors: Number.NaN },
        // More failed tries than tries.
        tries('zone-x', 10, 11),
        { ...tries('zone-x', 10), latencyHistogram: undefined },
        { ...tries('zone-x', 10), latencyHistogram: { counts: [10], sumMs: 400 } },
        { ...tries('zone-x', 10), latencyHistogram: { counts: [...new Array(13).fill(0), 'x'], sumMs: 400 } },
        { ...tries('zone-x', 10), latencyHistogram: { counts: new Array(14).fill(0), sumMs: -1 } },
        { ...tries('zone-x', 10), zone: 'z'.repeat(1_000) },
        // Two entries for one zone: which is right cannot be told, neither counts.
        tries('zone-y', 10, 1),
        tries('zone-y', 20, 2),
      ];
      window.add(a1, { ...stats(10), upstreamZones: [...malformed, tries('zone-b', 10, 4)] } as unknown as HeartbeatStats, 1_000);
      expect(window.readUpstreamZone('zone-b', 60_000, 2_000)).toMatchObject({ requests: 10, serverErrors: 4 });
      expect(window.readUpstreamZone('zone-x', 60_000, 2_000).requests).toBe(0);
      expect(window.readUpstreamZone('zone-y', 60_000, 2_000).requests).toBe(0);
      expect(window.read('edge', 'zone-a', 60_000, 2_000).requests).toBe(10);

      // Not a list, or longer than the protocol allows: none of it counts; the answers still do.
      window.add(a1, { ...stats(10), upstreamZones: { zone: 'zone-b' } } as unknown as HeartbeatStats, 1_500);
      const tooMany = Array.from({ length: MAX_UPSTREAM_ZONES + 1 }, (_, index) => tries(`zone-${index}`, 1));
      window.add(a1, withTries(stats(10), tries('zone-b', 10), ...tooMany), 1_500);
      expect(window.readUpstreamZone('zone-b', 60_000, 2_000).requests).toBe(10);
      expect(window.read('edge', 'zone-a', 60_000, 2_000).requests).toBe(30);

      // Heartbeats of gateways older than the field count as before.
      window.add(a2, stats(5), 1_500);
      expect(window.read('edge', 'zone-a', 60_000, 2_000).requests).toBe(35);
    });

    it('ignores the tries of statistics that are not the protocol\'s at all', () => {
      const window = new PoolTrafficWindow();
      window.add(a1, { ...withTries(stats(10), tries('zone-b', 10)), requests: 'many' } as unknown as HeartbeatStats, 1_000);
      expect(window.readUpstreamZone('zone-b', 60_000, 2_000).requests).toBe(0);
    });

    it('holds a bounded number of upstream zones, making room with zones nobody reported for the longest window', () => {
      const window = new PoolTrafficWindow();
      const upstream = () => (window as unknown as { upstream: Map<string, unknown> }).upstream;
      let zone = 0;
      while (upstream().size < 2_000 && zone < 2_000) {
        window.add(a1, withTries(stats(1), ...Array.from({ length: MAX_UPSTREAM_ZONES }, () => tries(`invented-${zone++}`, 1))), 1_000);
      }
      const bound = upstream().size;
      expect(bound).toBeLessThan(2_000);
      window.add(a1, withTries(stats(1), tries('zone-b', 1)), 2_000);
      expect(window.readUpstreamZone('zone-b', 60_000, 2_000).requests).toBe(0);
      // Two hours later the invented zones are stale: a real one finds room.
      const later = 2 * 3_600_000;
      window.add(a1, withTries(stats(1), tries('zone-b', 3)), later);
      expect(window.readUpstreamZone('zone-b', 60_000, later).requests).toBe(3);
      expect(upstream().size).toBeLessThanOrEqual(bound);
    });
  });

  describe('per service and zone', () => {
    it('adds the answers for each service per zone of the reporting gateways, and lists each ended slot as a point, oldest first, then by service and zone', () => {
      const window = new PoolTrafficWindow();
      const t0 = 20 * SLOT_MS;
      window.add(a1, withServices(stats(30), answers('default/checkout', 20, 2, { retries: 3, rateLimited: 1, timeouts: 1 }), answers('shop/users', 10)), t0 + 1_000);
      // Another pool in the same zone: its gateways' answers for the service add up with edge's.
      window.add(other, withServices(stats(20), answers('default/checkout', 20, 0, { breakerOpen: 2, slow: true })), t0 + 3_000);
      window.add(b1, withServices(stats(5), answers('default/checkout', 5)), t0 + 2_000);
      window.add(a1, withServices(stats(10), answers('default/checkout', 10)), t0 + SLOT_MS + 1_000);

      const first = window.servicePoints(0, t0 + 2 * SLOT_MS - 1);
      expect(first).toEqual([
        {
          time: new Date(t0).toISOString(),
          service: 'default/checkout',
          zone: 'zone-a',
          gateways: 2,
          // Two gateways, each reporting 2 s: 40 answers over 2 s; counts scaled from 2 s to the slot's 5.
          requestsPerSecond: 40 / 2,
          serverErrorPercent: 5,
          p50Ms: expect.any(Number),
          p95Ms: expect.any(Number),
          p99Ms: expect.any(Number),
          rateLimited: 2.5,
          retries: 7.5,
          breakerOpen: 5,
          timeouts: 2.5,
        },
        expect.objectContaining({ time: new Date(t0).toISOString(), service: 'default/checkout', zone: 'zone-b', gateways: 1, requestsPerSecond: 2.5, serverErrorPercent: 0 }),
        expect.objectContaining({ time: new Date(t0).toISOString(), service: 'shop/users', zone: 'zone-a', gateways: 1, requestsPerSecond: 5 }),
      ]);
      // Half of zone-a's answers for checkout took 100-250 ms: p99 is there, p50 not above 50 ms.
      expect(first[0].p99Ms!).toBeGreaterThan(100);
      expect(first[0].p50Ms!).toBeLessThanOrEqual(50);
      expect(window.servicePoints(t0 + SLOT_MS, t0 + 2 * SLOT_MS).map((point) => [point.time, point.service, point.zone, point.requestsPerSecond])).toEqual([
        [new Date(t0 + SLOT_MS).toISOString(), 'default/checkout', 'zone-a', 5],
      ]);
      // The pool series count the heartbeats' totals as before.
      expect(window.points(0, t0 + SLOT_MS).map((point) => [point.pool, point.zone, point.requestsPerSecond])).toEqual([
        ['api', 'zone-a', 10],
        ['edge', 'zone-a', 15],
        ['edge', 'zone-b', 2.5],
      ]);
    });

    it('gives a slot whose reports had no answers for the service (only retries) no error share or quantiles', () => {
      const window = new PoolTrafficWindow();
      window.add(a1, withServices(stats(0), answers('default/checkout', 0, 0, { retries: 2 })), 1_000);
      expect(window.servicePoints(0, SLOT_MS)).toMatchObject([{ service: 'default/checkout', requestsPerSecond: 0, serverErrorPercent: null, p50Ms: null, p99Ms: null, retries: 5 }]);
    });

    it('leaves out entries that are not the protocol\'s whole, and keeps the well-formed ones and the rest of the heartbeat', () => {
      const window = new PoolTrafficWindow();
      const malformed = [
        null,
        'default/x',
        { ...answers('default/x', 10), service: 7 },
        // Not `namespace/name`, or longer than names may be.
        answers('x', 10),
        answers('default/x/y', 10),
        answers('/x', 10),
        answers(`default/${'x'.repeat(254)}`, 10),
        answers('default/x\u0000zone-b', 10),
        { ...answers('default/x', 10), requests: -1 },
        { ...answers('default/x', 10), retries: 'two' },
        { ...answers('default/x', 10), timeouts: Number.NaN },
        // More 5xx answers, or answers the gateway gave itself, than answers.
        answers('default/x', 10, 11),
        answers('default/x', 10, 0, { rateLimited: 11 }),
        answers('default/x', 10, 0, { breakerOpen: 11 }),
        answers('default/x', 10, 0, { timeouts: 11 }),
        { ...answers('default/x', 10), latencyHistogram: undefined },
        { ...answers('default/x', 10), latencyHistogram: { counts: [10], sumMs: 400 } },
        { ...answers('default/x', 10), latencyHistogram: { counts: new Array(14).fill(0), sumMs: -1 } },
        // Two entries for one service: which is right cannot be told, neither counts.
        answers('default/y', 10, 1),
        answers('default/y', 20, 2),
      ];
      window.add(a1, { ...stats(10), services: [...malformed, answers('default/checkout', 10, 4, { retries: 1 })] } as unknown as HeartbeatStats, 1_000);
      expect(window.servicePoints(0, SLOT_MS)).toEqual([expect.objectContaining({ service: 'default/checkout', zone: 'zone-a', requestsPerSecond: 5, serverErrorPercent: 40, retries: 2.5 })]);
      expect(window.read('edge', 'zone-a', 60_000, 2_000).requests).toBe(10);

      // Not a list, or longer than the protocol allows: none of it counts; the answers still do.
      window.add(a1, { ...stats(10), services: { service: 'default/checkout' } } as unknown as HeartbeatStats, 1_500);
      const tooMany = Array.from({ length: MAX_SERVICES_PER_HEARTBEAT + 1 }, (_, index) => answers(`default/service-${index}`, 1));
      window.add(a1, withServices(stats(10), answers('default/checkout', 10), ...tooMany), 1_500);
      // Heartbeats of gateways older than the field, and statistics that are not the protocol's at all.
      window.add(a2, stats(5), 1_500);
      window.add(a2, { ...withServices(stats(10), answers('default/checkout', 10)), requests: 'many' } as unknown as HeartbeatStats, 1_500);
      expect(window.servicePoints(0, SLOT_MS)).toEqual([expect.objectContaining({ service: 'default/checkout', gateways: 1, requestsPerSecond: 5 })]);
      expect(window.read('edge', 'zone-a', 60_000, 2_000).requests).toBe(35);
    });

    it('holds a bounded number of service and zone series, making room with series nobody reported for the longest window, never with reported ones', () => {
      const window = new PoolTrafficWindow();
      const services = () => (window as unknown as { services: Map<string, unknown> }).services;
      window.add(a1, withServices(stats(1), answers('default/checkout', 1)), 1_000);
      let service = 0;
      while (services().size < 5_000 && service < 5_000) {
        window.add(b1, withServices(stats(1), ...Array.from({ length: MAX_SERVICES_PER_HEARTBEAT }, () => answers(`invented/service-${service++}`, 1))), 1_000);
      }
      const bound = services().size;
      expect(bound).toBeLessThan(5_000);
      // Full: a new pair waits, the pairs already held keep counting.
      window.add(a1, withServices(stats(1), answers('default/checkout', 2), answers('default/users', 1)), 2_000);
      expect(window.servicePoints(0, SLOT_MS).filter((point) => point.zone === 'zone-a')).toEqual([expect.objectContaining({ service: 'default/checkout', requestsPerSecond: 3 / 4 })]);
      // Two hours later, only checkout kept reporting: the invented pairs are stale and a new one finds room.
      const later = 2 * 3_600_000;
      for (let t = 2_000; t <= later; t += 10 * 60_000) window.add(a1, withServices(stats(1), answers('default/checkout', 1)), t);
      window.add(a1, withServices(stats(1), answers('default/checkout', 1), answers('default/users', 3)), later);
      expect(window.servicePoints(later - SLOT_MS, later + SLOT_MS).map((point) => [point.service, point.requestsPerSecond])).toEqual([
        ['default/checkout', 1 / 2],
        ['default/users', 3 / 2],
      ]);
      expect(services().size).toBeLessThanOrEqual(bound);
    });
  });
});
