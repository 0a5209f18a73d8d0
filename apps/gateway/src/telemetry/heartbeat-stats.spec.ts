import { describe, expect, it } from 'vitest';
import { HeartbeatStatsCollector } from './heartbeat-stats.js';

describe('HeartbeatStatsCollector', () => {
  it('reports the deltas of one period and starts the next from zero', () => {
    let now = 1_000;
    const collector = new HeartbeatStatsCollector(() => now);
    for (let ms = 1; ms <= 100; ms++) collector.recordResponse(ms <= 90 ? 200 : 503, ms);
    collector.recordError('rateLimited');
    collector.recordRetry();
    now = 3_000;
    const stats = collector.collect([{ service: 'default/orders', state: 'open' }, { service: 'default/users', state: 'closed' }], []);
    expect(stats).toMatchObject({
      periodMs: 2_000,
      requests: 100,
      responses: { '2xx': 90, '3xx': 0, '4xx': 0, '5xx': 10 },
      retries: 1,
      latency: { p50Ms: 50, p95Ms: 95, p99Ms: 99 },
      breakers: [{ service: 'default/orders', state: 'open' }],
    });
    expect(stats.errors.rateLimited).toBe(1);
    now = 5_000;
    expect(collector.collect([], [])).toMatchObject({ periodMs: 2_000, requests: 0, latency: null, retries: 0 });
  });

  it('counts every latency in the protocol\'s histogram buckets, a bound itself in its own bucket, and sums them for the mean', () => {
    let now = 0;
    const collector = new HeartbeatStatsCollector(() => now);
    for (const ms of [0.4, 1, 1.2, 30, 30, 10_000, 12_000]) collector.recordResponse(200, ms);
    now = 2_000;
    const { latencyHistogram } = collector.collect([], []);
    // Buckets: <=1, <=2.5, <=5, <=10, <=25, <=50, ... <=10000, above.
    expect(latencyHistogram!.counts).toEqual([2, 1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 1, 1]);
    expect(latencyHistogram!.sumMs).toBeCloseTo(22_062.6, 3);
    expect(collector.collect([], []).latencyHistogram).toEqual({ counts: new Array(14).fill(0), sumMs: 0 });
  });

  it('keeps memory bounded under a burst', () => {
    const collector = new HeartbeatStatsCollector(() => 0, () => 0.999);
    for (let i = 0; i < 50_000; i++) collector.recordResponse(200, i % 100);
    const stats = collector.collect([], []);
    expect(stats.requests).toBe(50_000);
    expect(stats.latency!.p99Ms).toBeLessThan(100);
  });
});
