/**
 * The node registry contract: gateways and upstream service instances register, heartbeat, drain
 * and deregister here. The embedded implementation keeps registrations in the local database; the
 * Consul one (a later issue) keeps them in Consul's catalog. Both must pass
 * node-registry.contract.ts.
 *
 * Heartbeats change liveness only; they are not registry changes. A change (and a new epoch) is a
 * node joining, leaving, starting to drain, or changing phase, which is what gateways must hear of.
 */
import type { GatewayNodeSpec, ServiceInstanceSpec } from '@portolan/api';
import type { HeartbeatRequest, HeartbeatStats, RegisterRequest } from '@portolan/agent-client';
import type { RegistrySettings } from '../config/boot-config';
import type { LifecycleView } from './lifecycle';

interface NodeBase {
  id: string;
  namespace: string;
  name: string;
  registeredAt: number;
  lastHeartbeat: number;
  /** When its config stream dropped without a close frame, until it heartbeats or connects again (lifecycle.ts). */
  streamLostAt?: number;
  draining: boolean;
  /** Why the node is Degraded (NACKed config, open breakers); empty when it is not. */
  degradedBecause: string[];
  /** Counters of the last heartbeat period. */
  stats?: HeartbeatStats;
  /** When this replica last received `stats` (a self-check notices when they stop). */
  statsAt?: number;
  lifecycle: LifecycleView;
}

export interface RegisteredGateway extends NodeBase {
  role: 'gateway';
  spec: GatewayNodeSpec;
}

export interface RegisteredInstance extends NodeBase {
  role: 'instance';
  spec: ServiceInstanceSpec;
}

export type RegisteredNode = RegisteredGateway | RegisteredInstance;

/** Why a node was removed, when it matters to its connections: they end as refused, not as deregistered. */
export type RemovalCause = 'credential-revoked';

export interface RegistryChange {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  /** DELETED only, on the replica that removed the node: set when an operator revoked its credential. */
  cause?: RemovalCause;
  /** The node as of this change (for DELETED, as it was when removed). */
  node: RegisteredNode;
  /** Registry epoch after this change. */
  epoch: number;
}

export type Unsubscribe = () => void;

export interface NodeRegistry {
  readonly settings: RegistrySettings;
  /** Registers a node, replacing a registration of the same role, namespace and name. */
  register(request: RegisterRequest): Promise<{ node: RegisteredNode; credential: string }>;
  /** The node whose id and credential these are; undefined when either is wrong. */
  authenticate(id: string, credential: string): RegisteredNode | undefined;
  /** NodeNotFoundError when the node is gone (removed, or replaced by a newer registration). */
  heartbeat(id: string, request: HeartbeatRequest): Promise<RegisteredNode>;
  drain(id: string): Promise<RegisteredNode>;
  deregister(id: string): Promise<RegisteredNode>;
  /**
   * Removes the registration as deregister does, because an operator revoked its credential: the
   * node must register again with the bootstrap token. The DELETED change says so (`cause`).
   */
  revokeCredential(id: string): Promise<RegisteredNode>;
  /** Adds or clears one reason for the node to be Degraded. */
  setDegraded(id: string, reason: string, degraded: boolean): void;
  /**
   * The gateway's config stream dropped without a close frame (lost), or a new one opened: a lost
   * stream takes it Offline at once, until it heartbeats or connects again (lifecycle.ts).
   */
  setStreamLost(id: string, lost: boolean): void;
  get(id: string): RegisteredNode | undefined;
  /** Every registered node, in role, namespace, name order. */
  nodes(): RegisteredNode[];
  /** Counts registry changes; it never goes backwards while the process runs. */
  epoch(): number;
  /** Calls `listener` for every change from now on. */
  onChange(listener: (change: RegistryChange) => void): Unsubscribe;
  close(): Promise<void>;
}

export class NodeNotFoundError extends Error {
  readonly code = 'PORTOLAN_NODE_NOT_FOUND';
  constructor(readonly id: string) {
    super(`node ${id} is not registered (it was removed or registered again under a new id): register again`);
  }
}

export class InvalidRegistrationError extends Error {
  readonly code = 'PORTOLAN_INVALID_REGISTRATION';
  constructor(
    readonly kind: string,
    readonly objectName: string,
    readonly causes: Array<{ field: string; message: string }>,
  ) {
    super(`${kind} "${objectName}" is invalid: ${causes.map((cause) => `${cause.field}: ${cause.message}`).join(', ')}`);
  }
}

export const NODE_REGISTRY = Symbol('NodeRegistry');

const byCodeUnits = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The order of `nodes()`: role, then namespace, then name. Compared by code units, not
 * `localeCompare`: names are DNS labels (lowercase letters, digits, `-`, `.`), which both order
 * alike, and collation was most of sorting 10,000 nodes on every snapshot rebuild.
 */
export function compareNodes(a: RegisteredNode, b: RegisteredNode): number {
  return byCodeUnits(a.role, b.role) || byCodeUnits(a.namespace, b.namespace) || byCodeUnits(a.name, b.name);
}

/** The resource kind each node role is shown as. */
export const KIND_OF_ROLE = { gateway: 'GatewayNode', instance: 'ServiceInstance' } as const;
