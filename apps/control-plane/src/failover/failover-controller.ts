/**
 * The failover controller: every second, on the leader only, each FailoverPolicy's zones are
 * judged (zone-signals.ts, zone-health.ts) and a zone that stays unhealthy for `unhealthyWhen.for`
 * fails over; it fails back after `failback.healthyFor` of continuous health.
 *
 * A decision is written into the policy's status in the store, so it travels like any change: the
 * mesh revision moves, every replica rebuilds its gateways' snapshots with new zone weights
 * (zone-weights.ts), and the gateways ACK. The controller then waits for those ACKs and records the
 * transition as an event with three times: when the condition was first seen, when it decided, and
 * when every gateway ran the new weights (traffic had moved).
 */
import { isDeepStrictEqual } from 'node:util';
import { formatTime, type FailoverPolicy, type FailoverPolicyStatus, type Resource, type Service } from '@portolan/api';
import type { PoolTrafficWindow } from '../autoscaling/pool-traffic-window';
import type { Propagation } from '../distribution/distribution.service';
import type { EventJournal } from '../events/event-journal';
import { periodicController, type LeaderControllers } from '../leadership/leader-controllers';
import type { NodeRegistry } from '../registry/node-registry';
import { StoreConflictError, StoreNotFoundError, type ResourceStore } from '../store/resource-store';
import type { MetricsRegistry } from '../telemetry/metrics';
import { evaluateZones, failoverThresholds, zoneStatesFromStatus, zoneStatuses, type ZoneState, type ZoneTransition } from './zone-health';
import { servicesWithOwnPolicy, zoneSignals } from './zone-signals';

export const FAILOVER_INTERVAL_MS = 1_000;
/** Longest wait for the gateways to run a decision before the event is recorded without that time. */
const PROPAGATION_TIMEOUT_MS = 15_000;

export interface FailoverDependencies {
  store: Pick<ResourceStore, 'list' | 'update'>;
  registry: Pick<NodeRegistry, 'nodes'>;
  traffic: PoolTrafficWindow;
  journal: EventJournal;
  /** Resolves once every routable gateway ran the snapshot of `revision` or later (or the timeout passed). */
  waitForGateways(revision: number, timeoutMs: number): Promise<Propagation>;
  metrics: MetricsRegistry;
  /** Consul mode: after each round, with the policies as decided in it (the prepared queries). Must not throw. */
  afterRound?: (policies: readonly FailoverPolicy[], services: readonly Service[]) => Promise<void>;
  clock?: () => number;
  log?: (level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, message: string) => void;
}

const policyKey = (policy: FailoverPolicy) => `${policy.metadata.namespace ?? 'default'}/${policy.metadata.name}`;

/** What a status decides, without the reasons' numbers. */
function decisions(status: FailoverPolicyStatus | undefined): Array<[string, string, string, string | undefined]> {
  return (status?.zones ?? []).map((zone) => [zone.zone, zone.state, zone.since, zone.detectedAt]);
}

export class FailoverController {
  private readonly states = new Map<string, Map<string, ZoneState>>();
  /** Decisions not yet written to the store (a conflicting write is tried again next round). */
  private readonly unwritten = new Map<string, ZoneTransition[]>();
  private readonly clock: () => number;
  private stopped = false;

  constructor(private readonly dependencies: FailoverDependencies) {
    this.clock = dependencies.clock ?? Date.now;
  }

  /** `signal`: the leadership term; nothing is decided or written once it aborts. */
  async evaluateAll(signal?: AbortSignal): Promise<void> {
    if (this.stopped || signal?.aborted) return;
    const [policies, services] = await Promise.all([this.dependencies.store.list({ kind: 'FailoverPolicy' }), this.dependencies.store.list({ kind: 'Service' })]);
    const nodes = this.dependencies.registry.nodes();
    const ownPolicies = servicesWithOwnPolicy(policies.items as FailoverPolicy[]);
    const seen = new Set<string>();
    for (const item of policies.items) {
      const policy = item as FailoverPolicy;
      seen.add(policyKey(policy));
      try {
        if (signal?.aborted) return;
        await this.evaluate(policy, services.items as Service[], nodes, ownPolicies, signal);
      } catch (error) {
        this.dependencies.log?.('error', { policy: policyKey(policy), err: (error as Error).stack ?? String(error) }, 'failover evaluation failed');
      }
    }
    for (const [key, states] of [...this.states]) {
      if (seen.has(key)) continue;
      for (const zone of states.keys()) this.dependencies.metrics.failoverZoneFailedOver.remove(key, zone);
      this.states.delete(key);
      this.unwritten.delete(key);
    }
    if (this.dependencies.afterRound && !signal?.aborted) {
      // This round's decisions, even where the store write conflicted, so a Consul query never lags a round behind.
      const decided = (policies.items as FailoverPolicy[]).map((policy) => {
        const states = this.states.get(policyKey(policy));
        return states ? { ...policy, status: { zones: zoneStatuses(states) } } : policy;
      });
      await this.dependencies.afterRound(decided, services.items as Service[]);
    }
  }

  private async evaluate(policy: FailoverPolicy, services: Service[], nodes: ReturnType<NodeRegistry['nodes']>, ownPolicies: ReadonlySet<string>, signal?: AbortSignal): Promise<void> {
    const now = this.clock();
    const key = policyKey(policy);
    const thresholds = failoverThresholds(policy.spec);
    const previous = this.states.get(key) ?? zoneStatesFromStatus(policy.status?.zones, now);
    const { states, transitions } = evaluateZones(previous, zoneSignals(policy, services, nodes, this.dependencies.traffic, thresholds.forMs, now, ownPolicies), thresholds, now);
    // Leadership lost meanwhile: the next term must start from the stored status, not from this.
    if (signal?.aborted) return;
    this.states.set(key, states);
    // A zone dropped from the states (failed back with nothing left in it) must not keep its last value.
    for (const zone of previous.keys()) if (!states.has(zone)) this.dependencies.metrics.failoverZoneFailedOver.remove(key, zone);
    for (const state of states.values()) this.dependencies.metrics.failoverZoneFailedOver.labels(key, state.zone).set(state.state === 'FailedOver' ? 1 : 0);
    const pending = [...(this.unwritten.get(key) ?? []), ...transitions];
    for (const transition of transitions) {
      this.dependencies.metrics.failoverTransitions.labels(key, transition.zone, transition.to).inc();
      this.dependencies.log?.(transition.to === 'FailedOver' ? 'warn' : 'info', { policy: key, zone: transition.zone, reason: transition.reason }, transition.to === 'FailedOver' ? 'zone failed over' : 'zone failed back');
    }
    const status: FailoverPolicyStatus = { zones: zoneStatuses(states) };
    // Only a change of decision is written, not new numbers in a reason: every write moves the
    // mesh revision and re-sends snapshots.
    if (isDeepStrictEqual(decisions(status), decisions(policy.status))) {
      this.unwritten.delete(key);
      if (pending.length > 0) void this.recordOnceMoved(policy, pending, Number(policy.metadata.resourceVersion));
      return;
    }
    let revision: number;
    try {
      const stored = await this.dependencies.store.update({ ...policy, status } as FailoverPolicy as Resource, { expectedResourceVersion: policy.metadata.resourceVersion, actor: 'failover-controller' });
      revision = Number(stored.metadata.resourceVersion);
    } catch (error) {
      if (!(error instanceof StoreConflictError) && !(error instanceof StoreNotFoundError)) throw error;
      // Someone wrote the policy meanwhile (or deleted it): the next round reads it again and writes then.
      this.unwritten.set(key, pending);
      return;
    }
    this.unwritten.delete(key);
    if (pending.length > 0) void this.recordOnceMoved(policy, pending, revision);
  }

  /** Waits for the gateways to run the decision, then records each transition with its times. */
  private async recordOnceMoved(policy: FailoverPolicy, transitions: ZoneTransition[], revision: number): Promise<void> {
    const propagation = await this.dependencies.waitForGateways(revision, PROPAGATION_TIMEOUT_MS).catch((error: Error) => ({ propagated: false, pending: [`(${error.message})`] }));
    const movedAt = this.clock();
    for (const transition of transitions) {
      const failedOver = transition.to === 'FailedOver';
      const moved = propagation.propagated
        ? `traffic moved ${movedAt - transition.decidedAt} ms after the decision, ${movedAt - transition.detectedAt} ms after detection`
        : `gateways not running it after ${PROPAGATION_TIMEOUT_MS / 1000} s: ${propagation.pending.slice(0, 5).join(', ')}`;
      // Runs detached from the round: a journal that fails (Consul KV down) must not leave a rejected promise behind.
      await this.dependencies.journal.record({
        type: failedOver ? 'Warning' : 'Normal',
        reason: failedOver ? 'FailedOver' : 'FailedBack',
        regarding: { kind: 'FailoverPolicy', namespace: policy.metadata.namespace ?? 'default', name: policy.metadata.name },
        source: 'failover-controller',
        time: formatTime(transition.decidedAt),
        message: `${failedOver ? 'traffic moved away from' : 'traffic returned to'} ${transition.zone}: ${transition.reason}; ${moved}`,
        details: {
          zone: transition.zone,
          from: transition.from,
          to: transition.to,
          detectedAt: new Date(transition.detectedAt).toISOString(),
          decidedAt: new Date(transition.decidedAt).toISOString(),
          trafficMovedAt: propagation.propagated ? new Date(movedAt).toISOString() : null,
          detectionToMovedMs: propagation.propagated ? movedAt - transition.detectedAt : null,
          revision,
          pendingGateways: propagation.pending,
        },
      }).catch((error: Error) => this.dependencies.log?.('error', { policy: policyKey(policy), zone: transition.zone, to: transition.to, err: error.stack ?? String(error) }, 'failover event could not be recorded'));
    }
  }

  stop(): void {
    this.stopped = true;
  }

  /** Leadership ended: the next term starts from the stored status. */
  reset(): void {
    // A follower exports no failover decisions (the gauge is leader only).
    for (const [key, states] of this.states) for (const zone of states.keys()) this.dependencies.metrics.failoverZoneFailedOver.remove(key, zone);
    this.states.clear();
    this.unwritten.clear();
  }
}

/** Runs `controller` every second while this replica leads. */
export function registerFailover(controllers: LeaderControllers, controller: FailoverController, log?: (fields: Record<string, unknown>, message: string) => void): void {
  controllers.register(periodicController({ name: 'failover', intervalMs: FAILOVER_INTERVAL_MS, round: (signal) => controller.evaluateAll(signal), reset: () => controller.reset(), log }));
}
