import { describe, expect, it } from 'vitest';
import { decideRollout, errorRatePercent, formatMs, formatPercent, type GuardBounds, type TrafficFigures } from './guard-decision';

const traffic = (requests: number, serverErrors: number, p99Ms: number | null = null): TrafficFigures => ({ requests, serverErrors, p99Ms });
const bounds = (overrides: Partial<GuardBounds> = {}): GuardBounds => ({ rollbackOnNack: true, ...overrides });
const NONE = traffic(0, 0);

describe('decideRollout', () => {
  const cases: Array<{
    name: string;
    baseline: TrafficFigures;
    window: TrafficFigures;
    bounds: GuardBounds;
    nacks?: number;
    nackMessages?: string[];
    rollback: boolean;
    unverified?: true;
    cause?: string;
    reason: string;
  }> = [
    {
      name: 'error rate above the bound and above the baseline',
      baseline: traffic(1000, 3),
      window: traffic(380, 160),
      bounds: bounds({ maxErrorRatePercent: 5 }),
      rollback: true,
      cause: 'error_rate',
      reason: '5xx 42% of 380 requests in the 30s window, above the 5% bound and the 0.3% before the change',
    },
    {
      name: 'error rate above the bound but the baseline was as bad: not blamed on the change',
      baseline: traffic(1000, 500),
      window: traffic(400, 180),
      bounds: bounds({ maxErrorRatePercent: 5 }),
      rollback: false,
      reason: 'no gateway rejected it; 5xx 45% of 400 requests in the 30s window is above the 5% bound but not above the 50% before the change: not blamed on it',
    },
    {
      name: 'error rate equal to a bad baseline: not above it',
      baseline: traffic(100, 20),
      window: traffic(100, 20),
      bounds: bounds({ maxErrorRatePercent: 5 }),
      rollback: false,
      reason: 'no gateway rejected it; 5xx 20% of 100 requests in the 30s window is above the 5% bound but not above the 20% before the change: not blamed on it',
    },
    {
      name: 'error rate higher than before but within the bound',
      baseline: traffic(1000, 1),
      window: traffic(1000, 40),
      bounds: bounds({ maxErrorRatePercent: 5 }),
      rollback: false,
      reason: 'no gateway rejected it; 5xx 4% of 1000 requests in the 30s window, within the 5% bound',
    },
    {
      name: 'no traffic in the window with bounds set: no verdict on rates, so unverified',
      baseline: traffic(1000, 1, 20),
      window: NONE,
      bounds: bounds({ maxErrorRatePercent: 5, maxP99LatencyMs: 100 }),
      rollback: false,
      unverified: true,
      reason: "no request through the gateways running it reached this control plane's heartbeats during the 30s window: the 5% error-rate bound and the 100 ms p99 bound could not be judged; no gateway rejected it",
    },
    {
      name: 'no traffic in the window with one bound set: unverified, a NACK not rolled back for named',
      baseline: NONE,
      window: NONE,
      bounds: bounds({ maxP99LatencyMs: 250, rollbackOnNack: false }),
      nacks: 1,
      rollback: false,
      unverified: true,
      reason:
        "no request through the gateways running it reached this control plane's heartbeats during the 30s window: the 250 ms p99 bound could not be judged; rejected (NACKed) by 1 gateway (rollbackOnNack is false: not rolled back for it)",
    },
    {
      name: 'no traffic in the window without bounds: nothing was asked to be judged, verified',
      baseline: NONE,
      window: NONE,
      bounds: bounds(),
      rollback: false,
      reason: 'no gateway rejected it; no traffic bounds set',
    },
    {
      name: 'no traffic before the change: the bound alone decides',
      baseline: NONE,
      window: traffic(200, 100),
      bounds: bounds({ maxErrorRatePercent: 10 }),
      rollback: true,
      cause: 'error_rate',
      reason: '5xx 50% of 200 requests in the 30s window, above the 10% bound (no requests before the change to compare with)',
    },
    {
      name: 'p99 above the bound and above the baseline',
      baseline: traffic(1000, 0, 120),
      window: traffic(1000, 0, 870.4),
      bounds: bounds({ maxP99LatencyMs: 500 }),
      rollback: true,
      cause: 'latency',
      reason: 'p99 870 ms in the 30s window, above the 500 ms bound and the 120 ms before the change',
    },
    {
      name: 'p99 above the bound but lower than before the change',
      baseline: traffic(1000, 0, 900),
      window: traffic(1000, 0, 700),
      bounds: bounds({ maxP99LatencyMs: 500 }),
      rollback: false,
      reason: 'no gateway rejected it; p99 700 ms in the 30s window is above the 500 ms bound but not above the 900 ms before the change: not blamed on it',
    },
    {
      name: 'p99 within the bound',
      baseline: traffic(1000, 0, 10),
      window: traffic(1000, 0, 2.55),
      bounds: bounds({ maxP99LatencyMs: 500 }),
      rollback: false,
      reason: 'no gateway rejected it; p99 2.5 ms in the 30s window, within the 500 ms bound',
    },
    {
      name: 'requests without a latency histogram: p99 not judged',
      baseline: traffic(1000, 0),
      window: traffic(1000, 0),
      bounds: bounds({ maxP99LatencyMs: 500 }),
      rollback: false,
      reason: 'no gateway rejected it; no latency measured in the 30s window: p99 not judged',
    },
    {
      name: 'both bounds broken: both named, the error rate first',
      baseline: traffic(1000, 0, 100),
      window: traffic(1000, 100, 900),
      bounds: bounds({ maxErrorRatePercent: 5, maxP99LatencyMs: 500 }),
      rollback: true,
      cause: 'error_rate',
      reason: '5xx 10% of 1000 requests in the 30s window, above the 5% bound and the 0% before the change; p99 900 ms in the 30s window, above the 500 ms bound and the 100 ms before the change',
    },
    {
      name: 'a NACK rolls back whatever the traffic',
      baseline: NONE,
      window: NONE,
      bounds: bounds({ maxErrorRatePercent: 5 }),
      nacks: 2,
      nackMessages: ['edge-a-1: burst: must be at least 1', 'edge-b-1: burst: must be at least 1'],
      rollback: true,
      cause: 'nack',
      reason: 'rejected (NACKed) by 2 gateways: edge-a-1: burst: must be at least 1; edge-b-1: burst: must be at least 1',
    },
    {
      name: 'NACKs quoted up to three',
      baseline: NONE,
      window: NONE,
      bounds: bounds(),
      nacks: 5,
      nackMessages: ['a: x', 'b: x', 'c: x', 'd: x', 'e: x'],
      rollback: true,
      cause: 'nack',
      reason: 'rejected (NACKed) by 5 gateways: a: x; b: x; c: x; and 2 more',
    },
    {
      name: 'a NACK with rollbackOnNack false is reported, not rolled back',
      baseline: traffic(100, 0),
      window: traffic(100, 0),
      bounds: bounds({ rollbackOnNack: false }),
      nacks: 1,
      rollback: false,
      reason: 'rejected (NACKed) by 1 gateway (rollbackOnNack is false: not rolled back for it); no traffic bounds set',
    },
    {
      name: 'no bounds and no NACK',
      baseline: traffic(100, 50),
      window: traffic(100, 90),
      bounds: bounds(),
      rollback: false,
      reason: 'no gateway rejected it; no traffic bounds set',
    },
  ];

  it.each(cases)('$name', ({ baseline, window, bounds, nacks, nackMessages, rollback, unverified, cause, reason }) => {
    const verdict = decideRollout({ baseline, window, windowMs: 30_000, bounds, nacks: nacks ?? 0, nackMessages });
    expect(verdict).toEqual({ rollback, reason, ...(unverified ? { unverified } : {}), ...(cause ? { cause } : {}) });
  });

  it('counts the gateways that ran the change when it could not be judged', () => {
    const verdict = decideRollout({ baseline: NONE, window: NONE, windowMs: 60_000, bounds: bounds({ maxErrorRatePercent: 1 }), nacks: 0, gateways: 3 });
    expect(verdict).toEqual({
      rollback: false,
      unverified: true,
      reason: "no request through the 3 gateways running it reached this control plane's heartbeats during the 1m window: the 1% error-rate bound could not be judged; no gateway rejected it",
    });
    expect(decideRollout({ baseline: NONE, window: NONE, windowMs: 60_000, bounds: bounds({ maxErrorRatePercent: 1 }), nacks: 0, gateways: 1 }).reason).toMatch(/^no request through the 1 gateway running it /);
  });

  it('names the window in Kubernetes duration notation', () => {
    const verdict = decideRollout({ baseline: traffic(10, 0), window: traffic(10, 5), windowMs: 60_000, bounds: bounds({ maxErrorRatePercent: 5 }), nacks: 0 });
    expect(verdict.reason).toBe('5xx 50% of 10 requests in the 1m window, above the 5% bound and the 0% before the change');
  });
});

describe('figures', () => {
  it.each([
    [42.105, '42%'],
    [5, '5%'],
    [4.25, '4.3%'],
    [0.3, '0.3%'],
    [0.046, '0.05%'],
    [0, '0%'],
  ])('formatPercent(%s) = %s', (value, text) => expect(formatPercent(value)).toBe(text));

  it.each([
    [870.4, '870 ms'],
    [2.55, '2.5 ms'],
    [10, '10 ms'],
  ])('formatMs(%s) = %s', (value, text) => expect(formatMs(value)).toBe(text));

  it('has no error rate without requests', () => {
    expect(errorRatePercent({ requests: 0, serverErrors: 0 })).toBeNull();
    expect(errorRatePercent({ requests: 8, serverErrors: 2 })).toBe(25);
  });
});
