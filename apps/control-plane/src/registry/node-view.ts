/**
 * How registered nodes look through the resource API: GatewayNode and ServiceInstance objects,
 * composed from the registration, its liveness and (for gateways) the config sync state.
 */
import { formatTime, GROUP_VERSION, type Condition, type GatewayNode, type ServiceInstance } from '@portolan/api';
import type { GatewaySyncState } from '../distribution/distribution.service';
import { sameContent } from '../distribution/snapshot-builder';
import type { RegisteredNode } from './node-registry';


function readyCondition(node: RegisteredNode): Condition {
  const { phase, streamLost } = node.lifecycle;
  const reason = phase === 'Degraded' ? node.degradedBecause.join(',') : streamLost ? 'StreamLost' : phase;
  const messages: Record<string, string> = {
    Healthy: 'Heartbeating; routed to.',
    Degraded: `Serving, but: ${node.degradedBecause.join(', ')}.`,
    Draining: 'Leaving: no longer routed to; finishing in-flight requests.',
    Offline: streamLost
      ? 'Its config stream dropped without closing (the gateway or its host went away, or it stopped answering pings): no longer routed to until it heartbeats or connects again.'
      : 'Missed heartbeats for its TTL: no longer routed to.',
  };
  return {
    type: 'Ready',
    status: phase === 'Healthy' || phase === 'Degraded' ? 'True' : 'False',
    reason,
    message: messages[phase],
    lastTransitionTime: formatTime(node.lifecycle.offlineSince ?? node.lastHeartbeat),
  };
}

/** `listening`: the gateway is connected, or long-polled within its TTL. */
export function toResource(node: RegisteredNode, now: number, sync?: GatewaySyncState, listening = false): GatewayNode | ServiceInstance {
  const { lifecycle } = node;
  const common = {
    phase: lifecycle.phase,
    registeredAt: formatTime(node.registeredAt),
    lastHeartbeat: formatTime(node.lastHeartbeat),
    ...(lifecycle.offlineSince !== undefined ? { offlineSince: formatTime(lifecycle.offlineSince) } : {}),
    ...(lifecycle.removalAt !== undefined
      ? { removalAt: formatTime(lifecycle.removalAt), removalInSeconds: Math.max(0, Math.ceil((lifecycle.removalAt - now) / 1000)) }
      : {}),
    conditions: [readyCondition(node)],
  };
  const metadata = { name: node.name, namespace: node.namespace, uid: node.id, creationTimestamp: formatTime(node.registeredAt) };
  if (node.role === 'instance') {
    return { apiVersion: GROUP_VERSION, kind: 'ServiceInstance', metadata, spec: node.spec, status: common };
  }
  const desired = sync?.desired;
  const transport = sync?.transport;
  return {
    apiVersion: GROUP_VERSION,
    kind: 'GatewayNode',
    metadata,
    spec: node.spec,
    status: {
      ...common,
      ...(desired ? { desiredVersion: desired.version } : {}),
      ...(sync?.applied ? { appliedVersion: sync.applied.version, appliedRevision: sync.applied.revision } : {}),
      synced: !!desired && sameContent(sync?.applied?.version, desired.version),
      transport: transport && listening ? transport.kind : 'none',
      ...(sync?.lastNack ? { lastNack: sync.lastNack } : {}),
      ...(node.stats ? { stats: node.stats } : {}),
    },
  };
}
