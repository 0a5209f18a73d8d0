/**
 * The kind registry: every kind Portolan serves, with the names the API, kubectl discovery and
 * tables use. Adding a kind means adding its schema file and one entry here; the API routes,
 * validation, OpenAPI and discovery are all derived from this list.
 */
import type { TObject } from '@sinclair/typebox';
import { formatDuration, parseDuration } from '../duration.js';
import type { Resource } from '../meta.js';
import { AutoscalePolicySchema, type AutoscalePolicy } from './autoscale-policy.js';
import { CircuitBreakerPolicySchema } from './circuit-breaker-policy.js';
import { FailoverPolicySchema, type FailoverPolicy } from './failover-policy.js';
import { ZoneSchema, type Zone } from './zone.js';
import { RateLimitPolicySchema, type RateLimitPolicySpec } from './rate-limit-policy.js';
import { RetryPolicySchema, type RetryPolicySpec } from './retry-policy.js';
import { RouteSchema, type RouteSpec } from './route.js';
import { ServiceSchema, type ServiceSpec } from './service.js';
import { TimeoutPolicySchema, type TimeoutPolicySpec } from './timeout-policy.js';
import { GatewayNodeSchema, type GatewayNode } from './gateway-node.js';
import { ServiceInstanceSchema, type ServiceInstance } from './service-instance.js';
import type { TargetRef } from '../meta.js';

/** A column of `kubectl get` output (a Kubernetes Table column). */
export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'date';
  description: string;
  /** 0: always shown; 1: only with `kubectl get -o wide`, as Kubernetes' priority columns. */
  priority?: 0 | 1;
  cell(resource: Resource<string, any>): string | number;
}

export interface KindDefinition {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  categories: string[];
  /** Policies carry spec.targetRef and take part in resolution. */
  isPolicy: boolean;
  /**
   * `registry`: objects the node registry owns (nodes register themselves through the agent
   * protocol); the API serves them read-only. Absent: user-written objects in the resource store.
   */
  managedBy?: 'registry';
  schema: TObject;
  printerColumns: PrinterColumn[];
}

/** READY x/y as for a Deployment: gateways that ACKed this generation / gateways running the policy. */
const readyColumn: PrinterColumn = {
  name: 'Ready',
  type: 'string',
  description: 'Gateways that ACKed the configuration with this generation of the policy / routable gateways running it',
  cell: (r) => (r.status?.rollout ? `${r.status.rollout.acked}/${r.status.rollout.gateways}` : ''),
};

const targetColumn: PrinterColumn = {
  name: 'Target',
  type: 'string',
  description: 'What the policy applies to',
  cell: (r) => describeTarget((r.spec as { targetRef: TargetRef }).targetRef),
};

export function describeTarget(ref: TargetRef): string {
  const base = ref.kind === 'Mesh' ? 'Mesh' : `${ref.kind}/${ref.name ?? '?'}`;
  return ref.zone ? `${base}@${ref.zone}` : base;
}

function describeAutoscaleTarget(policy: AutoscalePolicy): string {
  return policy.spec.target.zone ? `${policy.spec.target.pool}@${policy.spec.target.zone}` : policy.spec.target.pool;
}

function describeAutoscaleMetric(policy: AutoscalePolicy): string {
  const { latency, requestsPerSecond } = policy.spec.metric;
  const reading = policy.status?.metric;
  const now = reading?.value === null || reading?.value === undefined ? '<none>' : `${Math.round(reading.value * 10) / 10}`;
  if (latency) return `${latency.statistic ?? 'P99'} ${now}/${latency.target}`;
  return `rps/gw ${now}/${requestsPerSecond?.targetPerGateway ?? '?'}`;
}

function describeRate(spec: RateLimitPolicySpec): string {
  return spec.limits.map((limit) => `${limit.requests}/${formatDuration(parseDuration(limit.interval))}`).join(',');
}

export const KINDS: readonly KindDefinition[] = [
  {
    kind: 'RateLimitPolicy',
    plural: 'ratelimitpolicies',
    singular: 'ratelimitpolicy',
    shortNames: ['rlp'],
    categories: ['mesh', 'policies'],
    isPolicy: true,
    schema: RateLimitPolicySchema,
    printerColumns: [
      targetColumn,
      { name: 'Rate', type: 'string', description: 'Requests per interval of each bucket', cell: (r) => describeRate(r.spec as RateLimitPolicySpec) },
      readyColumn,
      { name: 'Scope', type: 'string', description: 'gateway or mesh', priority: 1, cell: (r) => (r.spec as RateLimitPolicySpec).scope ?? 'gateway' },
    ],
  },
  {
    kind: 'RetryPolicy',
    plural: 'retrypolicies',
    singular: 'retrypolicy',
    shortNames: ['rtp'],
    categories: ['mesh', 'policies'],
    isPolicy: true,
    schema: RetryPolicySchema,
    printerColumns: [
      targetColumn,
      { name: 'Attempts', type: 'string', description: 'Retries after the first try', cell: (r) => String((r.spec as RetryPolicySpec).attempts ?? '') },
      readyColumn,
    ],
  },
  {
    kind: 'CircuitBreakerPolicy',
    plural: 'circuitbreakerpolicies',
    singular: 'circuitbreakerpolicy',
    shortNames: ['cbp'],
    categories: ['mesh', 'policies'],
    isPolicy: true,
    schema: CircuitBreakerPolicySchema,
    printerColumns: [targetColumn, readyColumn],
  },
  {
    kind: 'TimeoutPolicy',
    plural: 'timeoutpolicies',
    singular: 'timeoutpolicy',
    shortNames: ['tmp'],
    categories: ['mesh', 'policies'],
    isPolicy: true,
    schema: TimeoutPolicySchema,
    printerColumns: [
      targetColumn,
      { name: 'Request', type: 'string', description: 'Request timeout', cell: (r) => (r.spec as TimeoutPolicySpec).requestTimeout ?? '' },
      readyColumn,
    ],
  },
  {
    kind: 'AutoscalePolicy',
    plural: 'autoscalepolicies',
    singular: 'autoscalepolicy',
    shortNames: ['asp'],
    categories: ['mesh'],
    isPolicy: false,
    schema: AutoscalePolicySchema,
    printerColumns: [
      { name: 'Target', type: 'string', description: 'Gateway pool (and zone) it scales', cell: (r) => describeAutoscaleTarget(r as AutoscalePolicy) },
      { name: 'Metric', type: 'string', description: 'Last reading / target', cell: (r) => describeAutoscaleMetric(r as AutoscalePolicy) },
      { name: 'Min', type: 'integer', description: 'Fewest gateways', cell: (r) => (r as AutoscalePolicy).spec.minReplicas ?? 1 },
      { name: 'Max', type: 'integer', description: 'Most gateways', cell: (r) => (r as AutoscalePolicy).spec.maxReplicas },
      { name: 'Replicas', type: 'string', description: 'Current / desired gateways', cell: (r) => ((r as AutoscalePolicy).status?.currentReplicas === undefined ? '' : `${(r as AutoscalePolicy).status!.currentReplicas}/${(r as AutoscalePolicy).status!.desiredReplicas}`) },
    ],
  },
  {
    kind: 'FailoverPolicy',
    plural: 'failoverpolicies',
    singular: 'failoverpolicy',
    shortNames: ['fop'],
    categories: ['mesh'],
    isPolicy: false,
    schema: FailoverPolicySchema,
    printerColumns: [
      { name: 'Target', type: 'string', description: 'Services whose endpoints fail over', cell: (r) => describeTarget((r as FailoverPolicy).spec.targetRef) },
      { name: 'Zones', type: 'string', description: 'Zones by priority', cell: (r) => [...(r as FailoverPolicy).spec.zones].sort((a, b) => a.priority - b.priority).map((z) => `${z.name}:${z.priority}`).join(',') },
      { name: 'Failed-Over', type: 'string', description: 'Zones traffic has moved away from', cell: (r) => ((r as FailoverPolicy).status?.zones ?? []).filter((z) => z.state === 'FailedOver').map((z) => z.zone).join(',') },
    ],
  },
  {
    kind: 'Zone',
    plural: 'zones',
    singular: 'zone',
    shortNames: ['mz'],
    categories: ['mesh'],
    isPolicy: false,
    schema: ZoneSchema,
    printerColumns: [
      { name: 'Drained', type: 'string', description: 'Whether new requests avoid the zone', cell: (r) => ((r as Zone).spec.drained ? 'True' : 'False') },
      { name: 'Reason', type: 'string', description: 'Why it is drained', cell: (r) => (r as Zone).spec.reason ?? '' },
    ],
  },
  {
    kind: 'Service',
    plural: 'services',
    singular: 'service',
    shortNames: ['msvc'],
    categories: ['mesh'],
    isPolicy: false,
    schema: ServiceSchema,
    printerColumns: [
      { name: 'Ports', type: 'string', description: 'Service ports', cell: (r) => (r.spec as ServiceSpec).ports.map((p) => p.port).join(',') },
      { name: 'Endpoints', type: 'integer', description: 'Static endpoints', cell: (r) => (r.spec as ServiceSpec).endpoints?.length ?? 0 },
    ],
  },
  {
    kind: 'Route',
    plural: 'routes',
    singular: 'route',
    shortNames: ['mrt'],
    categories: ['mesh'],
    isPolicy: false,
    schema: RouteSchema,
    printerColumns: [
      { name: 'Hosts', type: 'string', description: 'Host names', cell: (r) => (r.spec as RouteSpec).hostnames?.join(',') || '*' },
      { name: 'Path', type: 'string', description: 'Path prefix', cell: (r) => (r.spec as RouteSpec).match?.pathPrefix ?? '/' },
      { name: 'Backend', type: 'string', description: 'Service receiving the traffic', cell: (r) => (r.spec as RouteSpec).backendRef.name },
    ],
  },
  {
    kind: 'GatewayNode',
    plural: 'gatewaynodes',
    singular: 'gatewaynode',
    shortNames: ['gwn'],
    categories: ['mesh', 'registry'],
    isPolicy: false,
    managedBy: 'registry',
    schema: GatewayNodeSchema,
    printerColumns: [
      { name: 'Zone', type: 'string', description: 'Zone', cell: (r) => (r as GatewayNode).spec.zone },
      { name: 'Pool', type: 'string', description: 'Pool', cell: (r) => (r as GatewayNode).spec.pool },
      { name: 'Health', type: 'string', description: 'Lifecycle state: Healthy, Degraded, Draining or Offline', cell: (r) => (r as GatewayNode).status?.phase ?? '' },
      { name: 'Revision', type: 'string', description: 'Mesh revision of the last snapshot it ACKed', cell: (r) => String((r as GatewayNode).status?.appliedRevision ?? '') },
      { name: 'Synced', type: 'string', description: 'Whether it ACKed the snapshot it should run', priority: 1, cell: (r) => ((r as GatewayNode).status?.synced ? 'True' : 'False') },
      { name: 'Address', type: 'string', description: 'Where the gateway accepts traffic', priority: 1, cell: (r) => (r as GatewayNode).spec.address },
    ],
  },
  {
    kind: 'ServiceInstance',
    plural: 'serviceinstances',
    singular: 'serviceinstance',
    shortNames: ['msi'],
    categories: ['mesh', 'registry'],
    isPolicy: false,
    managedBy: 'registry',
    schema: ServiceInstanceSchema,
    printerColumns: [
      { name: 'Service', type: 'string', description: 'Service it backs', cell: (r) => (r as ServiceInstance).spec.service },
      { name: 'Address', type: 'string', description: 'address:port', cell: (r) => `${(r as ServiceInstance).spec.address}:${(r as ServiceInstance).spec.port}` },
      { name: 'Zone', type: 'string', description: 'Zone', cell: (r) => (r as ServiceInstance).spec.zone ?? '' },
      { name: 'Health', type: 'string', description: 'Lifecycle state: Healthy, Degraded, Draining or Offline', cell: (r) => (r as ServiceInstance).status?.phase ?? '' },
    ],
  },
];

const byKind = new Map(KINDS.map((definition) => [definition.kind, definition]));
const byPlural = new Map(KINDS.map((definition) => [definition.plural, definition]));

export function kindDefinition(kind: string): KindDefinition | undefined {
  return byKind.get(kind);
}

export function kindByPlural(plural: string): KindDefinition | undefined {
  return byPlural.get(plural);
}

export const POLICY_KINDS = KINDS.filter((definition) => definition.isPolicy).map((definition) => definition.kind);

export * from './autoscale-policy.js';
export * from './circuit-breaker-policy.js';
export * from './failover-policy.js';
export * from './guarded-rollout.js';
export * from './zone.js';
export * from './gateway-node.js';
export * from './registry-status.js';
export * from './service-instance.js';
export * from './rate-limit-policy.js';
export * from './retry-policy.js';
export * from './route.js';
export * from './service.js';
export * from './timeout-policy.js';

import type { CircuitBreakerPolicy } from './circuit-breaker-policy.js';
import type { RateLimitPolicy } from './rate-limit-policy.js';
import type { RetryPolicy } from './retry-policy.js';
import type { Route } from './route.js';
import type { Service } from './service.js';
import type { TimeoutPolicy } from './timeout-policy.js';

export type PolicyResource = RateLimitPolicy | RetryPolicy | CircuitBreakerPolicy | TimeoutPolicy;
export type PolicyKind = PolicyResource['kind'];
export type MeshResource = PolicyResource | Service | Route | AutoscalePolicy | FailoverPolicy | Zone;
