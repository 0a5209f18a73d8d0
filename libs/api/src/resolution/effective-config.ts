/**
 * Resolution of the effective configuration of a gateway, with provenance: for every effective
 * field, the policy (and its resourceVersion) that set it, or `Default`. Pure and deterministic;
 * this is what gets pushed to gateways and what "explain" shows. The rules are in docs/policies.md.
 *
 * Cost model: `buildResolutionIndex` runs once per mesh revision and indexes policies by target;
 * per-(route, zone) results and whole route lists per gateway shape (zone and routes served) are
 * computed on first use and memoized in the index, so 10,000 gateways of a few shapes cost a
 * handful of merges and one map lookup each.
 */
import type { TSchema } from '@sinclair/typebox';
import { schemaDefaults } from '../defaults.js';
import { kindDefinition, POLICY_KINDS, type PolicyKind } from '../kinds/index.js';
import type { CircuitBreakerPolicySpec } from '../kinds/circuit-breaker-policy.js';
import type { RateLimitPolicySpec } from '../kinds/rate-limit-policy.js';
import type { RetryPolicySpec } from '../kinds/retry-policy.js';
import type { RouteSpec } from '../kinds/route.js';
import type { ServiceSpec } from '../kinds/service.js';
import type { TimeoutPolicySpec } from '../kinds/timeout-policy.js';
import { isJsonObject } from '../merge-patch.js';
import { DEFAULT_NAMESPACE, type Resource, type TargetRef } from '../meta.js';

export interface ObjectRef {
  kind: string;
  namespace: string;
  name: string;
}

export interface PolicySource {
  kind: PolicyKind;
  namespace: string;
  name: string;
  resourceVersion: string;
  generation: number;
}

export type FieldSource = PolicySource | { kind: 'Default' };

export interface EffectivePolicy<T> {
  /** The merged configuration (spec without targetRef), schema defaults filled in. */
  config: T;
  /** Leaf field path (`backoff.baseInterval`, `limits`) -> who set it; keys sorted. */
  provenance: Record<string, FieldSource>;
  /** The policies that took part, in merge order (least specific first, the winner last). */
  applied: PolicySource[];
}

type Config<S> = Omit<S, 'targetRef'>;

export interface EffectiveEndpoint {
  address: string;
  port: number;
  zone?: string;
  weight: number;
}

export interface EffectiveRoute {
  route: ObjectRef & { resourceVersion: string };
  hostnames: string[];
  pathPrefix: string;
  headers: Array<{ name: string; value: string; type: 'Exact' | 'RegularExpression' }>;
  backend: { service: ObjectRef; found: boolean; port: number | null; endpoints: EffectiveEndpoint[] };
  /** null when no policy of the kind applies to this route in this zone. */
  rateLimit: EffectivePolicy<Config<RateLimitPolicySpec>> | null;
  retry: EffectivePolicy<Config<RetryPolicySpec>> | null;
  circuitBreaker: EffectivePolicy<Config<CircuitBreakerPolicySpec>> | null;
  timeout: EffectivePolicy<Config<TimeoutPolicySpec>> | null;
}

export interface GatewayIdentity {
  name: string;
  zone: string;
  pool: string;
  /** Routes the gateway serves; undefined means every Route. */
  routes?: ObjectRef[];
}

export interface EffectiveConfig {
  revision: number;
  gateway: { name: string; zone: string; pool: string };
  routes: readonly EffectiveRoute[];
}

const POLICY_FIELD: Record<PolicyKind, 'rateLimit' | 'retry' | 'circuitBreaker' | 'timeout'> = {
  RateLimitPolicy: 'rateLimit',
  RetryPolicy: 'retry',
  CircuitBreakerPolicy: 'circuitBreaker',
  TimeoutPolicy: 'timeout',
};

const TARGET_RANK = { Mesh: 0, Service: 2, Route: 4 } as const;

/** Mesh 0, Mesh+zone 1, Service 2, Service+zone 3, Route 4, Route+zone 5. */
export function specificity(ref: TargetRef): number {
  return TARGET_RANK[ref.kind] + (ref.zone ? 1 : 0);
}

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Merge order: less specific first. At equal specificity the policy that must win goes last:
 * the oldest creationTimestamp, then the alphabetically first name, then namespace.
 */
export function comparePolicies(a: Resource, b: Resource): number {
  return (
    specificity(targetOf(a)) - specificity(targetOf(b)) ||
    compareText(b.metadata.creationTimestamp ?? '', a.metadata.creationTimestamp ?? '') ||
    compareText(b.metadata.name, a.metadata.name) ||
    compareText(b.metadata.namespace ?? DEFAULT_NAMESPACE, a.metadata.namespace ?? DEFAULT_NAMESPACE)
  );
}

function targetOf(policy: Resource): TargetRef {
  return (policy.spec as { targetRef: TargetRef }).targetRef;
}

const namespaceOf = (resource: Resource) => resource.metadata.namespace ?? DEFAULT_NAMESPACE;
const keyOf = (namespace: string, name: string) => `${namespace}/${name}`;

interface IndexedPolicy {
  resource: Resource;
  source: PolicySource;
  target: TargetRef;
  config: Record<string, unknown>;
}

interface PolicyBuckets {
  mesh: IndexedPolicy[];
  byService: Map<string, IndexedPolicy[]>;
  byRoute: Map<string, IndexedPolicy[]>;
}

/** Zone value standing for "a zone no policy names"; not a valid zone name, so it never collides. */
const OTHER_ZONE = '*';

export class ResolutionIndex {
  /** @internal memo of (route, zone) results, shared by every gateway of this revision. */
  readonly memo = new Map<string, EffectiveRoute>();
  /** @internal memo of whole route lists per gateway shape (zone and routes served). */
  readonly shapes = new Map<string, readonly EffectiveRoute[]>();

  constructor(
    readonly revision: number,
    /** @internal */ readonly routes: readonly Resource<'Route', RouteSpec>[],
    /** @internal */ readonly services: ReadonlyMap<string, Resource<'Service', ServiceSpec>>,
    /** @internal */ readonly policies: ReadonlyMap<PolicyKind, PolicyBuckets>,
    /** Every zone some policy's targetRef names, sorted. */
    readonly zones: readonly string[],
  ) {}
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V) {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

export function buildResolutionIndex(resources: readonly Resource[], revision: number): ResolutionIndex {
  const routes: Resource<'Route', RouteSpec>[] = [];
  const services = new Map<string, Resource<'Service', ServiceSpec>>();
  const policies = new Map<PolicyKind, PolicyBuckets>(POLICY_KINDS.map((kind) => [kind as PolicyKind, { mesh: [], byService: new Map(), byRoute: new Map() }]));
  const zones = new Set<string>();
  for (const resource of resources) {
    if (resource.kind === 'Route') routes.push(resource as Resource<'Route', RouteSpec>);
    else if (resource.kind === 'Service') services.set(keyOf(namespaceOf(resource), resource.metadata.name), resource as Resource<'Service', ServiceSpec>);
    const buckets = policies.get(resource.kind as PolicyKind);
    if (!buckets) continue;
    const { targetRef, ...config } = resource.spec as { targetRef: TargetRef } & Record<string, unknown>;
    const indexed: IndexedPolicy = {
      resource,
      target: targetRef,
      config,
      source: {
        kind: resource.kind as PolicyKind,
        namespace: namespaceOf(resource),
        name: resource.metadata.name,
        resourceVersion: resource.metadata.resourceVersion ?? '',
        generation: resource.metadata.generation ?? 0,
      },
    };
    if (targetRef.zone) zones.add(targetRef.zone);
    if (targetRef.kind === 'Mesh') buckets.mesh.push(indexed);
    else push(targetRef.kind === 'Service' ? buckets.byService : buckets.byRoute, keyOf(namespaceOf(resource), targetRef.name ?? ''), indexed);
  }
  routes.sort((a, b) => compareText(namespaceOf(a), namespaceOf(b)) || compareText(a.metadata.name, b.metadata.name));
  return new ResolutionIndex(revision, routes, services, policies, [...zones].sort());
}

/** JSON merge patch that records, for every leaf it writes, the source that wrote it. */
function mergeLayer(target: Record<string, unknown>, patch: Record<string, unknown>, source: FieldSource, provenance: Map<string, FieldSource>, prefix: string) {
  const forget = (path: string) => {
    for (const key of provenance.keys()) if (key === path || key.startsWith(`${path}.`)) provenance.delete(key);
  };
  for (const [key, value] of Object.entries(patch)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (value === null || value === undefined) {
      delete target[key];
      forget(path);
    } else if (isJsonObject(value)) {
      if (!isJsonObject(target[key])) {
        target[key] = {};
        forget(path);
      }
      mergeLayer(target[key] as Record<string, unknown>, value, source, provenance, path);
    } else {
      target[key] = structuredClone(value);
      forget(path);
      provenance.set(path, source);
    }
  }
}

const defaultsCache = new Map<PolicyKind, Record<string, unknown>>();

function defaultsOf(kind: PolicyKind): Record<string, unknown> {
  let defaults = defaultsCache.get(kind);
  if (!defaults) {
    const specSchema = (kindDefinition(kind)!.schema as unknown as { properties: { spec: TSchema } }).properties.spec;
    defaults = (schemaDefaults(specSchema) as Record<string, unknown> | undefined) ?? {};
    defaultsCache.set(kind, defaults);
  }
  return defaults;
}

function resolvePolicy(kind: PolicyKind, layers: IndexedPolicy[]): EffectivePolicy<any> | null {
  if (layers.length === 0) return null;
  const config: Record<string, unknown> = {};
  const provenance = new Map<string, FieldSource>();
  mergeLayer(config, defaultsOf(kind), { kind: 'Default' }, provenance, '');
  for (const layer of layers) mergeLayer(config, layer.config, layer.source, provenance, '');
  return {
    config,
    provenance: Object.fromEntries([...provenance.entries()].sort(([a], [b]) => compareText(a, b))),
    applied: layers.map((layer) => layer.source),
  };
}

function applies(policy: IndexedPolicy, zone: string): boolean {
  return !policy.target.zone || policy.target.zone === zone;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/**
 * The effective configuration of one route as seen by gateways in `zone`. Results are frozen
 * rather than copied: they are shared by every gateway of the revision, and freezing makes an
 * accidental mutation throw instead of silently corrupting other gateways' snapshots.
 */
export function resolveRoute(index: ResolutionIndex, route: Resource<'Route', RouteSpec>, zone: string): EffectiveRoute {
  const namespace = namespaceOf(route);
  const memoKey = `${keyOf(namespace, route.metadata.name)}\u0000${zone}`;
  const memoized = index.memo.get(memoKey);
  if (memoized) return memoized;

  const spec = route.spec;
  const service = index.services.get(keyOf(namespace, spec.backendRef.name));
  const port = service ? (spec.backendRef.port ?? service.spec.ports[0]?.port ?? null) : null;
  const effective: EffectiveRoute = {
    route: { kind: 'Route', namespace, name: route.metadata.name, resourceVersion: route.metadata.resourceVersion ?? '' },
    hostnames: [...(spec.hostnames ?? [])],
    pathPrefix: spec.match?.pathPrefix ?? '/',
    headers: (spec.match?.headers ?? []).map((header) => ({ name: header.name, value: header.value, type: header.type ?? 'Exact' })),
    backend: {
      service: { kind: 'Service', namespace, name: spec.backendRef.name },
      found: !!service,
      port,
      endpoints: service
        ? (service.spec.endpoints ?? []).map((endpoint) => ({
            address: endpoint.address,
            port: endpoint.port ?? port!,
            ...(endpoint.zone ? { zone: endpoint.zone } : {}),
            weight: endpoint.weight ?? 1,
          }))
        : [],
    },
    rateLimit: null,
    retry: null,
    circuitBreaker: null,
    timeout: null,
  };
  for (const [kind, buckets] of index.policies) {
    const layers = [
      ...buckets.mesh,
      ...(buckets.byService.get(keyOf(namespace, spec.backendRef.name)) ?? []),
      ...(buckets.byRoute.get(keyOf(namespace, route.metadata.name)) ?? []),
    ]
      .filter((policy) => applies(policy, zone))
      .sort((a, b) => comparePolicies(a.resource, b.resource));
    effective[POLICY_FIELD[kind]] = resolvePolicy(kind, layers);
  }
  index.memo.set(memoKey, deepFreeze(effective));
  return effective;
}

export function resolveGateway(index: ResolutionIndex, gateway: GatewayIdentity): EffectiveConfig {
  const served = gateway.routes?.map((ref) => keyOf(ref.namespace, ref.name)).sort();
  // Gateways of one shape (zone and routes served) share one frozen route list.
  const shapeKey = `${gateway.zone}\u0000${served ? served.join('\u0000') : '*'}`;
  let routes = index.shapes.get(shapeKey);
  if (!routes) {
    const wanted = served ? new Set(served) : undefined;
    routes = Object.freeze(
      index.routes
        .filter((route) => !wanted || wanted.has(keyOf(namespaceOf(route), route.metadata.name)))
        .map((route) => resolveRoute(index, route, gateway.zone)),
    );
    index.shapes.set(shapeKey, routes);
  }
  return { revision: index.revision, gateway: { name: gateway.name, zone: gateway.zone, pool: gateway.pool }, routes };
}

export interface PolicyContribution {
  /** (route, zone) combinations the policy applies to. */
  contexts: number;
  /** Of those, the ones where it sets at least one effective field. */
  contributing: number;
}

/**
 * For every policy (`Kind/namespace/name`), where it applies and where it actually sets
 * something. Zones range over every zone a policy names plus one standing for all others. A
 * policy with contexts > 0 and contributing 0 is entirely overridden.
 */
export function policyContributions(index: ResolutionIndex): Map<string, PolicyContribution> {
  const result = new Map<string, PolicyContribution>();
  const sourceKey = (source: PolicySource) => `${source.kind}/${source.namespace}/${source.name}`;
  for (const [, buckets] of index.policies) {
    for (const policy of [...buckets.mesh, ...[...buckets.byService.values()].flat(), ...[...buckets.byRoute.values()].flat()]) {
      result.set(sourceKey(policy.source), { contexts: 0, contributing: 0 });
    }
  }
  for (const route of index.routes) {
    for (const zone of [...index.zones, OTHER_ZONE]) {
      const effective = resolveRoute(index, route, zone);
      for (const field of Object.values(POLICY_FIELD)) {
        const policy = effective[field];
        if (!policy) continue;
        const setters = new Set(Object.values(policy.provenance).map((source) => (source.kind === 'Default' ? '' : sourceKey(source as PolicySource))));
        for (const applied of policy.applied) {
          const entry = result.get(sourceKey(applied))!;
          entry.contexts++;
          if (setters.has(sourceKey(applied))) entry.contributing++;
        }
      }
    }
  }
  return result;
}
