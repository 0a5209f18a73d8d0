/**
 * What the client tells its owner about the connection to the control plane, for logs and
 * metrics. None of these is fatal: the gateway keeps serving its last good configuration (fail
 * static) while the client retries. Plain type aliases, not interfaces, so an event is assignable
 * to a generic `{ type: string; [key: string]: unknown }` logger parameter.
 */
import type { AgentClientError } from './errors.js';
import type { Lifecycle } from './protocol.js';

export type SyncTransport = 'websocket' | 'long-poll';

export type AgentEvent =
  | { type: 'registered'; id: string; name: string; renewal: boolean }
  | { type: 'registration-failed'; error: AgentClientError; attempt: number; retryInMs: number }
  /** A node endpoint answered 404: the control plane removed the node; the client registers again. */
  | { type: 'node-removed'; id: string }
  | { type: 'lifecycle'; lifecycle: Lifecycle }
  | { type: 'heartbeat-failed'; error: AgentClientError; consecutiveFailures: number }
  | { type: 'connecting'; transport: SyncTransport }
  | { type: 'connected'; transport: SyncTransport }
  /** Also emitted for each failed connection attempt, with the backoff before the next one. */
  | { type: 'disconnected'; transport: SyncTransport; error: AgentClientError; retryInMs: number }
  | { type: 'transport-changed'; transport: SyncTransport; reason: string }
  /** A periodic attempt to go back from long-poll to WebSocket failed; long-poll continues. */
  | { type: 'websocket-probe-failed'; error: AgentClientError }
  | { type: 'snapshot-applied'; version: string; revision: number; status: 'ACK' | 'NACK' }
  /** `onSnapshot` threw; the snapshot is NACKed with the error and not offered again. */
  | { type: 'snapshot-failed'; version: string; revision: number; error: Error }
  | { type: 'ack-failed'; version: string; revision: number; error: AgentClientError }
  | { type: 'invalid-message'; transport: SyncTransport; error: AgentClientError }
  /** `onTap` threw; heartbeats go on, the tap does not start. */
  | { type: 'tap-failed'; error: Error };

export type AgentEventListener = (event: AgentEvent) => void;
