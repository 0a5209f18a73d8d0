/**
 * The arithmetic of a Kubernetes HorizontalPodAutoscaler (autoscaling/v2 with `behavior`), as pure
 * functions: the autoscaler reads the metric and the current count, calls `decideReplicas`, and
 * keeps the history it hands back. Nothing here reads a clock or does I/O, so every rule can be
 * checked with plain numbers.
 *
 * Mirrors pkg/controller/podautoscaler/horizontal.go (normalizeDesiredReplicasWithBehaviors and the
 * functions it calls) and replica_calculator.go (usage ratio and tolerance). Where Portolan differs
 * from the HPA, the comment at the spot says so and why.
 */
import { AutoscalePolicySpecSchema, formatDuration, parseDuration, schemaDefaults, type AutoscalePolicySpec } from '@portolan/api';

export interface ScalingRule {
  type: 'Pods' | 'Percent';
  value: number;
  periodMs: number;
}

export interface DirectionBehavior {
  stabilizationWindowMs: number;
  policies: ScalingRule[];
  selectPolicy: 'Max' | 'Min' | 'Disabled';
}

export interface ScalingBehavior {
  /** A fraction: 0.1 for 10%. */
  tolerance: number;
  scaleUp: DirectionBehavior;
  scaleDown: DirectionBehavior;
}

type DirectionSpec = NonNullable<NonNullable<AutoscalePolicySpec['behavior']>['scaleUp']>;
type PolicySpec = NonNullable<DirectionSpec['policies']>[number];

// The HPA's defaults (pkg/apis/autoscaling/v2/defaults.go). The scalar ones are read from the
// kind's schema so the documented and the applied defaults cannot drift apart; the default
// policies are lists, which the schema only describes in words.
interface DirectionDefaults {
  stabilizationWindow: string;
  selectPolicy: DirectionBehavior['selectPolicy'];
}
const BEHAVIOR_DEFAULTS = (schemaDefaults(AutoscalePolicySpecSchema) as { behavior: { tolerancePercent: number; scaleUp: DirectionDefaults; scaleDown: DirectionDefaults } }).behavior;
const DEFAULT_POLICIES: Record<'scaleUp' | 'scaleDown', PolicySpec[]> = {
  scaleUp: [{ type: 'Percent', value: 100, period: '15s' }, { type: 'Pods', value: 4, period: '15s' }],
  scaleDown: [{ type: 'Percent', value: 100, period: '15s' }],
};

function normalizeDirection(spec: DirectionSpec | undefined, direction: 'scaleUp' | 'scaleDown'): DirectionBehavior {
  // Each field defaults on its own, as in the HPA: setting only selectPolicy keeps the default policies.
  return {
    stabilizationWindowMs: parseDuration(spec?.stabilizationWindow ?? BEHAVIOR_DEFAULTS[direction].stabilizationWindow),
    policies: (spec?.policies ?? DEFAULT_POLICIES[direction]).map((policy) => ({ type: policy.type, value: policy.value, periodMs: parseDuration(policy.period) })),
    selectPolicy: spec?.selectPolicy ?? BEHAVIOR_DEFAULTS[direction].selectPolicy,
  };
}

/** The spec's behavior with every HPA default filled in. */
export function normalizeBehavior(behavior: AutoscalePolicySpec['behavior']): ScalingBehavior {
  return {
    tolerance: (behavior?.tolerancePercent ?? BEHAVIOR_DEFAULTS.tolerancePercent) / 100,
    scaleUp: normalizeDirection(behavior?.scaleUp, 'scaleUp'),
    scaleDown: normalizeDirection(behavior?.scaleDown, 'scaleDown'),
  };
}

function isWithinTolerance(ratio: number, tolerance: number): boolean {
  // Written as bounds, not |1 - ratio| <= tolerance: the subtraction makes 33 vs 30 come out as
  // 0.10000000000000009 and miss a 10% tolerance it sits exactly on.
  return 1 - tolerance <= ratio && ratio <= 1 + tolerance;
}

/**
 * The HPA's replica count for one metric reading: ceil(current * value / target), or `current`
 * while value/target is within the tolerance of 1. May be 0 or above any maximum; decideReplicas
 * clamps.
 *
 * With `current` 0 the result is ceil(value / target) with no tolerance, as the HPA's
 * getUsageRatioReplicaCount does at zero replicas: the reading is taken as what one gateway would
 * carry (for load, the whole request rate), and a tolerance around "stay at 0" would never start
 * a gateway.
 */
export function rawRecommendation(current: number, value: number, target: number, tolerance: number): number {
  if (!Number.isInteger(current) || current < 0) throw new RangeError(`current must be a whole number of gateways, not ${current}`);
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`metric value must be a finite number from 0, not ${value}`);
  if (!Number.isFinite(target) || target <= 0) throw new RangeError(`metric target must be a finite number above 0, not ${target}`);
  const ratio = value / target;
  if (current === 0) return Math.ceil(ratio);
  if (isWithinTolerance(ratio, tolerance)) return current;
  // current * value first: with whole-number readings this stays exact, where ratio * current
  // (the HPA's order) can land a hair above a whole number and add a gateway.
  return Math.ceil((current * value) / target);
}

export interface Recommendation {
  at: number;
  replicas: number;
}

export interface ScaleEvent {
  at: number;
  /** Gateways added (positive) or removed (negative). */
  change: number;
}

export interface DecisionInput {
  now: number;
  current: number;
  /** The metric reading against its target; null when the metric is missing. */
  metric: { value: number; target: number } | null;
  minReplicas: number;
  maxReplicas: number;
  fallback?: { replicas: number; failureThreshold: number };
  /** Evaluations in a row without the metric before this one (this one not counted). */
  missingBefore: number;
  behavior: ScalingBehavior;
  /** Earlier raw recommendations (for stabilization), any order; entries older than every window are ignored. */
  recommendations: Recommendation[];
  /**
   * Earlier scale events (for the rate policies), any order; entries older than every policy
   * period are ignored. Append `{ at: now, change: desired - current }` once the scaler has
   * applied a decision: a decision that was not carried out must not use up the rate budget.
   */
  scaleEvents: ScaleEvent[];
}

export type DecisionReason =
  | 'ScaleUp'
  | 'ScaleDown'
  | 'WithinTolerance'
  | 'Stabilizing'
  | 'RateLimited'
  | 'AtMinimum'
  | 'AtMaximum'
  | 'MetricMissing'
  | 'FallbackApplied'
  | 'ScalingDisabled'
  | 'Unchanged';

export interface Decision {
  desired: number;
  /**
   * What explains `desired`. ScaleUp/ScaleDown: the metric's count, unmodified. WithinTolerance:
   * the reading is close enough to the target. Stabilizing: a stabilization window held back the
   * change. RateLimited: a scaling policy capped the step. AtMinimum/AtMaximum: the bounds did.
   * MetricMissing: holding steady without data. FallbackApplied: the fallback count after too many
   * misses. ScalingDisabled: selectPolicy Disabled in the direction needed. Unchanged: the metric's
   * count is the current one although the reading is outside the tolerance.
   */
  reason: DecisionReason;
  /** One sentence for operators with the numbers; the caller prefixes the metric's name. */
  message: string;
  /** The raw recommendation to remember (already included in `recommendations`); absent when nothing was recorded. */
  recommendation?: number;
  /** True when the bounds, a rate policy or a stabilization window changed the metric's count (the HPA's ScalingLimited). */
  limited: boolean;
  /** The history still inside the longest window or period, this decision's recommendation included: pass it back next time. */
  recommendations: Recommendation[];
  scaleEvents: ScaleEvent[];
}

function gateways(count: number): string {
  return count === 1 ? '1 gateway' : `${count} gateways`;
}

function move(from: number, to: number): string {
  return from === to ? `stays at ${gateways(to)}` : `${from} -> ${gateways(to)}`;
}

function formatNumber(value: number): string {
  if (Number.isInteger(value)) return String(value);
  return String(Number(Math.abs(value) >= 1 ? value.toFixed(2) : value.toPrecision(2)));
}

function describePolicies(direction: DirectionBehavior): string {
  const rules = direction.policies.map((rule) => `${rule.type === 'Percent' ? `${rule.value}%` : gateways(rule.value)} per ${formatDuration(rule.periodMs)}`);
  if (rules.length < 2) return rules.join('');
  return `${rules.join(', ')}; ${direction.selectPolicy === 'Min' ? 'the smaller' : 'the larger'}`;
}

function clamp(count: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, count));
}

/** Sum of the changes made less than `periodMs` ago (HPA getReplicasChangePerPeriod: strictly after the cutoff). */
function changeWithin(events: ScaleEvent[], now: number, periodMs: number): number {
  return events.filter((event) => event.at > now - periodMs).reduce((sum, event) => sum + event.change, 0);
}

/**
 * The highest count the scale-up policies allow now (HPA calculateScaleUpLimitWithScalingRules).
 * Each policy counts from the size at the start of its period, so steps taken in the period
 * (either way) use up its budget.
 */
function scaleUpLimit(current: number, events: ScaleEvent[], now: number, rules: DirectionBehavior): number {
  if (rules.selectPolicy === 'Disabled') return current;
  const proposals = rules.policies.map((policy) => {
    const periodStart = current - changeWithin(events, now, policy.periodMs);
    // Rounded up, or a small pool with a Percent policy could never grow.
    return policy.type === 'Pods' ? periodStart + policy.value : Math.ceil(periodStart * (1 + policy.value / 100));
  });
  return rules.selectPolicy === 'Min' ? Math.min(...proposals) : Math.max(...proposals);
}

/** The lowest count the scale-down policies allow now (HPA calculateScaleDownLimitWithBehaviors). */
function scaleDownLimit(current: number, events: ScaleEvent[], now: number, rules: DirectionBehavior): number {
  if (rules.selectPolicy === 'Disabled') return current;
  const proposals = rules.policies.map((policy) => {
    const periodStart = current - changeWithin(events, now, policy.periodMs);
    // Rounded down like the HPA's int32 conversion, so a small pool is never stuck above a count a
    // Percent policy cannot reach (10% of 1 gateway still allows going to 0).
    return policy.type === 'Pods' ? periodStart - policy.value : Math.trunc(periodStart * (1 - policy.value / 100));
  });
  // Max means the biggest change, which scaling down is the smallest count.
  return rules.selectPolicy === 'Min' ? Math.max(...proposals) : Math.min(...proposals);
}

function checkWholeNumber(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0) throw new RangeError(`${name} must be a whole number from 0, not ${value}`);
}

/**
 * What the target's gateway count should be now, HPA-style: the metric's raw count, held by the
 * stabilization windows, capped by the rate policies, clamped to the bounds.
 */
export function decideReplicas(input: DecisionInput): Decision {
  const { now, current, metric, minReplicas, maxReplicas, fallback, missingBefore, behavior } = input;
  checkWholeNumber('current', current);
  checkWholeNumber('minReplicas', minReplicas);
  checkWholeNumber('maxReplicas', maxReplicas);
  if (maxReplicas < minReplicas) throw new RangeError(`maxReplicas (${maxReplicas}) must be at least minReplicas (${minReplicas})`);

  const longestWindow = Math.max(behavior.scaleUp.stabilizationWindowMs, behavior.scaleDown.stabilizationWindowMs);
  const longestPeriod = Math.max(0, ...behavior.scaleUp.policies.map((p) => p.periodMs), ...behavior.scaleDown.policies.map((p) => p.periodMs));
  // Same "strictly newer than the cutoff" test the windows use, so nothing kept is ever unusable.
  const recommendations = input.recommendations.filter((rec) => rec.at > now - longestWindow);
  const scaleEvents = input.scaleEvents.filter((event) => event.at > now - longestPeriod);
  const decision = (fields: Pick<Decision, 'desired' | 'reason' | 'message' | 'limited'> & { recommendation?: number }): Decision =>
    fields.recommendation === undefined
      ? { ...fields, recommendations, scaleEvents }
      : { ...fields, recommendations: [...recommendations, { at: now, replicas: fields.recommendation }], scaleEvents };

  const reading = metric && Number.isFinite(metric.value) && Number.isFinite(metric.target) && metric.target > 0 ? metric : null;
  if (!reading) {
    const missing = missingBefore + 1;
    const missingFor = `metric missing for ${missing === 1 ? '1 evaluation' : `${missing} evaluations in a row`}`;
    if (fallback && missing >= fallback.failureThreshold) {
      // Applied as is, with no stabilization or rate policy: those pace moves between metric
      // readings, there is no reading, and the history they would use predates the outage. (KEDA
      // hands fallback.replicas to the HPA as a metric value, so there the HPA still paces it.)
      // Clamped only in case the bounds changed after the fallback was validated.
      const desired = clamp(fallback.replicas, minReplicas, maxReplicas);
      return decision({
        desired,
        reason: 'FallbackApplied',
        message: `${missingFor} (fallback after ${fallback.failureThreshold}): ${move(current, desired)} (fallback ${fallback.replicas})`,
        limited: desired !== fallback.replicas,
      });
    }
    if (current < minReplicas || current > maxReplicas) return toBounds(current, minReplicas, maxReplicas, decision);
    const pending = fallback ? `; fallback to ${gateways(fallback.replicas)} after ${fallback.failureThreshold}` : '';
    return decision({ desired: current, reason: 'MetricMissing', message: `${missingFor}: holding ${gateways(current)}${pending}`, limited: false });
  }

  const about = `metric ${formatNumber(reading.value)} vs target ${formatNumber(reading.target)}`;
  const raw = rawRecommendation(current, reading.value, reading.target, behavior.tolerance);

  if (current === 0) {
    // Starting from nothing. The HPA treats 0 replicas as "autoscaling paused by the operator";
    // Portolan starts the count the metric asks for instead. No rate policy: a Percent policy
    // allows nothing from 0, and there is no earlier size to pace from.
    const desired = clamp(raw, minReplicas, maxReplicas);
    const reason = desired > raw ? 'AtMinimum' : desired < raw ? 'AtMaximum' : desired === 0 ? 'Unchanged' : 'ScaleUp';
    const bound = reason === 'AtMinimum' ? `: ${desired} is the minimum` : reason === 'AtMaximum' ? `: ${desired} is the maximum` : '';
    return decision({ desired, reason, message: `${about}: ${move(0, desired)} (raw ${raw})${bound}`, recommendation: raw, limited: desired !== raw });
  }
  if (current < minReplicas || current > maxReplicas) {
    // The HPA moves to the bound before looking at metrics and records no recommendation; the
    // metric gets its say at the next evaluation, from a count inside the bounds.
    return toBounds(current, minReplicas, maxReplicas, decision);
  }

  // Stabilization (HPA stabilizeRecommendationWithBehaviors): go up only as far as every
  // recommendation in the scale-up window agrees, down only as far as every one in the
  // scale-down window agrees.
  const upCutoff = now - behavior.scaleUp.stabilizationWindowMs;
  const downCutoff = now - behavior.scaleDown.stabilizationWindowMs;
  let upRecommendation = raw;
  let downRecommendation = raw;
  for (const rec of recommendations) {
    if (rec.at > upCutoff) upRecommendation = Math.min(upRecommendation, rec.replicas);
    if (rec.at > downCutoff) downRecommendation = Math.max(downRecommendation, rec.replicas);
  }
  let stabilized = current;
  if (stabilized < upRecommendation) stabilized = upRecommendation;
  if (stabilized > downRecommendation) stabilized = downRecommendation;

  // Rate policies and bounds (HPA convertDesiredReplicasWithBehaviorRate). With behavior there is
  // no extra max(2 * current, 4) cap; that is only for HPAs without it.
  let desired = stabilized;
  let rateLimit: { direction: 'up' | 'down'; rules: DirectionBehavior; limit: number } | undefined;
  if (stabilized > current) {
    const rules = behavior.scaleUp;
    // A budget already spent in the period means "not now", never "scale down".
    const limit = Math.max(current, scaleUpLimit(current, scaleEvents, now, rules));
    desired = Math.min(stabilized, maxReplicas, limit);
    if (limit < Math.min(stabilized, maxReplicas)) rateLimit = { direction: 'up', rules, limit };
  } else if (stabilized < current) {
    const rules = behavior.scaleDown;
    const limit = Math.min(current, scaleDownLimit(current, scaleEvents, now, rules));
    desired = Math.max(stabilized, minReplicas, limit);
    if (limit > Math.max(stabilized, minReplicas)) rateLimit = { direction: 'down', rules, limit };
  }

  // The reason is the step that settled the final number; a bound the metric's count is beyond
  // explains it even when a window or policy also held it there.
  const summary = `${about}: ${move(current, desired)} (raw ${raw})`;
  const recorded = { desired, recommendation: raw, limited: desired !== raw };
  if (desired === maxReplicas && raw > maxReplicas) return decision({ ...recorded, reason: 'AtMaximum', message: `${summary}: ${maxReplicas} is the maximum` });
  if (desired === minReplicas && raw < minReplicas) return decision({ ...recorded, reason: 'AtMinimum', message: `${summary}: ${minReplicas} is the minimum` });
  const needed = raw > current ? 'up' : raw < current ? 'down' : undefined;
  if (needed && desired === current && (needed === 'up' ? behavior.scaleUp : behavior.scaleDown).selectPolicy === 'Disabled') {
    // Named before any window that also holds: the window will pass and still nothing will happen.
    return decision({ ...recorded, reason: 'ScalingDisabled', message: `${summary}: scaling ${needed} is disabled` });
  }
  if (rateLimit) {
    const { direction, rules, limit } = rateLimit;
    return decision({ ...recorded, reason: 'RateLimited', message: `${summary}: the scale-${direction} policies (${describePolicies(rules)}) allow ${limit} now` });
  }
  if (stabilized !== raw) {
    const held =
      raw < current
        ? `the highest recommendation in the last ${formatDuration(behavior.scaleDown.stabilizationWindowMs)} is ${downRecommendation}`
        : `the lowest recommendation in the last ${formatDuration(behavior.scaleUp.stabilizationWindowMs)} is ${upRecommendation}`;
    return decision({ ...recorded, reason: 'Stabilizing', message: `${summary}: ${held}` });
  }
  if (raw === current) {
    if (isWithinTolerance(reading.value / reading.target, behavior.tolerance)) {
      const tolerance = `${formatNumber(behavior.tolerance * 100)}%`;
      return decision({ ...recorded, reason: 'WithinTolerance', message: `${about} is within the ${tolerance} tolerance: ${move(current, desired)}` });
    }
    return decision({ ...recorded, reason: 'Unchanged', message: summary });
  }
  return decision({ ...recorded, reason: desired > current ? 'ScaleUp' : 'ScaleDown', message: summary });
}

function toBounds(
  current: number,
  minReplicas: number,
  maxReplicas: number,
  decision: (fields: Pick<Decision, 'desired' | 'reason' | 'message' | 'limited'>) => Decision,
): Decision {
  if (current < minReplicas) {
    return decision({ desired: minReplicas, reason: 'AtMinimum', message: `${gateways(current)} is below the minimum of ${minReplicas}: ${move(current, minReplicas)}`, limited: true });
  }
  return decision({ desired: maxReplicas, reason: 'AtMaximum', message: `${gateways(current)} is above the maximum of ${maxReplicas}: ${move(current, maxReplicas)}`, limited: true });
}
