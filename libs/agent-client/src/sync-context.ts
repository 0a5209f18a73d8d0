/** What a config-sync loop needs, for one registration (a new registration starts new loops). */
import type { ClientCertificate } from './client-tls.js';
import type { AgentEventListener } from './events.js';
import type { HttpTransport, NodeSession } from './http-transport.js';
import type { SnapshotDelivery } from './snapshot-delivery.js';

export interface SyncSettings {
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  pingIntervalMs: number;
  /** A WebSocket that stayed up this long resets the reconnect backoff. */
  stableAfterMs: number;
  handshakeTimeoutMs: number;
  longPollWaitMs: number;
  /** In auto mode, consecutive failed WebSocket connection attempts before falling back. */
  websocketFailuresBeforeFallback: number;
  /** In auto mode, how often a long-polling agent tries WebSocket again. */
  websocketRetryMs: number;
  random: () => number;
}

export interface SyncContext {
  http: HttpTransport;
  session: NodeSession;
  controlPlaneUrl: URL;
  caPem?: string;
  clientCertificate?: ClientCertificate;
  delivery: SnapshotDelivery;
  settings: SyncSettings;
  emit: AgentEventListener;
  /** A node endpoint answered 404: the owner registers again and starts new loops. */
  nodeGone: () => void;
}
