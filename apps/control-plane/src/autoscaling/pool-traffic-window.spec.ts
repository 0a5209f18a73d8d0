import type { HeartbeatStats } from '@portolan/agent-client';
import { describe, expect, it } from 'vitest';
import { histogramQuantile } from './latency-histogram';
import { PoolTrafficWindow, SLOT_MS } from './pool-traffic-window';

/** Heartbeat statistics with `requests` requests, all in the 25-50 ms bucket or, with `slow`, in 100-250 ms. */
function stats(requests: number, slow = false): HeartbeatStats {
  const counts = new Array(14).fill(0);
  counts[slow ? 7 : 5] = requests;
  return {
    periodMs: 2_000,
    requests,
    responses: { '2xx': requests, '3xx': 0, '4xx': 0, '5xx': 0 },
    errors: { rateLimited: 0, breakerOpen: 0, timeout: 0, connectFailure: 0, noRoute: 0, noEndpoint: 0 },
    retries: 0,
    latency: null,
    latencyHistogram: { counts, sumMs: requests * (slow ? 200 : 40) },
    breakers: [],
    ejectedEndpoints: [],
  };
}

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
});
