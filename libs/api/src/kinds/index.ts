/**
 * The kind registry: every kind Portolan serves, with the names the API, kubectl discovery and
 * tables use. Adding a kind means adding its schema file and one entry here; the API routes,
 * validation, OpenAPI and discovery are all derived from this list.
 */
import type { TObject } from '@sinclair/typebox';
import { formatDuration, parseDuration } from '../duration.js';
import type { Resource } from '../meta.js';
import { CircuitBreakerPolicySchema } from './circuit-breaker-policy.js';
import { RateLimitPolicySchema, type RateLimitPolicySpec } from './rate-limit-policy.js';
import { RetryPolicySchema, type RetryPolicySpec } from './retry-policy.js';
import { RouteSchema, type RouteSpec } from './route.js';
import { ServiceSchema, type ServiceSpec } from './service.js';
import { TimeoutPolicySchema, type TimeoutPolicySpec } from './timeout-policy.js';
import type { TargetRef } from '../meta.js';

/** A column of `kubectl get` output (a Kubernetes Table column). */
export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'date';
  description: string;
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
  schema: TObject;
  printerColumns: PrinterColumn[];
}

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
      { name: 'Scope', type: 'string', description: 'gateway or mesh', cell: (r) => (r.spec as RateLimitPolicySpec).scope ?? 'gateway' },
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
    printerColumns: [targetColumn],
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

export * from './circuit-breaker-policy.js';
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
export type MeshResource = PolicyResource | Service | Route;
