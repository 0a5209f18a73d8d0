/**
 * The autoscaler: every PORTOLAN_AUTOSCALE_INTERVAL, on the leader only, each AutoscalePolicy is
 * evaluated the way a Kubernetes HPA evaluates: read the target's gateway count from its scaler
 * and the metric from its source, decide with the HPA arithmetic (replica-recommendation.ts), and
 * ask the scaler for the new count. Every evaluation that changes something (a new count, a metric
 * going missing or coming back, a scaler failing) is recorded as an event, and the policy's status
 * (shared by every replica through the event journal) says what the autoscaler last saw and did.
 *
 * Recommendations for the stabilization windows live in memory, as in the HPA controller: a new
 * leader starts with the current count as its only one, so it scales down no sooner than the
 * window after taking over. Status and events survive, and the first evaluation of a term
 * continues from the stored status (last scale time, conditions, recent events).
 */
import { formatTime, type AutoscalePolicy, type AutoscalePolicyStatus, type Condition, type MeshEvent } from '@portolan/api';
import type { EventJournal } from '../events/event-journal';
import { periodicController, type LeaderControllers } from '../leadership/leader-controllers';
import type { ResourceStore } from '../store/resource-store';
import type { MetricsRegistry } from '../telemetry/metrics';
import { autoscaleSettings, policyKey, type AutoscaleSettings } from './autoscale-settings';
import type { MetricReading, MetricSource } from './metric-sources';
import { decideReplicas, type Decision, type Recommendation, type ScaleEvent } from './replica-recommendation';
import { ScalerError, type Scaler, type ScaleResult } from './scalers/scaler';

/** Decisions kept in a policy's status; the journal keeps all of them. */
const RECENT_EVENTS = 5;
const KIND = 'AutoscalePolicy';

export interface AutoscalerDependencies {
  store: Pick<ResourceStore, 'list'>;
  journal: EventJournal;
  sources: Partial<Record<'Heartbeats' | 'Prometheus', MetricSource>>;
  scalers: Partial<Record<'Local' | 'Kubernetes', Scaler>>;
  /** Why a scaler or source is not available on this control plane, by name: what the operator must configure. */
  unavailable: Partial<Record<'Local' | 'Kubernetes' | 'Prometheus', string>>;
  metrics: MetricsRegistry;
  clock?: () => number;
  log?: (level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, message: string) => void;
}

interface PolicyState {
  uid: string | undefined;
  /** Until the first evaluation of the term has read the count. */
  fresh: boolean;
  recommendations: Recommendation[];
  scaleEvents: ScaleEvent[];
  /** Evaluations in a row that found no metric. */
  missing: number;
  /** The last status written, which carries conditions' transition times and recent events on. */
  status: AutoscalePolicyStatus;
  /** The message of the last Warning event per reason, so a failure that persists is recorded once, not every interval. */
  lastWarnings: Map<string, string>;
}

type EventDraft = Pick<MeshEvent, 'type' | 'reason' | 'message'> & { details?: Record<string, unknown> };


export class Autoscaler {
  private readonly states = new Map<string, PolicyState>();
  private readonly clock: () => number;
  private stopped = false;

  constructor(private readonly dependencies: AutoscalerDependencies) {
    this.clock = dependencies.clock ?? Date.now;
  }

  /** Evaluates every AutoscalePolicy once; forgets the state of policies that were deleted. */
  /** `signal`: the leadership term; nothing is scaled or written once it aborts. */
  async evaluateAll(signal?: AbortSignal): Promise<void> {
    if (this.stopped || signal?.aborted) return;
    const { items } = await this.dependencies.store.list({ kind: KIND });
    const seen = new Set<string>();
    for (const item of items) {
      if (this.stopped || signal?.aborted) return;
      const policy = item as AutoscalePolicy;
      const key = policyKey(policy);
      seen.add(key);
      try {
        await this.evaluate(policy, signal);
      } catch (error) {
        this.dependencies.log?.('error', { policy: key, err: (error as Error).stack ?? String(error) }, 'autoscaler evaluation failed');
      }
    }
    for (const key of [...this.states.keys()]) {
      if (seen.has(key) || signal?.aborted) continue;
      const [namespace, name] = key.split('/');
      // Forgotten only once the stored status is gone too, or the next round tries again.
      await this.dependencies.journal.deleteStatus({ kind: KIND, namespace, name });
      this.states.delete(key);
      this.forgetMetrics(key);
    }
  }

  /** One HPA evaluation of `policy`; answers the status it stored. */
  async evaluate(policy: AutoscalePolicy, signal?: AbortSignal): Promise<AutoscalePolicyStatus> {
    const now = this.clock();
    const settings = autoscaleSettings(policy);
    const key = settings.target.policy;
    const state = await this.stateOf(policy);
    const events: EventDraft[] = [];
    const status: AutoscalePolicyStatus = {
      ...state.status,
      observedGeneration: policy.metadata.generation,
      lastEvaluationTime: formatTime(now),
    };
    const conditions = new Map((state.status.conditions ?? []).map((condition) => [condition.type, condition]));
    const setCondition = (type: string, value: Condition['status'], reason: string, message: string) => {
      const previous = conditions.get(type);
      const lastTransitionTime = previous && previous.status === value ? previous.lastTransitionTime : formatTime(now);
      conditions.set(type, { type, status: value, reason, message, observedGeneration: policy.metadata.generation, lastTransitionTime });
    };

    const scaler = this.dependencies.scalers[settings.scaler];
    let current: number | undefined;
    if (!scaler) {
      const message = this.dependencies.unavailable[settings.scaler] ?? `the ${settings.scaler} scaler is not configured on this control plane`;
      setCondition('AbleToScale', 'False', 'ScalerUnavailable', message);
      this.warnOnce(state, events, 'ScalerUnavailable', message);
    } else {
      try {
        current = await scaler.current(settings.target);
      } catch (error) {
        if (!(error instanceof ScalerError)) throw error;
        setCondition('AbleToScale', 'False', 'FailedGetScale', error.message);
        this.warnOnce(state, events, 'FailedGetScale', `cannot read the gateway count: ${error.message}`);
      }
    }

    if (current !== undefined && scaler) {
      // As the HPA's recordInitialRecommendation: a new term starts as if the current count had
      // just been recommended, so a leader change cannot skip the scale-down window.
      if (state.fresh) state.recommendations.push({ at: now, replicas: current });
      state.fresh = false;
      const reading = await this.readMetric(settings, current, now);
      status.metric = {
        value: reading.value,
        target: settings.targetValue,
        unit: settings.unit,
        source: settings.source,
        at: formatTime(now),
        detail: reading.detail,
      };
      const decision = decideReplicas({
        now,
        current,
        metric: reading.value === null ? null : { value: reading.value, target: settings.targetValue },
        minReplicas: settings.minReplicas,
        maxReplicas: settings.maxReplicas,
        ...(settings.fallback ? { fallback: settings.fallback } : {}),
        missingBefore: state.missing,
        behavior: settings.behavior,
        recommendations: state.recommendations,
        scaleEvents: state.scaleEvents,
      });
      state.recommendations = decision.recommendations;
      state.scaleEvents = decision.scaleEvents;
      this.noteMetric(state, events, settings, reading, key);
      state.missing = reading.value === null ? state.missing + 1 : 0;

      if (reading.value === null) setCondition('ScalingActive', 'False', 'FailedGetMetric', reading.detail);
      else setCondition('ScalingActive', 'True', 'ValidMetricFound', `the ${settings.metricName} is read from ${settings.source}`);
      setCondition(
        'ScalingLimited',
        decision.limited ? 'True' : 'False',
        decision.limited ? decision.reason : 'DesiredWithinRange',
        decision.limited ? decision.message : `the recommended count is within ${settings.minReplicas}-${settings.maxReplicas} and its pacing`,
      );

      if (signal?.aborted) return status;
      if (decision.desired !== current) {
        const outcome = await this.scale(scaler, settings, current, decision, reading);
        if (outcome.result && outcome.result.replicas !== current) {
          events.push(outcome.event);
          state.scaleEvents.push({ at: now, change: outcome.result.replicas - current });
          status.lastScaleTime = formatTime(now);
          setCondition('AbleToScale', 'True', 'SucceededRescale', outcome.result.message);
          state.lastWarnings.delete('FailedUpdateScale');
          state.lastWarnings.delete('ScaleNotPossible');
        } else if (outcome.result) {
          // The scaler could not move (the local scaler never stops gateways it did not start): say so once, not every interval.
          setCondition('AbleToScale', 'False', 'ScaleNotPossible', outcome.result.message);
          this.warnOnce(state, events, 'ScaleNotPossible', `${current} -> ${decision.desired} gateways asked, the count stays ${current}: ${outcome.result.message}`);
        } else {
          setCondition('AbleToScale', 'False', 'FailedUpdateScale', outcome.event.message);
          // A failure that persists is one event, and another when its message changes.
          if (state.lastWarnings.get('FailedUpdateScale') !== outcome.event.message) events.push(outcome.event);
          state.lastWarnings.set('FailedUpdateScale', outcome.event.message);
        }
      } else {
        setCondition('AbleToScale', 'True', 'ReadyForNewScale', 'the scaler answers; the count can change when the metric asks for it');
      }
      // As on an HPA: the count this evaluation found; a change it asked for shows at the next one.
      status.currentReplicas = current;
      status.desiredReplicas = decision.desired;
      state.lastWarnings.delete('FailedGetScale');
      state.lastWarnings.delete('ScalerUnavailable');
      this.publishMetrics(key, settings, current, decision.desired, reading);
    }

    status.conditions = ['AbleToScale', 'ScalingActive', 'ScalingLimited'].map((type) => conditions.get(type)).filter((condition): condition is Condition => !!condition);
    const recorded: MeshEvent[] = [];
    for (const draft of events) {
      recorded.push(
        await this.dependencies.journal.record({
          ...draft,
          time: formatTime(now),
          regarding: { kind: KIND, namespace: policy.metadata.namespace ?? 'default', name: policy.metadata.name },
          source: 'autoscaler',
        }),
      );
      this.dependencies.log?.(draft.type === 'Warning' ? 'warn' : 'info', { policy: key, reason: draft.reason, ...draft.details }, draft.message);
    }
    if (recorded.length > 0) {
      const summaries = recorded.reverse().map((event) => ({
        time: event.time,
        reason: event.reason,
        message: event.message,
        currentReplicas: Number(event.details?.currentReplicas ?? status.currentReplicas ?? 0),
        desiredReplicas: Number(event.details?.desiredReplicas ?? status.desiredReplicas ?? 0),
      }));
      status.recentEvents = [...summaries, ...(state.status.recentEvents ?? [])].slice(0, RECENT_EVENTS);
    }
    if (signal?.aborted) return status;
    state.status = status;
    await this.dependencies.journal.putStatus({ kind: KIND, namespace: policy.metadata.namespace ?? 'default', name: policy.metadata.name }, status);
    return status;
  }

  private async stateOf(policy: AutoscalePolicy): Promise<PolicyState> {
    const key = policyKey(policy);
    let state = this.states.get(key);
    // A policy deleted and created again between two rounds (kubectl replace --force) starts afresh.
    if (state && state.uid !== policy.metadata.uid) state = undefined;
    if (!state) {
      const stored = (await this.dependencies.journal.status({ kind: KIND, namespace: policy.metadata.namespace ?? 'default', name: policy.metadata.name })) as AutoscalePolicyStatus | undefined;
      // A status older than the policy belongs to an earlier policy of the same name, deleted while no leader watched it.
      const created = Date.parse(policy.metadata.creationTimestamp ?? '');
      const current = stored && !(stored.lastEvaluationTime && Date.parse(stored.lastEvaluationTime) < created) ? stored : {};
      state = { uid: policy.metadata.uid, fresh: true, recommendations: [], scaleEvents: [], missing: 0, status: current, lastWarnings: new Map() };
      this.states.set(key, state);
    }
    return state;
  }

  private async readMetric(settings: AutoscaleSettings, currentReplicas: number, now: number): Promise<MetricReading> {
    const source = this.dependencies.sources[settings.source];
    if (!source) {
      return { value: null, detail: this.dependencies.unavailable.Prometheus ?? `the ${settings.source} metric source is not configured on this control plane` };
    }
    return source.read({ pool: settings.target.pool, zone: settings.target.zone, metric: settings.metric, windowMs: settings.windowMs, currentReplicas }, now);
  }

  /** Records the metric going missing (once per outage) and coming back. */
  private noteMetric(state: PolicyState, events: EventDraft[], settings: AutoscaleSettings, reading: MetricReading, key: string): void {
    if (reading.value === null) {
      this.dependencies.metrics.autoscalerMetricMissing.labels(key).inc();
      if (state.missing === 0) {
        const holding = settings.fallback
          ? `holding the count, then ${settings.fallback.replicas} gateways (fallback) after ${settings.fallback.failureThreshold} evaluations without it`
          : 'holding the count until it is back';
        events.push({ type: 'Warning', reason: 'MetricMissing', message: `no ${settings.metricName} reading: ${reading.detail}; ${holding}`, details: { metric: this.metricDetails(settings, reading) } });
      }
    } else if (state.missing > 0) {
      events.push({ type: 'Normal', reason: 'MetricRecovered', message: `the ${settings.metricName} reads again (${reading.value} ${settings.unit}) after ${state.missing} evaluations without it`, details: { metric: this.metricDetails(settings, reading) } });
    }
  }

  private async scale(scaler: Scaler, settings: AutoscaleSettings, current: number, decision: Decision, reading: MetricReading): Promise<{ result?: ScaleResult; event: EventDraft }> {
    const direction = decision.desired > current ? 'up' : 'down';
    const details = {
      metric: this.metricDetails(settings, reading),
      currentReplicas: current,
      desiredReplicas: decision.desired,
      decision: decision.reason,
      scaler: { type: settings.scaler } as Record<string, unknown>,
    };
    const why =
      reading.value === null
        ? `the ${settings.metricName} is missing (${reading.detail}): ${decision.message}`
        : `${settings.metricName} ${reading.value} ${settings.unit} vs target ${settings.targetValue}: ${decision.message}`;
    const key = settings.target.policy;
    try {
      const result = await scaler.scale(settings.target, decision.desired);
      this.dependencies.metrics.autoscalerScalings.labels(key, direction, 'ok').inc();
      details.scaler = { ...details.scaler, result: 'ok', message: result.message, ...(result.started ? { started: result.started } : {}), ...(result.stopping ? { stopping: result.stopping } : {}) };
      const reason = decision.reason === 'FallbackApplied' ? 'FallbackApplied' : direction === 'up' ? 'ScaledUp' : 'ScaledDown';
      return { result, event: { type: 'Normal', reason, message: `${current} -> ${decision.desired} gateways: ${why}; ${result.message}`, details } };
    } catch (error) {
      if (!(error instanceof ScalerError)) throw error;
      this.dependencies.metrics.autoscalerScalings.labels(key, direction, 'failed').inc();
      details.scaler = { ...details.scaler, result: 'failed', message: error.message };
      return { event: { type: 'Warning', reason: 'ScaleFailed', message: `could not scale ${current} -> ${decision.desired} gateways: ${error.message}`, details } };
    }
  }

  private metricDetails(settings: AutoscaleSettings, reading: MetricReading): Record<string, unknown> {
    return { name: settings.metricName, value: reading.value, target: settings.targetValue, unit: settings.unit, source: settings.source, windowMs: settings.windowMs, detail: reading.detail };
  }

  private warnOnce(state: PolicyState, events: EventDraft[], reason: string, message: string): void {
    if (state.lastWarnings.get(reason) === message) return;
    state.lastWarnings.set(reason, message);
    events.push({ type: 'Warning', reason, message });
  }

  private publishMetrics(key: string, settings: AutoscaleSettings, current: number, desired: number, reading: MetricReading): void {
    const { metrics } = this.dependencies;
    metrics.autoscalerCurrentReplicas.labels(key).set(current);
    metrics.autoscalerDesiredReplicas.labels(key).set(desired);
    metrics.autoscalerMetricTarget.labels(key).set(settings.targetValue);
    if (reading.value === null) metrics.autoscalerMetricValue.remove(key);
    else metrics.autoscalerMetricValue.labels(key).set(reading.value);
  }

  private forgetMetrics(key: string): void {
    const { metrics } = this.dependencies;
    for (const gauge of [metrics.autoscalerCurrentReplicas, metrics.autoscalerDesiredReplicas, metrics.autoscalerMetricTarget, metrics.autoscalerMetricValue]) gauge.remove(key);
  }

  /** No evaluation starts after this (the control plane is stopping and its scalers close). */
  stop(): void {
    this.stopped = true;
  }

  /** Called when leadership ends: the next term starts from the stored status, as a new HPA controller would. */
  reset(): void {
    for (const key of this.states.keys()) this.forgetMetrics(key);
    this.states.clear();
  }
}

/** Runs `autoscaler` every `intervalMs` while this replica leads; a store that cannot be read (Consul away) skips one round. */
export function registerAutoscaler(controllers: LeaderControllers, autoscaler: Autoscaler, intervalMs: number, log?: (fields: Record<string, unknown>, message: string) => void): void {
  controllers.register(periodicController({ name: 'autoscaler', intervalMs, round: (signal) => autoscaler.evaluateAll(signal), reset: () => autoscaler.reset(), log }));
}
