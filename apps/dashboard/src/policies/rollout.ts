/**
 * Where the policy's current version stands on each gateway that runs it, as the control plane
 * judges it (`GET …/<name>/rollout`: ACKed, NACKed with what it rejected, or pending), with what
 * the live feed knows on top: a pending gateway that holds no connection (or went Offline) cannot
 * get the change now, so it shows as disconnected. Pure.
 */
import type { GatewayRolloutEntry, GatewayRow } from '@portolan/api';

export type GatewayOutcome = 'acked' | 'nacked' | 'pending' | 'disconnected';

export interface GatewayProgress {
  name: string;
  zone: string;
  outcome: GatewayOutcome;
  /** Why it rejected the configuration (NACKed only). */
  reason?: string;
  appliedRevision?: number;
}

export function gatewayProgress(entries: readonly GatewayRolloutEntry[], rows: readonly GatewayRow[] | null): GatewayProgress[] {
  return entries.map((entry) => {
    const base = { name: entry.gateway, zone: entry.zone, ...(entry.appliedRevision !== undefined ? { appliedRevision: entry.appliedRevision } : {}) };
    if (entry.outcome === 'nacked') {
      const reason = (entry.rejection?.errors ?? []).map((error) => `${error.field ? `${error.field}: ` : ''}${error.message}`).join('; ') || 'rejected without a reason';
      return { ...base, outcome: 'nacked', reason };
    }
    if (entry.outcome === 'acked') return { ...base, outcome: 'acked' };
    const row = rows?.find((candidate) => candidate.name === entry.gateway);
    const disconnected = !!row && (row.transport === 'none' || row.phase === 'Offline');
    return { ...base, outcome: disconnected ? 'disconnected' : 'pending' };
  });
}
