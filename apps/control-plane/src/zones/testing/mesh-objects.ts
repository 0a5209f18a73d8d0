/** Registered nodes and mesh objects as the zones specs need them, in a few words each. */
import { GROUP_VERSION, type FailoverPolicy, type FailoverPolicyStatus, type Lifecycle, type Service, type ServiceSpec, type Zone } from '@portolan/api';
import type { RegisteredGateway, RegisteredInstance } from '../../registry/node-registry';

const base = (name: string, phase: Lifecycle) => ({
  id: `id-${name}`,
  namespace: 'default',
  name,
  registeredAt: 0,
  lastHeartbeat: 0,
  draining: phase === 'Draining',
  degradedBecause: phase === 'Degraded' ? ['ConfigRejected'] : [],
  lifecycle: { phase, remove: false },
});

export function gatewayNode(name: string, zone: string, phase: Lifecycle = 'Healthy'): RegisteredGateway {
  return { ...base(name, phase), role: 'gateway', spec: { zone, pool: 'edge', address: '127.0.0.1:1', version: 'test' } };
}

export function instanceNode(name: string, service: string, address: string, zone: string | undefined, phase: Lifecycle = 'Healthy', weight?: number): RegisteredInstance {
  return { ...base(name, phase), role: 'instance', spec: { service, address, port: 8080, ...(zone ? { zone } : {}), ...(weight ? { weight } : {}) } };
}

export function service(name: string, spec: Partial<ServiceSpec> = {}, namespace = 'default'): Service {
  return { apiVersion: GROUP_VERSION, kind: 'Service', metadata: { name, namespace }, spec: { ports: [{ port: 80 }], ...spec } };
}

export function zoneObject(name: string, drained: boolean, reason?: string, namespace = 'default'): Zone {
  return { apiVersion: GROUP_VERSION, kind: 'Zone', metadata: { name, namespace }, spec: { drained, ...(reason ? { reason } : {}) } };
}

export function failoverPolicy(name: string, target: { kind: 'Mesh' } | { kind: 'Service'; name: string }, zones: Record<string, number>, status?: FailoverPolicyStatus): FailoverPolicy {
  return {
    apiVersion: GROUP_VERSION,
    kind: 'FailoverPolicy',
    metadata: { name, namespace: 'default', creationTimestamp: '2026-01-01T00:00:00Z', resourceVersion: '1' },
    spec: { targetRef: target, zones: Object.entries(zones).map(([zone, priority]) => ({ name: zone, priority })) },
    ...(status ? { status } : {}),
  };
}
