/**
 * How far one policy has reached the gateways, from what each gateway running it answered: the
 * counts and per-zone counts in `status.rollout`, and the NACK reasons.
 */
import type { GatewayRollout } from '../distribution/distribution.service';

export interface ZoneRollout {
  zone: string;
  gateways: number;
  acked: number;
  nacked: number;
  pending: number;
}

export interface RolloutSummary {
  gateways: number;
  acked: number;
  nacked: number;
  pending: number;
  zones: ZoneRollout[];
  rejections: Array<{ gateway: string; zone: string; version: string; errors: Array<{ resource: string; field?: string; message: string }> }>;
}

const MAX_REJECTIONS = 10;

/**
 * A gateway has ACKed the policy when it runs the snapshot it should run now, or any snapshot
 * built at or after `policyRevision` (every such snapshot carries this generation of the policy,
 * even if a later change is still on its way). It has NACKed it when it rejected the snapshot it
 * should run now because of this policy (or without naming a resource). Otherwise it is pending.
 */
export function summarizeRollout(policy: string, gateways: readonly GatewayRollout[], policyRevision: number): RolloutSummary {
  const zones = new Map<string, ZoneRollout>();
  const summary: RolloutSummary = { gateways: 0, acked: 0, nacked: 0, pending: 0, zones: [], rejections: [] };
  for (const gateway of gateways) {
    const rejected = !!gateway.rejection && (gateway.rejection.errors.length === 0 || gateway.rejection.errors.some((error) => error.resource === policy));
    const outcome = rejected ? 'nacked' : gateway.current || (gateway.appliedRevision ?? -1) >= policyRevision ? 'acked' : 'pending';
    let zone = zones.get(gateway.zone);
    if (!zone) zones.set(gateway.zone, (zone = { zone: gateway.zone, gateways: 0, acked: 0, nacked: 0, pending: 0 }));
    for (const counts of [summary, zone]) {
      counts.gateways++;
      counts[outcome]++;
    }
    if (rejected) summary.rejections.push({ gateway: gateway.name, zone: gateway.zone, version: gateway.rejection!.version, errors: gateway.rejection!.errors });
  }
  summary.zones = [...zones.values()].sort((a, b) => a.zone.localeCompare(b.zone));
  summary.rejections = summary.rejections.sort((a, b) => a.gateway.localeCompare(b.gateway)).slice(0, MAX_REJECTIONS);
  return summary;
}
