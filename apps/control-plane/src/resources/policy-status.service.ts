/**
 * An AutoscalePolicy's status is the autoscaler's: it is kept in the event journal (shared by
 * every replica) and attached here when the policy is read. Likewise the rollout guard's marker of
 * a rolled-back policy becomes its Degraded condition here.
 *
 * Policy status is derived, not stored: the conditions of a policy follow from the whole mesh at
 * the current revision, so they are computed from the resolution index (built once per revision
 * by the distribution module, and shared) and attached when a policy is read. Writing them back would bump the revision and
 * make every gateway resync for nothing.
 */
import { Inject, Injectable } from '@nestjs/common';
import { DEFAULT_NAMESPACE, formatTime, kindDefinition, policyContributions, policyRef, type Condition, type PolicyKind, type PolicyRollout, type Resource } from '@portolan/api';
import { DistributionService } from '../distribution/distribution.service';
import { EVENT_JOURNAL, type EventJournal } from '../events/event-journal';
import { asRolloutGuardMarker, rolloutGuardMarkerKey } from '../rollout-guard/degraded-marker';
import type { ObjectKey } from '../store/resource-store';
import { rolloutEntries, summarizeRollout, type RolloutSummary } from './rollout-summary';

/** `Kind/namespace/name` (policyRef) back to a store key. */
function parsePolicyRef(ref: string): ObjectKey {
  const [kind, namespace, name] = ref.split('/');
  return { kind, namespace, name };
}

interface Snapshot {
  revision: number;
  contributions: ReturnType<typeof policyContributions>;
}

@Injectable()
export class PolicyStatusService {
  private snapshot: Snapshot | undefined;
  /** When each policy's Overridden condition last changed value, for lastTransitionTime. */
  private readonly transitions = new Map<string, { overridden: boolean; since: string }>();
  /** When each policy's Programmed condition last changed status, for lastTransitionTime. */
  private readonly programmedTransitions = new Map<string, { status: Condition['status']; since: string }>();

  /** Watches that want rollout changes, and the rollout they last heard of. */
  private readonly rolloutListeners = new Set<(changed: ObjectKey[]) => void>();
  private fingerprints = new Map<string, string>();
  private stopRolloutNotifications: (() => void) | undefined;

  constructor(
    private readonly distribution: DistributionService,
    @Inject(EVENT_JOURNAL) private readonly journal: EventJournal,
  ) {}

  async withStatus(resource: Resource): Promise<Resource> {
    if (resource.kind === 'AutoscalePolicy') {
      const status = await this.journal.status({ kind: resource.kind, namespace: resource.metadata.namespace ?? DEFAULT_NAMESPACE, name: resource.metadata.name });
      return status ? ({ ...resource, status } as Resource) : resource;
    }
    if (!kindDefinition(resource.kind)?.isPolicy) return resource;
    const snapshot = await this.current();
    const key = policyRef({ kind: resource.kind as PolicyKind, namespace: resource.metadata.namespace ?? DEFAULT_NAMESPACE, name: resource.metadata.name });
    const contribution = snapshot.contributions.get(key);
    const overridden = !!contribution && contribution.contexts > 0 && contribution.contributing === 0;
    const generation = resource.metadata.generation;
    const now = formatTime();
    const previous = this.transitions.get(key);
    if (!previous || previous.overridden !== overridden) this.transitions.set(key, { overridden, since: now });
    const since = this.transitions.get(key)!.since;
    const conditions: Condition[] = [
      { type: 'Accepted', status: 'True', reason: 'Valid', message: 'The policy is valid and part of the mesh configuration.', observedGeneration: generation, lastTransitionTime: resource.metadata.creationTimestamp ?? now },
      overridden
        ? { type: 'Overridden', status: 'True', reason: 'MoreSpecificPolicies', message: 'Every field this policy sets is overridden by more specific (or older equally specific) policies wherever it applies.', observedGeneration: generation, lastTransitionTime: since }
        : {
            type: 'Overridden',
            status: 'False',
            reason: contribution && contribution.contexts > 0 ? 'InEffect' : 'NoTargets',
            message: contribution && contribution.contexts > 0 ? `Sets effective configuration in ${contribution.contributing} of ${contribution.contexts} route/zone combinations it applies to.` : 'No Route currently matches the targetRef.',
            observedGeneration: generation,
            lastTransitionTime: since,
          },
    ];
    const revision = Number(resource.metadata.resourceVersion);
    const rollout = summarizeRollout(key, this.distribution.rollouts().get(key) ?? [], Number.isInteger(revision) ? revision : Number.MAX_SAFE_INTEGER);
    conditions.splice(1, 0, this.programmedCondition(key, rollout, generation, now));
    const degraded = await this.degradedCondition(resource, generation);
    if (degraded) conditions.push(degraded);
    return {
      ...resource,
      status: { observedGeneration: generation, conditions, rollout: { revision: Number.isInteger(revision) ? revision : undefined, ...rollout } },
    };
  }

  /** Every gateway running the policy with what it answered (`GET …/<name>/rollout`), once the snapshots of the current revision are built. */
  async rolloutOf(resource: Resource): Promise<PolicyRollout> {
    await this.distribution.settled();
    const namespace = resource.metadata.namespace ?? DEFAULT_NAMESPACE;
    const key = policyRef({ kind: resource.kind as PolicyKind, namespace, name: resource.metadata.name });
    const parsed = Number(resource.metadata.resourceVersion);
    const revision = Number.isInteger(parsed) ? parsed : Number.MAX_SAFE_INTEGER;
    const gateways = this.distribution.rollouts().get(key) ?? [];
    return {
      kind: 'PolicyRollout',
      policy: { kind: resource.kind, namespace, name: resource.metadata.name },
      revision,
      summary: summarizeRollout(key, gateways, revision),
      gateways: rolloutEntries(key, gateways, revision),
    };
  }

  /**
   * `Programmed` (as in the Gateway API): True once every routable gateway whose configuration
   * contains the policy ACKed it, so `kubectl wait --for=condition=Programmed` ends with the rollout.
   */
  private programmedCondition(key: string, rollout: RolloutSummary, generation: number | undefined, now: string): Condition {
    const summary = `ACKed by ${rollout.acked} of ${rollout.gateways} gateways`;
    const condition: Omit<Condition, 'lastTransitionTime'> =
      rollout.gateways === 0
        ? { type: 'Programmed', status: 'Unknown', reason: 'NoGateways', message: 'No routable gateway runs a route this policy applies to.' }
        : rollout.nacked > 0
          ? { type: 'Programmed', status: 'False', reason: 'Rejected', message: `${summary}; ${rollout.nacked} rejected it (see status.rollout.rejections).` }
          : rollout.pending > 0
            ? { type: 'Programmed', status: 'False', reason: 'Pending', message: `${summary}; waiting for ${rollout.pending}.` }
            : { type: 'Programmed', status: 'True', reason: 'AllGatewaysACKed', message: `${summary}.` };
    const previous = this.programmedTransitions.get(key);
    if (!previous || previous.status !== condition.status) this.programmedTransitions.set(key, { status: condition.status, since: now });
    return { ...condition, observedGeneration: generation, lastTransitionTime: this.programmedTransitions.get(key)!.since };
  }

  /**
   * `Degraded` (True, RolledBack) while the rollout guard's marker (rollout-guard/degraded-marker.ts)
   * holds for this generation: the guard rolled a change of a policy with spec.guardedRollout back
   * and the policy is still as the rollback wrote it. No marker (or one of an older generation): no
   * condition at all. A journal that cannot be read (Consul down) leaves the condition out rather
   * than fail the read.
   */
  private async degradedCondition(resource: Resource, generation: number | undefined): Promise<Condition | undefined> {
    if (generation === undefined) return undefined;
    const key = { kind: resource.kind, namespace: resource.metadata.namespace ?? DEFAULT_NAMESPACE, name: resource.metadata.name };
    const marker = asRolloutGuardMarker(await this.journal.status(rolloutGuardMarkerKey(key)).catch(() => undefined));
    if (!marker || marker.generation !== generation) return undefined;
    return { type: 'Degraded', status: 'True', reason: 'RolledBack', message: marker.message, observedGeneration: generation, lastTransitionTime: marker.at };
  }

  /**
   * Calls `listener` with the policies whose rollout (what their gateways answered) changed:
   * derived status that no store write marks, for watches. The change is computed once per
   * distribution notification, however many watches listen.
   */
  watchRollouts(listener: (changed: ObjectKey[]) => void): () => void {
    if (this.rolloutListeners.size === 0) {
      this.fingerprints = this.rolloutFingerprints();
      this.stopRolloutNotifications = this.distribution.onRolloutChange(() => this.announceRolloutChanges());
    }
    this.rolloutListeners.add(listener);
    return () => {
      this.rolloutListeners.delete(listener);
      if (this.rolloutListeners.size === 0) this.stopRolloutNotifications?.();
    };
  }

  private announceRolloutChanges(): void {
    const now = this.rolloutFingerprints();
    const seen = this.fingerprints;
    const changed = [...new Set([...seen.keys(), ...now.keys()])].filter((key) => seen.get(key) !== now.get(key));
    this.fingerprints = now;
    if (changed.length === 0) return;
    const keys = changed.map(parsePolicyRef);
    for (const listener of [...this.rolloutListeners]) listener(keys);
  }

  private rolloutFingerprints(): Map<string, string> {
    const fingerprints = new Map<string, string>();
    for (const [policy, gateways] of this.distribution.rollouts()) {
      fingerprints.set(policy, JSON.stringify(gateways.map((g) => [g.name, g.current, g.appliedRevision, g.rejection?.version])));
    }
    return fingerprints;
  }

  /** Contributions are computed once per revision, from the index distribution already built. */
  private async current(): Promise<Snapshot> {
    const index = await this.distribution.resolutionIndex();
    if (this.snapshot?.revision === index.revision) return this.snapshot;
    const contributions = policyContributions(index);
    for (const key of this.transitions.keys()) if (!contributions.has(key)) this.transitions.delete(key);
    for (const key of this.programmedTransitions.keys()) if (!contributions.has(key)) this.programmedTransitions.delete(key);
    this.snapshot = { revision: index.revision, contributions };
    return this.snapshot;
  }
}
