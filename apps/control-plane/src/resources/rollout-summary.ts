/**
 * How far one policy has reached the gateways, from what each gateway running it answered: the
 * counts and per-zone counts in `status.rollout`, and the NACK reasons.
 */
import type { GatewayRolloutEntry, RolloutOutcome, RolloutSummary, ZoneRollout } from '@portolan/api';
import type { GatewayRollout } from '../distribution/distribution.service';

export type { RolloutSummary, ZoneRollout } from '@portolan/api';

const MAX_REJECTIONS = 10;

/**
 * A gateway has ACKed the policy when it runs the snapshot it should run now, or any snapshot
 * built at or after `policyRevision` (every such snapshot carries this generation of the policy,
 * even if a later change is still on its way). It has NACKed it when it rejected the snapshot it
 * should run now because of this policy (or without naming a resource). Otherwise it is pending.
 */
export function rolloutOutcome(policy: string, gateway: GatewayRollout, policyRevision: number): RolloutOutcome {
  const rejected = !!gateway.rejection && (gateway.rejection.errors.length === 0 || gateway.rejection.errors.some((error) => error.resource === policy));
  if (rejected) return 'nacked';
  return gateway.current || (gateway.appliedRevision ?? -1) >= policyRevision ? 'acked' : 'pending';
}

export function summarizeRollout(policy: string, gateways: readonly GatewayRollout[], policyRevision: number): RolloutSummary {
  const zones = new Map<string, ZoneRollout>();
  const summary: RolloutSummary = { gateways: 0, acked: 0, nacked: 0, pending: 0, zones: [], rejections: [] };
  for (const gateway of gateways) {
    const outcome = rolloutOutcome(policy, gateway, policyRevision);
    let zone = zones.get(gateway.zone);
    if (!zone) zones.set(gateway.zone, (zone = { zone: gateway.zone, gateways: 0, acked: 0, nacked: 0, pending: 0 }));
    for (const counts of [summary, zone]) {
      counts.gateways++;
      counts[outcome]++;
    }
    if (outcome === 'nacked') summary.rejections.push({ gateway: gateway.name, zone: gateway.zone, version: gateway.rejection!.version, errors: gateway.rejection!.errors });
  }
  summary.zones = [...zones.values()].sort((a, b) => a.zone.localeCompare(b.zone));
  summary.rejections = summary.rejections.sort((a, b) => a.gateway.localeCompare(b.gateway)).slice(0, MAX_REJECTIONS);
  return summary;
}

/** Every gateway running the policy with its outcome, by name: what the dashboard's rollout table lists. */
export function rolloutEntries(policy: string, gateways: readonly GatewayRollout[], policyRevision: number): GatewayRolloutEntry[] {
  return gateways
    .map((gateway) => {
      const outcome = rolloutOutcome(policy, gateway, policyRevision);
      return {
        gateway: gateway.name,
        zone: gateway.zone,
        outcome,
        ...(gateway.appliedRevision !== undefined ? { appliedRevision: gateway.appliedRevision } : {}),
        ...(outcome === 'nacked' ? { rejection: gateway.rejection! } : {}),
      };
    })
    .sort((a, b) => a.gateway.localeCompare(b.gateway));
}
