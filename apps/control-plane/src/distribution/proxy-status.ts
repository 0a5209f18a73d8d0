/**
 * Whether each gateway runs the configuration it should, like `istioctl proxy-status`: the first
 * question when a policy's rollout does not complete.
 */
import type { Lifecycle } from '@portolan/api';
import type { GatewaySyncState } from './distribution.service';
import { sameContent, type GatewaySnapshot } from './snapshot-builder';

/**
 * - Synced: it ACKed the snapshot it should run.
 * - Stale: it has not ACKed that snapshot yet (in flight, or it is slow to apply it).
 * - Rejected: it NACKed that snapshot (and did not ACK it since); `lastNack` says why.
 * - Disconnected: it neither holds a stream nor long-polls (stopped, partitioned, Offline), so the
 *   next change cannot reach it whatever it runs now.
 */
export type SyncState = 'Synced' | 'Stale' | 'Rejected' | 'Disconnected';

export interface ProxyStatus {
  gateway: string;
  namespace: string;
  zone: string;
  pool: string;
  phase: Lifecycle;
  sync: SyncState;
  /** Anything but Synced: the gateway may not run the current configuration. */
  stale: boolean;
  transport: string;
  desiredVersion: string;
  desiredRevision: number;
  appliedVersion?: string;
  appliedRevision?: number;
  appliedAt?: string;
  lastNack?: GatewaySyncState['lastNack'];
}

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
