/**
 * Policy status is derived, not stored: the conditions of a policy follow from the whole mesh at
 * the current revision, so they are computed from the resolution index (built once per revision
 * by the distribution module, and shared) and attached when a policy is read. Writing them back would bump the revision and
 * make every gateway resync for nothing.
 */
import { Injectable } from '@nestjs/common';
import { DEFAULT_NAMESPACE, kindDefinition, policyContributions, policyRef, type Condition, type PolicyKind, type Resource } from '@portolan/api';
import { DistributionService, type PolicyRollout } from '../distribution/distribution.service';

interface Snapshot {
  revision: number;
  contributions: ReturnType<typeof policyContributions>;
}

@Injectable()
export class PolicyStatusService {
  private snapshot: Snapshot | undefined;
  /** When each policy's Overridden condition last changed value, for lastTransitionTime. */
  private readonly transitions = new Map<string, { overridden: boolean; since: string }>();
  /** When each policy's Synced condition last changed status, for lastTransitionTime. */
  private readonly syncedTransitions = new Map<string, { status: Condition['status']; since: string }>();

  constructor(private readonly distribution: DistributionService) {}

  async withStatus(resource: Resource): Promise<Resource> {
    if (!kindDefinition(resource.kind)?.isPolicy) return resource;
    const snapshot = await this.current();
    const key = policyRef({ kind: resource.kind as PolicyKind, namespace: resource.metadata.namespace ?? DEFAULT_NAMESPACE, name: resource.metadata.name });
    const contribution = snapshot.contributions.get(key);
    const overridden = !!contribution && contribution.contexts > 0 && contribution.contributing === 0;
    const generation = resource.metadata.generation;
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
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
      this.rolloutCondition(key, this.distribution.rollouts().get(key), generation, now),
    ];
    const rollout = this.distribution.rollouts().get(key) ?? { gateways: 0, synced: 0, nacked: 0 };
    return {
      ...resource,
      status: { observedGeneration: generation, conditions, rollout: { gateways: rollout.gateways, acked: rollout.synced, nacked: rollout.nacked } },
    };
  }

  /** `Synced`: whether every gateway running the policy ACKed the configuration it should run. */
  private rolloutCondition(key: string, rollout: PolicyRollout | undefined, generation: number | undefined, now: string): Condition {
    const summary = rollout ? `ACKed by ${rollout.synced} of ${rollout.gateways} gateways` : '';
    const condition: Omit<Condition, 'lastTransitionTime'> =
      !rollout || rollout.gateways === 0
        ? { type: 'Synced', status: 'Unknown', reason: 'NoGateways', message: 'No routable gateway runs a route this policy applies to.' }
        : rollout.nacked > 0
          ? { type: 'Synced', status: 'False', reason: 'Rejected', message: `${summary}; ${rollout.nacked} rejected it (see their GatewayNode status.lastNack).` }
          : rollout.synced < rollout.gateways
            ? { type: 'Synced', status: 'False', reason: 'Pending', message: `${summary}; waiting for the rest.` }
            : { type: 'Synced', status: 'True', reason: 'AllGatewaysACKed', message: `${summary}.` };
    const previous = this.syncedTransitions.get(key);
    if (!previous || previous.status !== condition.status) this.syncedTransitions.set(key, { status: condition.status, since: now });
    return { ...condition, observedGeneration: generation, lastTransitionTime: this.syncedTransitions.get(key)!.since };
  }

  /** Contributions are computed once per revision, from the index distribution already built. */
  private async current(): Promise<Snapshot> {
    const index = await this.distribution.resolutionIndex();
    if (this.snapshot?.revision === index.revision) return this.snapshot;
    const contributions = policyContributions(index);
    for (const key of this.transitions.keys()) if (!contributions.has(key)) this.transitions.delete(key);
    for (const key of this.syncedTransitions.keys()) if (!contributions.has(key)) this.syncedTransitions.delete(key);
    this.snapshot = { revision: index.revision, contributions };
    return this.snapshot;
  }
}
