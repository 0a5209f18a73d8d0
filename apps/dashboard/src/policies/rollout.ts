/**
 * Where a written change of a policy stands on each gateway it reaches: ACKed (the gateway runs a
 * configuration built at or after the write's revision), NACKed (it rejected the configuration it
 * should run, naming this policy or nothing), disconnected (the change cannot reach it now), or
 * pending. From proxy-status (`GET /v1/proxy-status`) and the live feed's gateway rows, whichever
 * knows more; the same rule as the control plane's rollout summary. Pure.
 */
import type { GatewayRow, ProxyStatus } from '@portolan/api';

export type GatewayOutcome = 'acked' | 'nacked' | 'pending' | 'disconnected';

export interface GatewayProgress {
  name: string;
  zone: string;
  outcome: GatewayOutcome;
  /** Why it rejected the configuration (NACKed only). */
  reason?: string;
  appliedRevision?: number;
}

/** `Kind/namespace/name`: how NACK errors name a policy. */
export function policyRefOf(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

export function gatewayProgress(
  names: readonly string[],
  revision: number,
  policyRef: string,
  proxies: readonly ProxyStatus[] | undefined,
  rows: readonly GatewayRow[] | null,
): GatewayProgress[] {
  return names.map((name) => {
    const proxy = proxies?.find((candidate) => candidate.gateway === name);
    const row = rows?.find((candidate) => candidate.name === name);
    const zone = proxy?.zone ?? row?.zone ?? '';
    const applied = Math.max(proxy?.appliedRevision ?? -1, row?.appliedRevision ?? -1);
    const appliedRevision = applied >= 0 ? applied : undefined;

    const nack = proxy?.sync === 'Rejected' ? proxy.lastNack : undefined;
    if (nack && nack.revision >= revision) {
      const own = nack.errors.filter((error) => error.resource === policyRef);
      if (nack.errors.length === 0 || own.length > 0) {
        const reason = (own.length > 0 ? own : nack.errors).map((error) => `${error.field ? `${error.field}: ` : ''}${error.message}`).join('; ') || 'rejected without a reason';
        return { name, zone, outcome: 'nacked', reason, appliedRevision };
      }
    }
    if (applied >= revision) return { name, zone, outcome: 'acked', appliedRevision };
    // The feed's row says it rejected what it should run; proxy-status may not have caught up yet.
    if (row && !row.synced && row.nack && !nack) return { name, zone, outcome: 'nacked', reason: row.nack, appliedRevision };
    const disconnected = proxy ? proxy.sync === 'Disconnected' : row ? row.transport === 'none' || row.phase === 'Offline' : false;
    return { name, zone, outcome: disconnected ? 'disconnected' : 'pending', appliedRevision };
  });
}

export function countOutcomes(progress: readonly GatewayProgress[]): Record<GatewayOutcome, number> {
  const counts: Record<GatewayOutcome, number> = { acked: 0, nacked: 0, pending: 0, disconnected: 0 };
  for (const gateway of progress) counts[gateway.outcome]++;
  return counts;
}
