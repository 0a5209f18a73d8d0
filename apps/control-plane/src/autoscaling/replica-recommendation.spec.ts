import { describe, expect, it } from 'vitest';
import type { AutoscalePolicySpec } from '@portolan/api';
import {
  decideReplicas,
  normalizeBehavior,
  rawRecommendation,
  type Decision,
  type DecisionInput,
  type ScalingBehavior,
} from './replica-recommendation';

const NOW = 10_000_000;
const SECOND = 1_000;
const MINUTE = 60 * SECOND;

const HPA_DEFAULTS: ScalingBehavior = {
  tolerance: 0.1,
  scaleUp: {
    stabilizationWindowMs: 0,
    policies: [
      { type: 'Percent', value: 100, periodMs: 15 * SECOND },
      { type: 'Pods', value: 4, periodMs: 15 * SECOND },
    ],
    selectPolicy: 'Max',
  },
  scaleDown: { stabilizationWindowMs: 5 * MINUTE, policies: [{ type: 'Percent', value: 100, periodMs: 15 * SECOND }], selectPolicy: 'Max' },
};

function input(overrides: Partial<DecisionInput> & { spec?: AutoscalePolicySpec['behavior'] }): DecisionInput {
  const { spec, ...rest } = overrides;
  return {
    now: NOW,
    current: 2,
    metric: null,
    minReplicas: 1,
    maxReplicas: 20,
    missingBefore: 0,
    behavior: normalizeBehavior(spec),
    recommendations: [],
    scaleEvents: [],
    ...rest,
  };
}

/** A latency reading against a 30 ms target. */
const latency = (value: number) => ({ value, target: 30 });

describe('rawRecommendation', () => {
  it.each<{ name: string; current: number; value: number; target?: number; expected: number }>([
    { name: 'latency doubling doubles gateways', current: 2, value: 60, expected: 4 },
    { name: 'latency tripling on 4 gateways asks for 12', current: 4, value: 90, expected: 12 },
    { name: 'exactly 10% above the target is within the tolerance', current: 4, value: 33, expected: 4 },
    { name: 'exactly 10% below the target is within the tolerance', current: 4, value: 27, expected: 4 },
    { name: 'just outside the tolerance rounds up', current: 4, value: 34, expected: 5 },
    { name: 'a third of the target on 10 gateways asks for 4', current: 10, value: 10, expected: 4 },
    { name: 'whole-number readings never add a gateway through rounding noise (290 vs 70 on 7 is exactly 29)', current: 7, value: 290, target: 70, expected: 29 },
    { name: 'no load asks for 0 (the minimum applies later)', current: 5, value: 0, expected: 0 },
    { name: 'from 0 gateways the reading counts as one gateway', current: 0, value: 75, expected: 3 },
    { name: 'from 0 gateways there is no tolerance', current: 0, value: 31, expected: 2 },
  ])('$name', ({ current, value, target = 30, expected }) => {
    expect(rawRecommendation(current, value, target, 0.1)).toBe(expected);
  });

  it.each<{ name: string; args: Parameters<typeof rawRecommendation> }>([
    { name: 'a target of 0', args: [2, 10, 0, 0.1] },
    { name: 'a negative reading', args: [2, -1, 30, 0.1] },
    { name: 'a fractional gateway count', args: [2.5, 10, 30, 0.1] },
  ])('rejects $name', ({ args }) => {
    expect(() => rawRecommendation(...args)).toThrow(RangeError);
  });
});

describe('normalizeBehavior', () => {
  it.each<{ name: string; spec: AutoscalePolicySpec['behavior']; expected: ScalingBehavior }>([
    { name: 'no behavior: the HPA defaults', spec: undefined, expected: HPA_DEFAULTS },
    { name: 'an empty behavior: the HPA defaults', spec: {}, expected: HPA_DEFAULTS },
    {
      name: 'only selectPolicy on scale-up keeps the default window and policies',
      spec: { scaleUp: { selectPolicy: 'Min' } },
      expected: { ...HPA_DEFAULTS, scaleUp: { ...HPA_DEFAULTS.scaleUp, selectPolicy: 'Min' } },
    },
    {
      name: 'tolerance and scale-down policies replace only what they set',
      spec: { tolerancePercent: 5, scaleDown: { stabilizationWindow: '1m30s', policies: [{ type: 'Pods', value: 1, period: '30s' }] } },
      expected: {
        ...HPA_DEFAULTS,
        tolerance: 0.05,
        scaleDown: { stabilizationWindowMs: 90 * SECOND, policies: [{ type: 'Pods', value: 1, periodMs: 30 * SECOND }], selectPolicy: 'Max' },
      },
    },
    {
      name: 'a scale-up window and Disabled scale-down',
      spec: { scaleUp: { stabilizationWindow: '2m' }, scaleDown: { selectPolicy: 'Disabled' } },
      expected: {
        ...HPA_DEFAULTS,
        scaleUp: { ...HPA_DEFAULTS.scaleUp, stabilizationWindowMs: 2 * MINUTE },
        scaleDown: { ...HPA_DEFAULTS.scaleDown, selectPolicy: 'Disabled' },
      },
    },
  ])('$name', ({ spec, expected }) => {
    expect(normalizeBehavior(spec)).toEqual(expected);
  });

});

interface DecisionCase {
  name: string;
  given: Parameters<typeof input>[0];
  expected: Partial<Decision>;
}

describe('decideReplicas', () => {
  it.each<DecisionCase>([
    // The metric's count
    {
      name: 'latency doubling doubles gateways',
      given: { current: 2, metric: latency(60) },
      expected: { desired: 4, reason: 'ScaleUp', limited: false, recommendation: 4, message: 'metric 60 vs target 30: 2 -> 4 gateways (raw 4)' },
    },
    {
      name: 'within the 10% tolerance nothing changes',
      given: { current: 4, metric: latency(32) },
      expected: { desired: 4, reason: 'WithinTolerance', limited: false, recommendation: 4, message: 'metric 32 vs target 30 is within the 10% tolerance: stays at 4 gateways' },
    },
    {
      name: 'a configured 5% tolerance lets a 7% rise add a gateway',
      given: { current: 4, metric: latency(32.1), spec: { tolerancePercent: 5 } },
      expected: { desired: 5, reason: 'ScaleUp', message: 'metric 32.1 vs target 30: 4 -> 5 gateways (raw 5)' },
    },
    {
      name: 'a reading below the target that still needs every gateway changes nothing',
      given: { current: 1, metric: latency(15) },
      expected: { desired: 1, reason: 'Unchanged', limited: false, recommendation: 1 },
    },

    // Scale-down stabilization (default 5 minutes)
    {
      name: 'scale-down is held while a recommendation in the last 5 minutes was higher',
      given: { current: 6, metric: latency(10), recommendations: [{ at: NOW - 4 * MINUTE, replicas: 6 }] },
      expected: {
        desired: 6,
        reason: 'Stabilizing',
        limited: true,
        recommendation: 2,
        message: 'metric 10 vs target 30: stays at 6 gateways (raw 2): the highest recommendation in the last 5m is 6',
      },
    },
    {
      name: 'scale-down goes only as far as the highest recommendation in the window',
      given: { current: 6, metric: latency(10), recommendations: [{ at: NOW - 4 * MINUTE, replicas: 4 }, { at: NOW - 6 * MINUTE, replicas: 8 }] },
      expected: { desired: 4, reason: 'Stabilizing', limited: true },
    },
    {
      name: 'scale-down happens once the higher recommendation is 5 minutes old',
      given: { current: 6, metric: latency(10), recommendations: [{ at: NOW - 5 * MINUTE, replicas: 6 }] },
      expected: { desired: 2, reason: 'ScaleDown', limited: false },
    },
    {
      name: 'a scale-up stabilization window adds only what every recent recommendation agreed on',
      given: { current: 2, metric: latency(90), spec: { scaleUp: { stabilizationWindow: '1m' } }, recommendations: [{ at: NOW - 30 * SECOND, replicas: 3 }] },
      expected: { desired: 3, reason: 'Stabilizing', limited: true, message: 'metric 90 vs target 30: 2 -> 3 gateways (raw 6): the lowest recommendation in the last 1m is 3' },
    },
    {
      name: 'with no scale-up window a spike scales up at once',
      given: { current: 2, metric: latency(90), recommendations: [{ at: NOW - 15 * SECOND, replicas: 2 }] },
      expected: { desired: 6, reason: 'ScaleUp', limited: false },
    },

    // Rate policies
    {
      name: 'scale-up from 2 adds at most 4 per 15s (100% = +2, Pods = +4, the larger)',
      given: { current: 2, metric: latency(210) },
      expected: {
        desired: 6,
        reason: 'RateLimited',
        limited: true,
        recommendation: 14,
        message: 'metric 210 vs target 30: 2 -> 6 gateways (raw 14): the scale-up policies (100% per 15s, 4 gateways per 15s; the larger) allow 6 now',
      },
    },
    {
      name: 'scale-up from 10 may double (100% = +10 beats +4)',
      given: { current: 10, metric: latency(90) },
      expected: { desired: 20, reason: 'AtMaximum', limited: true },
    },
    {
      name: 'scale-up from 10 doubles when the maximum is higher',
      given: { current: 10, metric: latency(90), maxReplicas: 50 },
      expected: { desired: 20, reason: 'RateLimited', limited: true },
    },
    {
      name: 'gateways added in the last 15s use up the scale-up budget',
      given: { current: 6, metric: latency(70), scaleEvents: [{ at: NOW - 10 * SECOND, change: 4 }] },
      expected: { desired: 6, reason: 'RateLimited', limited: true, recommendation: 14 },
    },
    {
      name: 'a scale event 15s old no longer counts',
      given: { current: 6, metric: latency(70), scaleEvents: [{ at: NOW - 15 * SECOND, change: 4 }] },
      expected: { desired: 12, reason: 'RateLimited' },
    },
    {
      name: 'selectPolicy Min on scale-up takes the smaller step (100% of 2 = +2)',
      given: { current: 2, metric: latency(210), spec: { scaleUp: { selectPolicy: 'Min' } } },
      expected: { desired: 4, reason: 'RateLimited', limited: true, message: expect.stringContaining('(100% per 15s, 4 gateways per 15s; the smaller) allow 4 now') },
    },
    {
      name: 'a Pods scale-down policy removes one gateway per period',
      given: { current: 6, metric: latency(10), spec: { scaleDown: { stabilizationWindow: '0s', policies: [{ type: 'Pods', value: 1, period: '1m' }] } } },
      expected: { desired: 5, reason: 'RateLimited', message: 'metric 10 vs target 30: 6 -> 5 gateways (raw 2): the scale-down policies (1 gateway per 1m) allow 5 now' },
    },
    {
      name: 'a Pods scale-down policy counts gateways removed earlier in the period',
      given: {
        current: 5,
        metric: latency(10),
        spec: { scaleDown: { stabilizationWindow: '0s', policies: [{ type: 'Pods', value: 2, period: '1m' }] } },
        scaleEvents: [{ at: NOW - 30 * SECOND, change: -1 }],
      },
      expected: { desired: 4, reason: 'RateLimited' },
    },
    {
      name: 'selectPolicy Max on scale-down takes the bigger step (50% of 6 beats 1 gateway)',
      given: {
        current: 6,
        metric: latency(5),
        spec: { scaleDown: { stabilizationWindow: '0s', policies: [{ type: 'Pods', value: 1, period: '1m' }, { type: 'Percent', value: 50, period: '1m' }] } },
      },
      expected: { desired: 3, reason: 'RateLimited' },
    },
    {
      name: 'selectPolicy Min on scale-down takes the smaller step (1 gateway beats 50% of 6)',
      given: {
        current: 6,
        metric: latency(5),
        spec: { scaleDown: { stabilizationWindow: '0s', selectPolicy: 'Min', policies: [{ type: 'Pods', value: 1, period: '1m' }, { type: 'Percent', value: 50, period: '1m' }] } },
      },
      expected: { desired: 5, reason: 'RateLimited' },
    },
    {
      name: 'a Percent scale-down policy rounds the remaining count down (50% of 3 leaves 1)',
      given: { current: 3, metric: latency(0), minReplicas: 0, spec: { scaleDown: { stabilizationWindow: '0s', policies: [{ type: 'Percent', value: 50, period: '1m' }] } } },
      expected: { desired: 1, reason: 'RateLimited' },
    },
    {
      name: 'selectPolicy Disabled on scale-down never removes gateways',
      given: { current: 6, metric: latency(10), spec: { scaleDown: { selectPolicy: 'Disabled' } } },
      expected: { desired: 6, reason: 'ScalingDisabled', limited: true, recommendation: 2, message: 'metric 10 vs target 30: stays at 6 gateways (raw 2): scaling down is disabled' },
    },
    {
      name: 'selectPolicy Disabled on scale-down still lets the pool grow',
      given: { current: 2, metric: latency(60), spec: { scaleDown: { selectPolicy: 'Disabled' } } },
      expected: { desired: 4, reason: 'ScaleUp' },
    },
    {
      name: 'selectPolicy Disabled on scale-up never adds gateways',
      given: { current: 2, metric: latency(60), spec: { scaleUp: { selectPolicy: 'Disabled' } } },
      expected: { desired: 2, reason: 'ScalingDisabled', limited: true },
    },

    // Bounds
    {
      name: 'the maximum caps a scale-up',
      given: { current: 4, metric: latency(60), maxReplicas: 5 },
      expected: { desired: 5, reason: 'AtMaximum', limited: true, recommendation: 8, message: 'metric 60 vs target 30: 4 -> 5 gateways (raw 8): 5 is the maximum' },
    },
    {
      name: 'at the maximum a higher reading changes nothing',
      given: { current: 5, metric: latency(60), maxReplicas: 5 },
      expected: { desired: 5, reason: 'AtMaximum', limited: true },
    },
    {
      name: 'the minimum stops a scale-down to zero load',
      given: { current: 3, metric: latency(0), minReplicas: 2 },
      expected: { desired: 2, reason: 'AtMinimum', limited: true, recommendation: 0 },
    },
    {
      name: 'above the maximum moves to it even within the tolerance',
      given: { current: 12, metric: latency(30), maxReplicas: 10 },
      expected: { desired: 10, reason: 'AtMaximum', limited: true, recommendation: undefined, message: '12 gateways is above the maximum of 10: 12 -> 10 gateways' },
    },
    {
      name: 'below the minimum moves to it even within the tolerance',
      given: { current: 1, metric: latency(30), minReplicas: 3 },
      expected: { desired: 3, reason: 'AtMinimum', limited: true, recommendation: undefined },
    },
    {
      name: 'from 0 gateways starts the count the load asks for, past the rate policies',
      given: { current: 0, metric: latency(210) },
      expected: { desired: 7, reason: 'ScaleUp', recommendation: 7, message: 'metric 210 vs target 30: 0 -> 7 gateways (raw 7)' },
    },
    {
      name: 'from 0 gateways starts at least the minimum',
      given: { current: 0, metric: latency(30), minReplicas: 2 },
      expected: { desired: 2, reason: 'AtMinimum', recommendation: 1, message: 'metric 30 vs target 30: 0 -> 2 gateways (raw 1): 2 is the minimum' },
    },
    {
      name: 'from 0 gateways with no load and a minimum of 0 stays at 0',
      given: { current: 0, metric: latency(0), minReplicas: 0 },
      expected: { desired: 0, reason: 'Unchanged', recommendation: 0, message: 'metric 0 vs target 30: stays at 0 gateways (raw 0)' },
    },

    // Missing metric and fallback
    {
      name: 'a missing metric holds the count and records nothing',
      given: { current: 4, metric: null, recommendations: [{ at: NOW - MINUTE, replicas: 9 }] },
      expected: { desired: 4, reason: 'MetricMissing', limited: false, recommendation: undefined, recommendations: [{ at: NOW - MINUTE, replicas: 9 }], message: 'metric missing for 1 evaluation: holding 4 gateways' },
    },
    {
      name: 'a reading that is not a number counts as missing',
      given: { current: 4, metric: { value: Number.NaN, target: 30 } },
      expected: { desired: 4, reason: 'MetricMissing' },
    },
    {
      name: 'the fallback waits for the third miss in a row',
      given: { current: 5, metric: null, missingBefore: 1, fallback: { replicas: 3, failureThreshold: 3 } },
      expected: { desired: 5, reason: 'MetricMissing', message: 'metric missing for 2 evaluations in a row: holding 5 gateways; fallback to 3 gateways after 3' },
    },
    {
      name: 'the fallback applies on the third miss, past the scale-down window and policies',
      given: {
        current: 5,
        metric: null,
        missingBefore: 2,
        fallback: { replicas: 3, failureThreshold: 3 },
        recommendations: [{ at: NOW - MINUTE, replicas: 8 }],
        spec: { scaleDown: { policies: [{ type: 'Pods', value: 1, period: '10m' }] } },
      },
      expected: { desired: 3, reason: 'FallbackApplied', limited: false, recommendation: undefined, message: 'metric missing for 3 evaluations in a row (fallback after 3): 5 -> 3 gateways (fallback 3)' },
    },
    {
      name: 'the fallback keeps applying while the metric stays missing',
      given: { current: 3, metric: null, missingBefore: 7, fallback: { replicas: 3, failureThreshold: 3 } },
      expected: { desired: 3, reason: 'FallbackApplied' },
    },
    {
      name: 'a failure threshold of 1 applies the fallback on the first miss',
      given: { current: 2, metric: null, fallback: { replicas: 6, failureThreshold: 1 } },
      expected: { desired: 6, reason: 'FallbackApplied' },
    },
    {
      name: 'without data the count still moves into the bounds',
      given: { current: 1, metric: null, minReplicas: 2 },
      expected: { desired: 2, reason: 'AtMinimum' },
    },
  ])('$name', ({ given, expected }) => {
    const decision = decideReplicas(input(given));
    const { recommendation, ...rest } = expected;
    expect(decision).toMatchObject(rest);
    // Also checks "nothing recorded", which toMatchObject cannot tell from a missing key.
    if ('recommendation' in expected) expect(decision.recommendation).toBe(recommendation);
  });

  it.each([
    { name: 'a maximum below the minimum', given: { minReplicas: 5, maxReplicas: 3 } },
    { name: 'a negative current count', given: { current: -1 } },
  ])('rejects $name', ({ given }) => {
    expect(() => decideReplicas(input(given))).toThrow(RangeError);
  });
});

describe('decideReplicas history', () => {
  it.each<{ name: string; given: Parameters<typeof input>[0]; recommendations: number[]; scaleEvents: number[] }>([
    {
      name: 'keeps recommendations from the last 5 minutes plus this one, and scale events from the last 15s',
      given: {
        metric: latency(30),
        recommendations: [{ at: NOW - 5 * MINUTE, replicas: 7 }, { at: NOW - 5 * MINUTE + 1, replicas: 6 }, { at: NOW - 30 * MINUTE, replicas: 9 }],
        scaleEvents: [{ at: NOW - 15 * SECOND, change: 2 }, { at: NOW - 14 * SECOND, change: 1 }, { at: NOW - 2 * MINUTE, change: -3 }],
      },
      recommendations: [NOW - 5 * MINUTE + 1, NOW],
      scaleEvents: [NOW - 14 * SECOND],
    },
    {
      name: 'keeps what the longest window or policy period still needs',
      given: {
        metric: latency(30),
        spec: { scaleUp: { stabilizationWindow: '10m' }, scaleDown: { policies: [{ type: 'Pods', value: 1, period: '20m' }] } },
        recommendations: [{ at: NOW - 9 * MINUTE, replicas: 2 }, { at: NOW - 11 * MINUTE, replicas: 2 }],
        scaleEvents: [{ at: NOW - 19 * MINUTE, change: -1 }, { at: NOW - 21 * MINUTE, change: -1 }],
      },
      recommendations: [NOW - 9 * MINUTE, NOW],
      scaleEvents: [NOW - 19 * MINUTE],
    },
    {
      name: 'prunes but adds nothing while the metric is missing',
      given: { metric: null, recommendations: [{ at: NOW - MINUTE, replicas: 2 }, { at: NOW - 6 * MINUTE, replicas: 2 }] },
      recommendations: [NOW - MINUTE],
      scaleEvents: [],
    },
  ])('$name', ({ given, recommendations, scaleEvents }) => {
    const decision = decideReplicas(input(given));
    expect(decision.recommendations.map((rec) => rec.at)).toEqual(recommendations);
    expect(decision.scaleEvents.map((event) => event.at)).toEqual(scaleEvents);
  });

  it('does not change the history it was given', () => {
    const given = input({ metric: latency(60), recommendations: [{ at: NOW - MINUTE, replicas: 2 }], scaleEvents: [{ at: NOW - SECOND, change: 1 }] });
    const copy = structuredClone(given);
    decideReplicas(given);
    expect(given).toEqual(copy);
  });
});

describe('decideReplicas over time, every 15 s with the HPA defaults', () => {
  /** Runs the loop the autoscaler runs: decide, scale, remember. Returns the count after each step. */
  function run(start: number, readings: number[], spec?: AutoscalePolicySpec['behavior']): number[] {
    let current = start;
    let recommendations: DecisionInput['recommendations'] = [];
    let scaleEvents: DecisionInput['scaleEvents'] = [];
    return readings.map((value, step) => {
      const now = NOW + step * 15 * SECOND;
      const decision = decideReplicas(input({ now, current, metric: latency(value), recommendations, scaleEvents, spec }));
      recommendations = decision.recommendations;
      scaleEvents = decision.desired === current ? decision.scaleEvents : [...decision.scaleEvents, { at: now, change: decision.desired - current }];
      current = decision.desired;
      return current;
    });
  }

  it.each([
    {
      name: 'a 7x latency spike grows 2 -> 6 -> 12 -> 14 in three steps',
      start: 2,
      readings: [210, 70, 35],
      counts: [6, 12, 14],
    },
    {
      name: 'after load drops, 8 gateways stay until the last recommendation for 8 is 5 minutes old, then go to 2 in one step',
      start: 8,
      // 4 readings asking for 8 (the last at 45 s), then 20 asking for 2; 5m45s is step 23.
      readings: [...Array<number>(4).fill(30), ...Array<number>(20).fill(7.5)],
      counts: [...Array<number>(23).fill(8), 2],
    },
  ])('$name', ({ start, readings, counts }) => {
    expect(run(start, readings)).toEqual(counts);
  });
});
