/**
 * Whether each gateway runs the configuration it should, like `istioctl proxy-status`: the first
 * question when a policy's rollout does not complete.
 */
import type { Lifecycle, ProxyStatus, SyncState } from '@portolan/api';
import type { GatewaySyncState } from './distribution.service';
import { sameContent, type GatewaySnapshot } from './snapshot-builder';

export type { SyncState, ProxyStatus } from '@portolan/api';

export function syncStateOf(desired: GatewaySnapshot, state: GatewaySyncState, listening: boolean, phase: Lifecycle): SyncState {
  if (!listening || phase === 'Offline') return 'Disconnected';
  if (sameContent(state.applied?.version, desired.version)) return 'Synced';
  return sameContent(state.lastNack?.version, desired.version) ? 'Rejected' : 'Stale';
}

export function proxyStatus(
  snapshot: GatewaySnapshot,
  state: GatewaySyncState,
  listening: boolean,
  node: { name: string; namespace: string; zone: string; pool: string; phase: Lifecycle },
): ProxyStatus {
  const sync = syncStateOf(snapshot, state, listening, node.phase);
  return {
    gateway: node.name,
    namespace: node.namespace,
    zone: node.zone,
    pool: node.pool,
    phase: node.phase,
    sync,
    stale: sync !== 'Synced',
    transport: listening && state.transport ? state.transport.kind : 'none',
    desiredVersion: snapshot.version,
    desiredRevision: snapshot.revision,
    ...(state.applied ? { appliedVersion: state.applied.version, appliedRevision: state.applied.revision, appliedAt: state.applied.at } : {}),
    ...(state.lastNack ? { lastNack: state.lastNack } : {}),
  };
}
