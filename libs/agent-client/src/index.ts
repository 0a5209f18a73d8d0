export * from './protocol.js';
export { AgentClient, AGENT_CLIENT_DEFAULTS, type AgentClientOptions, type AgentClientState, type ConnectionState } from './agent-client.js';
export { backoffDelay } from './backoff.js';
export type { TransportMode } from './config-sync.js';
export { AgentClientError, isTransient, type AgentClientErrorCode, type AgentClientErrorDetails } from './errors.js';
export type { AgentEvent, AgentEventListener, SyncTransport } from './events.js';
export { jittered } from './heartbeat.js';
export { HttpTransport, type HeldSnapshot, type HttpTransportOptions, type NodeSession } from './http-transport.js';
export { isSnapshot, type SnapshotHandler, type SnapshotResult } from './snapshot-delivery.js';
