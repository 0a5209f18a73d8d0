/** `GET /v1/proxy-status`: whether each gateway runs the configuration it should, like `istioctl proxy-status`. */
import type { GatewayNodeStatus } from '../kinds/gateway-node.js';
import type { Lifecycle } from '../kinds/registry-status.js';

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
  /** The gateway's last rejection of its configuration (the GatewayNode's status.lastNack). */
  lastNack?: GatewayNodeStatus['lastNack'];
}
