import { describe, expect, it } from 'vitest';
import type { FailoverPolicySpec } from '@portolan/api';
import {
  describeZoneSignals,
  evaluateZones,
  failoverThresholds,
  unhealthyBecause,
  zoneStatesFromStatus,
  zoneStatuses,
  type FailoverThresholds,
  type ZoneSignals,
  type ZoneState,
  type ZoneTransition,
} from './zone-health';

const T0 = Date.parse('2026-12-02T10:00:00Z');
const SECOND = 1_000;

const BASE_SPEC: FailoverPolicySpec = { targetRef: { kind: 'Service', name: 'checkout' }, zones: [{ name: 'eu-1', priority: 0 }] };

/** The defaults: below 50% healthy endpoints for 2s fails over, 30s healthy fails back. */
const DEFAULTS = failoverThresholds(BASE_SPEC);

const ALL_CONDITIONS: FailoverThresholds = {
  ...DEFAULTS,
  healthyGatewaysBelowPercent: 50,
  errorRateAbovePercent: 20,
  p99LatencyAboveMs: 500,
};

function zone(name: string, overrides: Partial<Omit<ZoneSignals, 'zone'>> = {}): ZoneSignals {
  return {
    zone: name,
    endpoints: { total: 4, healthy: 4 },
    gateways: { total: 2, routable: 2 },
    requests: 120,
    errorRatePercent: 0,
    p99LatencyMs: 80,
    ...overrides,
  };
}

const healthy = (name: string) => zone(name);
/** 1 of 4 endpoints healthy: unhealthy under the default 50%. */
const sick = (name: string) => zone(name, { endpoints: { total: 4, healthy: 1 } });

/**
 * Runs evaluations on an injected clock: each step is the time since T0 and the zones' signals.
 * Returns the states after every step and every transition, with times relative to T0.
 */
function run(steps: Array<[atMs: number, signals: ZoneSignals[]]>, thresholds = DEFAULTS, start: ReadonlyMap<string, ZoneState> = new Map()) {
  let states: ReadonlyMap<string, ZoneState> = start;
  const history: Array<Map<string, ZoneState>> = [];
  const transitions: ZoneTransition[] = [];
  for (const [at, signals] of steps) {
    const result = evaluateZones(states, signals, thresholds, T0 + at);
    states = result.states;
    history.push(result.states);
    transitions.push(...result.transitions.map((t) => ({ ...t, detectedAt: t.detectedAt - T0, decidedAt: t.decidedAt - T0 })));
  }
  const brief = (t: ZoneTransition) => `${t.zone} ${t.from}->${t.to} detected ${t.detectedAt} decided ${t.decidedAt}`;
  return { states: states as Map<string, ZoneState>, history, transitions, brief: transitions.map(brief) };
}

/** Evaluates `signals` every second from 0 to `untilMs` (inclusive), picking the signals for each second. */
function every(untilMs: number, signalsAt: (atMs: number) => ZoneSignals[]): Array<[number, ZoneSignals[]]> {
  const steps: Array<[number, ZoneSignals[]]> = [];
  for (let at = 0; at <= untilMs; at += SECOND) steps.push([at, signalsAt(at)]);
  return steps;
}

describe('failoverThresholds', () => {
  it('takes the defaults from the schema', () => {
    expect(DEFAULTS).toEqual({ healthyEndpointsBelowPercent: 50, forMs: 2_000, healthyForMs: 30_000, measurementWindowMs: 5_000 });
  });

  it('reads every field and converts durations to milliseconds', () => {
    const thresholds = failoverThresholds({
      ...BASE_SPEC,
      unhealthyWhen: { healthyEndpointsBelowPercent: 70, healthyGatewaysBelowPercent: 40, errorRateAbovePercent: 10, p99LatencyAbove: '750ms', for: '10s' },
      failback: { healthyFor: '2m' },
    });
    expect(thresholds).toEqual({
      healthyEndpointsBelowPercent: 70,
      healthyGatewaysBelowPercent: 40,
      errorRateAbovePercent: 10,
      p99LatencyAboveMs: 750,
      forMs: 10_000,
      healthyForMs: 120_000,
      measurementWindowMs: 10_000,
    });
  });

  it('fills in what a partial unhealthyWhen or failback leaves out', () => {
    expect(failoverThresholds({ ...BASE_SPEC, unhealthyWhen: { errorRateAbovePercent: 5 }, failback: {} })).toEqual({
      healthyEndpointsBelowPercent: 50,
      errorRateAbovePercent: 5,
      forMs: 2_000,
      healthyForMs: 30_000,
      measurementWindowMs: 5_000,
    });
  });

  it.each([
    ['0s', 0, 5_000],
    ['5s', 5_000, 5_000],
    ['1m', 60_000, 60_000],
  ])('for %s: forMs %d, measured over %d ms', (duration, forMs, window) => {
    expect(failoverThresholds({ ...BASE_SPEC, unhealthyWhen: { for: duration } })).toMatchObject({ forMs, measurementWindowMs: window });
  });
});

describe('unhealthyBecause', () => {
  it.each<{ name: string; signals: Partial<Omit<ZoneSignals, 'zone'>>; thresholds?: FailoverThresholds; expected: string | undefined }>([
    // Endpoint share (default 50%): strictly below is unhealthy.
    { name: 'all endpoints healthy', signals: {}, expected: undefined },
    { name: 'exactly 50% healthy endpoints is healthy', signals: { endpoints: { total: 4, healthy: 2 } }, expected: undefined },
    { name: 'just below 50% healthy endpoints', signals: { endpoints: { total: 1000, healthy: 499 } }, expected: '499 of 1000 endpoints healthy (49.9%), below 50%' },
    { name: 'a share just below the threshold never reads as equal to it', signals: { endpoints: { total: 2000, healthy: 999 } }, expected: '999 of 2000 endpoints healthy (49.9%), below 50%' },
    { name: '1 of 4 endpoints', signals: { endpoints: { total: 4, healthy: 1 } }, expected: '1 of 4 endpoints healthy (25%), below 50%' },
    { name: '1 of 3 endpoints', signals: { endpoints: { total: 3, healthy: 1 } }, expected: '1 of 3 endpoints healthy (33.3%), below 50%' },
    { name: 'no endpoint healthy', signals: { endpoints: { total: 2, healthy: 0 } }, expected: '0 of 2 endpoints healthy (0%), below 50%' },
    { name: 'a configured endpoint share', signals: { endpoints: { total: 10, healthy: 7 } }, thresholds: { ...DEFAULTS, healthyEndpointsBelowPercent: 80 }, expected: '7 of 10 endpoints healthy (70%), below 80%' },
    { name: 'exactly at a configured endpoint share', signals: { endpoints: { total: 10, healthy: 8 } }, thresholds: { ...DEFAULTS, healthyEndpointsBelowPercent: 80 }, expected: undefined },
    { name: 'a zone with gateways but no endpoints is not judged on endpoints', signals: { endpoints: { total: 0, healthy: 0 } }, expected: undefined },

    // Gateway share: only when configured.
    { name: 'routable gateways are not counted by default', signals: { gateways: { total: 2, routable: 0 } }, expected: undefined },
    { name: 'no gateway routable', signals: { gateways: { total: 2, routable: 0 } }, thresholds: ALL_CONDITIONS, expected: '0 of 2 gateways routable (0%), below 50%' },
    { name: 'exactly 50% routable gateways is healthy', signals: { gateways: { total: 2, routable: 1 } }, thresholds: ALL_CONDITIONS, expected: undefined },
    { name: 'just below 50% routable gateways', signals: { gateways: { total: 200, routable: 99 } }, thresholds: ALL_CONDITIONS, expected: '99 of 200 gateways routable (49.5%), below 50%' },
    { name: 'a zone with endpoints but no gateways is not judged on gateways', signals: { gateways: { total: 0, routable: 0 } }, thresholds: ALL_CONDITIONS, expected: undefined },

    // Error rate: only when configured and measured; strictly above is unhealthy.
    { name: 'errors are not counted by default', signals: { errorRatePercent: 90 }, expected: undefined },
    { name: 'error rate above the threshold', signals: { errorRatePercent: 38 }, thresholds: ALL_CONDITIONS, expected: '38% of 120 tries to the zone\'s endpoints failed (5xx or no answer), above 20%' },
    { name: 'exactly 20% errors is healthy', signals: { errorRatePercent: 20 }, thresholds: ALL_CONDITIONS, expected: undefined },
    { name: 'an error rate just above the threshold never reads as equal to it', signals: { errorRatePercent: 20.01 }, thresholds: ALL_CONDITIONS, expected: '20.1% of 120 tries to the zone\'s endpoints failed (5xx or no answer), above 20%' },
    { name: 'no requests: error rate not judged', signals: { requests: 0, errorRatePercent: null, p99LatencyMs: null }, thresholds: ALL_CONDITIONS, expected: undefined },

    // Latency: only when configured and measured; strictly above is unhealthy.
    { name: 'latency is not counted by default', signals: { p99LatencyMs: 5_000 }, expected: undefined },
    { name: 'p99 latency above the threshold', signals: { p99LatencyMs: 840 }, thresholds: ALL_CONDITIONS, expected: 'p99 latency 840 ms, above 500 ms' },
    { name: 'exactly 500 ms is healthy', signals: { p99LatencyMs: 500 }, thresholds: ALL_CONDITIONS, expected: undefined },
    { name: 'latency just above the threshold', signals: { p99LatencyMs: 500.01 }, thresholds: ALL_CONDITIONS, expected: 'p99 latency 500.1 ms, above 500 ms' },

    // Any one condition is enough; all that hold are listed.
    {
      name: 'several conditions at once',
      signals: { endpoints: { total: 4, healthy: 1 }, gateways: { total: 2, routable: 0 }, errorRatePercent: 38, p99LatencyMs: 840 },
      thresholds: ALL_CONDITIONS,
      expected: '1 of 4 endpoints healthy (25%), below 50%; 0 of 2 gateways routable (0%), below 50%; 38% of 120 tries to the zone\'s endpoints failed (5xx or no answer), above 20%; p99 latency 840 ms, above 500 ms',
    },

    // Nothing to judge.
    { name: 'no endpoints and no gateways', signals: { endpoints: { total: 0, healthy: 0 }, gateways: { total: 0, routable: 0 } }, expected: undefined },
    {
      name: 'no endpoints and no gateways, even with traffic left in the window',
      signals: { endpoints: { total: 0, healthy: 0 }, gateways: { total: 0, routable: 0 }, errorRatePercent: 100, p99LatencyMs: 9_000 },
      thresholds: ALL_CONDITIONS,
      expected: undefined,
    },
  ])('$name', ({ signals, thresholds = DEFAULTS, expected }) => {
    expect(unhealthyBecause(zone('eu-1', signals), thresholds)).toBe(expected);
  });
});

describe('describeZoneSignals', () => {
  it.each<[string, Partial<Omit<ZoneSignals, 'zone'>>, FailoverThresholds, string]>([
    ['only what is judged, by default endpoints', {}, DEFAULTS, '4 of 4 endpoints healthy'],
    ['every configured condition', { errorRatePercent: 0.5 }, ALL_CONDITIONS, '4 of 4 endpoints healthy, 2 of 2 gateways routable, 0.5% of 120 tries to the zone\'s endpoints failed, p99 latency 80 ms'],
    ['unmeasured traffic is left out', { requests: 0, errorRatePercent: null, p99LatencyMs: null }, ALL_CONDITIONS, '4 of 4 endpoints healthy, 2 of 2 gateways routable'],
    ['gateways without endpoints', { endpoints: { total: 0, healthy: 0 } }, ALL_CONDITIONS, 'no endpoints, 2 of 2 gateways routable, 0% of 120 tries to the zone\'s endpoints failed, p99 latency 80 ms'],
    ['nothing at all', { endpoints: { total: 0, healthy: 0 }, gateways: { total: 0, routable: 0 } }, ALL_CONDITIONS, 'no endpoints or gateways'],
  ])('%s', (_name, signals, thresholds, expected) => {
    expect(describeZoneSignals(zone('eu-1', signals), thresholds)).toBe(expected);
  });
});

describe('evaluateZones: failing over', () => {
  it.each<{ name: string; forMs: number; steps: Array<[number, ZoneSignals[]]>; expected: string[] }>([
    {
      name: 'detection waits `for`: unhealthy at 0 and 1s is not yet enough, at 2s it is',
      forMs: 2_000,
      steps: every(3_000, () => [sick('eu-1')]),
      expected: ['eu-1 Healthy->FailedOver detected 0 decided 2000'],
    },
    {
      name: 'the wait counts from the first unhealthy reading, not from the first evaluation',
      forMs: 2_000,
      steps: every(6_000, (at) => [at >= 3_000 ? sick('eu-1') : healthy('eu-1')]),
      expected: ['eu-1 Healthy->FailedOver detected 3000 decided 5000'],
    },
    {
      name: 'a blip shorter than `for` causes nothing',
      forMs: 2_000,
      steps: every(10_000, (at) => [at === 3_000 || at === 4_000 ? sick('eu-1') : healthy('eu-1')]),
      expected: [],
    },
    {
      name: 'a healthy reading in between restarts the wait',
      forMs: 2_000,
      steps: every(10_000, (at) => [at === 2_000 ? healthy('eu-1') : sick('eu-1')]),
      expected: ['eu-1 Healthy->FailedOver detected 3000 decided 5000'],
    },
    {
      name: 'evaluations further apart than `for` decide on the second unhealthy reading',
      forMs: 2_000,
      steps: [[0, [sick('eu-1')]], [10_000, [sick('eu-1')]]],
      expected: ['eu-1 Healthy->FailedOver detected 0 decided 10000'],
    },
    {
      name: 'for 0 fails over on the first unhealthy reading',
      forMs: 0,
      steps: [[0, [healthy('eu-1')]], [1_000, [sick('eu-1')]]],
      expected: ['eu-1 Healthy->FailedOver detected 1000 decided 1000'],
    },
    {
      name: 'for 0 fails over a zone first seen unhealthy',
      forMs: 0,
      steps: [[0, [sick('eu-1')]]],
      expected: ['eu-1 Healthy->FailedOver detected 0 decided 0'],
    },
    {
      name: 'each zone is judged on its own, even when every zone fails over',
      forMs: 2_000,
      steps: every(2_000, () => [sick('us-1'), sick('eu-1'), healthy('ap-1')]).concat(every(2_000, () => [sick('us-1'), sick('eu-1'), sick('ap-1')]).map(([at, s]) => [at + 3_000, s])),
      expected: ['eu-1 Healthy->FailedOver detected 0 decided 2000', 'us-1 Healthy->FailedOver detected 0 decided 2000', 'ap-1 Healthy->FailedOver detected 3000 decided 5000'],
    },
  ])('$name', ({ forMs, steps, expected }) => {
    expect(run(steps, { ...DEFAULTS, forMs }).brief).toEqual(expected);
  });

  it('a failover transition carries detectedAt, decidedAt and the reason; the state records them', () => {
    const { transitions, states, history } = run(every(2_000, () => [sick('eu-1')]));
    expect(transitions).toEqual([{ zone: 'eu-1', from: 'Healthy', to: 'FailedOver', detectedAt: 0, decidedAt: 2_000, reason: '1 of 4 endpoints healthy (25%), below 50%' }]);
    expect(history[1].get('eu-1')).toEqual({
      zone: 'eu-1',
      state: 'Healthy',
      since: T0,
      reason: 'first seen: 1 of 4 endpoints healthy',
      pendingSince: T0,
      pendingReason: '1 of 4 endpoints healthy (25%), below 50%',
    });
    expect(states.get('eu-1')).toEqual({ zone: 'eu-1', state: 'FailedOver', since: T0 + 2_000, detectedAt: T0, reason: '1 of 4 endpoints healthy (25%), below 50%' });
  });

  it('the transition gives the latest reading, not the first', () => {
    const { transitions } = run([
      [0, [zone('eu-1', { endpoints: { total: 4, healthy: 1 } })]],
      [2_000, [zone('eu-1', { endpoints: { total: 4, healthy: 0 } })]],
    ]);
    expect(transitions.map((t) => t.reason)).toEqual(['0 of 4 endpoints healthy (0%), below 50%']);
  });

  it('a healthy reading clears the pending condition', () => {
    const { history } = run([[0, [sick('eu-1')]], [1_000, [healthy('eu-1')]]]);
    expect(history[0].get('eu-1')).toMatchObject({ state: 'Healthy', pendingSince: T0 });
    expect(history[1].get('eu-1')).toEqual({ zone: 'eu-1', state: 'Healthy', since: T0, reason: 'first seen: 1 of 4 endpoints healthy' });
  });

  it.each<{ condition: string; bad: Partial<Omit<ZoneSignals, 'zone'>>; atThreshold: Partial<Omit<ZoneSignals, 'zone'>>; reason: string }>([
    { condition: 'endpoint share', bad: { endpoints: { total: 4, healthy: 1 } }, atThreshold: { endpoints: { total: 4, healthy: 2 } }, reason: '1 of 4 endpoints healthy (25%), below 50%' },
    { condition: 'gateway share', bad: { gateways: { total: 2, routable: 0 } }, atThreshold: { gateways: { total: 2, routable: 1 } }, reason: '0 of 2 gateways routable (0%), below 50%' },
    { condition: 'error rate', bad: { errorRatePercent: 38 }, atThreshold: { errorRatePercent: 20 }, reason: '38% of 120 tries to the zone\'s endpoints failed (5xx or no answer), above 20%' },
    { condition: 'latency', bad: { p99LatencyMs: 840 }, atThreshold: { p99LatencyMs: 500 }, reason: 'p99 latency 840 ms, above 500 ms' },
  ])('$condition alone fails a zone over; exactly at the threshold never does', ({ bad, atThreshold, reason }) => {
    expect(run(every(5_000, () => [zone('eu-1', bad)]), ALL_CONDITIONS).transitions).toEqual([{ zone: 'eu-1', from: 'Healthy', to: 'FailedOver', detectedAt: 0, decidedAt: 2_000, reason }]);
    expect(run(every(5_000, () => [zone('eu-1', atThreshold)]), ALL_CONDITIONS).transitions).toEqual([]);
  });
});

describe('evaluateZones: failing back', () => {
  /** eu-1 failed over at 2s (unhealthy from 0); the steps after that start at 3s. */
  const failedOver = run(every(2_000, () => [sick('eu-1')])).states;

  it.each<{ name: string; healthyForMs?: number; steps: Array<[number, ZoneSignals[]]>; expected: string[] }>([
    {
      name: 'fails back only after healthyFor of continuous health',
      steps: every(40_000, (at) => [at >= 3_000 ? healthy('eu-1') : sick('eu-1')]).filter(([at]) => at >= 3_000),
      expected: ['eu-1 FailedOver->Healthy detected 3000 decided 33000'],
    },
    {
      name: 'healthy for less than healthyFor is not enough',
      steps: every(32_000, (at) => [at >= 3_000 ? healthy('eu-1') : sick('eu-1')]).filter(([at]) => at >= 3_000),
      expected: [],
    },
    {
      name: 'an unhealthy reading during the wait restarts it',
      steps: every(60_000, (at) => [at === 20_000 ? sick('eu-1') : healthy('eu-1')]).filter(([at]) => at >= 3_000),
      expected: ['eu-1 FailedOver->Healthy detected 21000 decided 51000'],
    },
    {
      name: 'healthyFor 0 fails back on the first healthy reading',
      healthyForMs: 0,
      steps: [[3_000, [sick('eu-1')]], [4_000, [healthy('eu-1')]]],
      expected: ['eu-1 FailedOver->Healthy detected 4000 decided 4000'],
    },
    {
      name: 'after failing back, the zone needs `for` again to fail over',
      healthyForMs: 0,
      steps: [[3_000, [healthy('eu-1')]], [4_000, [sick('eu-1')]], [5_000, [sick('eu-1')]], [6_000, [sick('eu-1')]]],
      expected: ['eu-1 FailedOver->Healthy detected 3000 decided 3000', 'eu-1 Healthy->FailedOver detected 4000 decided 6000'],
    },
  ])('$name', ({ healthyForMs = DEFAULTS.healthyForMs, steps, expected }) => {
    expect(run(steps, { ...DEFAULTS, healthyForMs }, failedOver).brief).toEqual(expected);
  });

  it('a failed-over zone keeps its state, follows its latest unhealthy reading and shows the pending recovery', () => {
    const { history } = run(
      [
        [3_000, [zone('eu-1', { endpoints: { total: 4, healthy: 0 } })]],
        [4_000, [healthy('eu-1')]],
        [5_000, [healthy('eu-1')]],
      ],
      DEFAULTS,
      failedOver,
    );
    expect(history[0].get('eu-1')).toEqual({ zone: 'eu-1', state: 'FailedOver', since: T0 + 2_000, detectedAt: T0, reason: '0 of 4 endpoints healthy (0%), below 50%' });
    expect(history[2].get('eu-1')).toEqual({
      zone: 'eu-1',
      state: 'FailedOver',
      since: T0 + 2_000,
      detectedAt: T0,
      reason: '0 of 4 endpoints healthy (0%), below 50%',
      pendingSince: T0 + 4_000,
      pendingReason: 'healthy again: 4 of 4 endpoints healthy',
    });
  });

  it('the failback transition says the zone is healthy again, with the numbers', () => {
    const { transitions, states } = run([[3_000, [healthy('eu-1')]], [33_000, [healthy('eu-1')]]], DEFAULTS, failedOver);
    expect(transitions).toEqual([{ zone: 'eu-1', from: 'FailedOver', to: 'Healthy', detectedAt: 3_000, decidedAt: 33_000, reason: 'healthy again: 4 of 4 endpoints healthy' }]);
    expect(states.get('eu-1')).toEqual({ zone: 'eu-1', state: 'Healthy', since: T0 + 33_000, detectedAt: T0 + 3_000, reason: 'healthy again: 4 of 4 endpoints healthy' });
  });
});

describe('evaluateZones: zones appearing and disappearing', () => {
  it('a new zone starts Healthy, since its first evaluation', () => {
    const { history } = run([[0, [healthy('eu-1')]], [5_000, [healthy('eu-1'), healthy('us-1')]]]);
    expect(history[1].get('us-1')).toEqual({ zone: 'us-1', state: 'Healthy', since: T0 + 5_000, reason: 'first seen: 4 of 4 endpoints healthy' });
    expect([...history[1].keys()]).toEqual(['eu-1', 'us-1']);
  });

  it('a zone without endpoints or gateways is kept but never judged', () => {
    const empty = zone('eu-1', { endpoints: { total: 0, healthy: 0 }, gateways: { total: 0, routable: 0 }, requests: 0, errorRatePercent: null, p99LatencyMs: null });
    const { states, transitions } = run(every(10_000, () => [empty]), { ...ALL_CONDITIONS, forMs: 0 });
    expect(transitions).toEqual([]);
    expect(states.get('eu-1')).toEqual({ zone: 'eu-1', state: 'Healthy', since: T0, reason: 'first seen: no endpoints or gateways' });
  });

  it('a Healthy zone that vanishes is dropped, pending condition and all', () => {
    const { history, transitions } = run([[0, [healthy('eu-1'), sick('us-1')]], [1_000, [healthy('eu-1')]], [5_000, [healthy('eu-1'), sick('us-1')]]]);
    expect([...history[1].keys()]).toEqual(['eu-1']);
    // It comes back as new: the wait starts again.
    expect(history[2].get('us-1')).toMatchObject({ state: 'Healthy', since: T0 + 5_000, pendingSince: T0 + 5_000 });
    expect(transitions).toEqual([]);
  });

  it('a FailedOver zone that vanishes is kept until it has been gone for healthyFor, then fails back and is dropped', () => {
    const failedOver = run(every(2_000, () => [sick('eu-1'), healthy('us-1')])).states;
    const { history, transitions } = run(every(40_000, () => [healthy('us-1')]).filter(([at]) => at >= 3_000), DEFAULTS, failedOver);
    expect(history[0].get('eu-1')).toMatchObject({ state: 'FailedOver', pendingSince: T0 + 3_000, pendingReason: 'healthy again: no endpoints or gateways' });
    expect(transitions).toEqual([{ zone: 'eu-1', from: 'FailedOver', to: 'Healthy', detectedAt: 3_000, decidedAt: 33_000, reason: 'healthy again: no endpoints or gateways' }]);
    expect([...history[29].keys()]).toEqual(['eu-1', 'us-1']); // 32s: still waiting
    expect([...history[30].keys()]).toEqual(['us-1']); // 33s: failed back and dropped
  });

  it('a FailedOver zone that comes back unhealthy before healthyFor stays failed over', () => {
    const failedOver = run(every(2_000, () => [sick('eu-1')])).states;
    const { states, transitions } = run([[3_000, []], [10_000, [sick('eu-1')]], [40_000, [sick('eu-1')]]], DEFAULTS, failedOver);
    expect(transitions).toEqual([]);
    expect(states.get('eu-1')).toEqual({ zone: 'eu-1', state: 'FailedOver', since: T0 + 2_000, detectedAt: T0, reason: '1 of 4 endpoints healthy (25%), below 50%' });
  });

  it('states and transitions are sorted by zone, whatever the order of the signals', () => {
    const { states, transitions } = evaluateZones(new Map(), [sick('us-1'), healthy('ap-1'), sick('eu-1')], { ...DEFAULTS, forMs: 0 }, T0);
    expect([...states.keys()]).toEqual(['ap-1', 'eu-1', 'us-1']);
    expect(transitions.map((t) => t.zone)).toEqual(['eu-1', 'us-1']);
  });

  it('does not change the previous states', () => {
    const previous = run([[0, [sick('eu-1')]]]).states;
    const copy = structuredClone(previous);
    evaluateZones(previous, [sick('eu-1')], DEFAULTS, T0 + 5_000);
    evaluateZones(previous, [], DEFAULTS, T0 + 5_000);
    expect(previous).toEqual(copy);
  });
});

describe('status', () => {
  it('lists the zones that are FailedOver or have changed state, in RFC 3339, without pending conditions', () => {
    const states = new Map<string, ZoneState>([
      ['us-1', { zone: 'us-1', state: 'FailedOver', since: T0 + 2_000, detectedAt: T0, reason: '1 of 4 endpoints healthy (25%), below 50%', pendingSince: T0 + 3_000, pendingReason: 'healthy again: 4 of 4 endpoints healthy' }],
      ['eu-1', { zone: 'eu-1', state: 'Healthy', since: T0 + 33_000, detectedAt: T0 + 3_000, reason: 'healthy again: 4 of 4 endpoints healthy' }],
      ['ap-1', { zone: 'ap-1', state: 'Healthy', since: T0, reason: 'first seen: 4 of 4 endpoints healthy', pendingSince: T0, pendingReason: '1 of 4 endpoints healthy (25%), below 50%' }],
    ]);
    expect(zoneStatuses(states)).toEqual([
      { zone: 'eu-1', state: 'Healthy', since: '2026-12-02T10:00:33Z', detectedAt: '2026-12-02T10:00:03Z', reason: 'healthy again: 4 of 4 endpoints healthy' },
      { zone: 'us-1', state: 'FailedOver', since: '2026-12-02T10:00:02Z', detectedAt: '2026-12-02T10:00:00Z', reason: '1 of 4 endpoints healthy (25%), below 50%' },
    ]);
  });

  it('a controller taking over from the status keeps failed-over zones failed over for a full healthyFor', () => {
    const restored = zoneStatesFromStatus(
      [{ zone: 'eu-1', state: 'FailedOver', since: '2026-12-02T10:00:02Z', detectedAt: '2026-12-02T10:00:00Z', reason: '1 of 4 endpoints healthy (25%), below 50%' }],
      T0 + 100_000,
    );
    expect(restored.get('eu-1')).toEqual({ zone: 'eu-1', state: 'FailedOver', since: T0 + 2_000, detectedAt: T0, reason: '1 of 4 endpoints healthy (25%), below 50%' });
    const { brief } = run(every(135_000, () => [healthy('eu-1')]).filter(([at]) => at >= 100_000), DEFAULTS, restored);
    expect(brief).toEqual(['eu-1 FailedOver->Healthy detected 100000 decided 130000']);
  });

  it('reads a time that does not parse as now, and no status as no states', () => {
    expect(zoneStatesFromStatus([{ zone: 'eu-1', state: 'FailedOver', since: 'yesterday', reason: 'r' }], T0).get('eu-1')).toEqual({ zone: 'eu-1', state: 'FailedOver', since: T0, reason: 'r' });
    expect(zoneStatesFromStatus(undefined, T0).size).toBe(0);
  });

  it('round-trips through the status', () => {
    const { states } = run(every(2_000, () => [sick('eu-1'), healthy('us-1')]));
    expect(zoneStatesFromStatus(zoneStatuses(states), T0)).toEqual(new Map([['eu-1', states.get('eu-1')]]));
  });
});
