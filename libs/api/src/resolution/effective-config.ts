/**
 * The effective configuration of a gateway, with provenance: for every effective field, the policy
 * (and its resourceVersion) that set it, or `Default`. Pure and deterministic; this is what gets
 * pushed to gateways and what "explain" shows. The rules are in docs/policies.md.
 *
 * Cost model: buildResolutionIndex runs once per mesh revision and files policies by kind and
 * target, each list already in merge order. The result of a (route, zone) pair is computed on
 * first use and memoized in the index, as is the route list of each gateway shape (zone and
 * routes served), so 10,000 gateways of a few shapes cost a handful of merges plus one map lookup
 * each.
 */
import { POLICY_KINDS, type PolicyKind } from '../kinds/index.js';
import type { CircuitBreakerPolicySpec } from '../kinds/circuit-breaker-policy.js';
import type { RateLimitPolicySpec } from '../kinds/rate-limit-policy.js';
import type { RetryPolicySpec } from '../kinds/retry-policy.js';
import { RouteSpecSchema, type RouteSpec } from '../kinds/route.js';
import { ServiceSpecSchema, type ServiceSpec } from '../kinds/service.js';
import type { TimeoutPolicySpec } from '../kinds/timeout-policy.js';
import type { FailoverPolicy } from '../kinds/failover-policy.js';
import type { Zone } from '../kinds/zone.js';
import type { JsonObject } from '../merge-patch.js';
import { DEFAULT_NAMESPACE, type Resource, type TargetRef } from '../meta.js';
import { comparePrecedence, precedenceKey, type PrecedenceKey } from './precedence.js';
import { CONFIG_DEFAULTS, mergeWithProvenance, policyRef, type FieldSource, type PolicySource, type Provenance } from './provenance-merge.js';

export interface ObjectRef {
  kind: string;
  namespace: string;
  name: string;
}

export interface EffectivePolicy<T> {
  /** The merged configuration (spec without targetRef), schema defaults filled in. */
  config: T;
  /** Leaf field path (`backoff.baseInterval`, `limits`) -> who set it; keys sorted. */
  provenance: Record<string, FieldSource>;
  /** The policies that took part, in merge order (least specific first, the winner last). */
  applied: PolicySource[];
}

type Config<S> = Omit<S, 'targetRef' | 'guardedRollout'>;

export interface EffectiveEndpoint {
  address: string;
  port: number;
  zone?: string;
  weight: number;
}

/** The FailoverPolicy that applies to a route's backend service, with the zones it failed over. */
export interface RouteFailover {
  /** Without its resourceVersion: a status or label write that changes no zone must not re-push every gateway. */
  policy: ObjectRef;
  /** Zones by priority, lower first; equal priorities by name. */
  zones: Array<{ zone: string; priority: number }>;
  /** Zones the failover controller moved this service's traffic away from (status.zones FailedOver). */
  failedOver: string[];
}

/**
 * Share of new requests a gateway sends to each zone's endpoints (weights add up to 100), then the
 * zones it may spill to when none of those has an endpoint left, in order, with weight 0. Computed
 * per gateway zone from the route's failover, drained zones and healthy endpoints (zone-weights.ts).
 */
export interface ZoneWeight {
  zone: string;
  weight: number;
}

export interface EffectiveRoute {
  route: ObjectRef & { resourceVersion: string };
  hostnames: string[];
  pathPrefix: string;
  headers: Array<{ name: string; value: string; type: 'Exact' | 'RegularExpression' }>;
  backend: {
    service: ObjectRef;
    found: boolean;
    port: number | null;
    endpoints: EffectiveEndpoint[];
    /** Absent: no FailoverPolicy applies to the service. */
    failover?: RouteFailover;
    /** Zones drained mesh-wide (Zone objects), sorted; absent when none is. */
    drainedZones?: string[];
    /** Absent: no failover and no drained zone, and the gateway simply prefers its own zone. */
    zoneWeights?: ZoneWeight[];
  };
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
  /** Routes the gateway serves, matched by namespace and name; undefined means every Route. */
  routes?: ObjectRef[];
}

/**
 * Everything under `routes` is deeply frozen and shared with every other gateway of the revision
 * in the same zone; see resolveRoute for why it is frozen rather than cloned.
 */
export interface EffectiveConfig {
  revision: number;
  gateway: { name: string; zone: string; pool: string };
  routes: EffectiveRoute[];
}

export interface PolicyContribution {
  /** (route, zone) contexts the policy applies to. */
  contexts: number;
  /** Of those, the ones where it is the provenance of at least one effective field. */
  contributing: number;
}

/** Built once per mesh revision by buildResolutionIndex; its memo makes later resolutions cheap. */
export interface ResolutionIndex {
  readonly revision: number;
  /** Every zone some policy's targetRef names, sorted. */
  readonly zones: readonly string[];
}

type RouteResource = Resource<'Route', RouteSpec>;
type ServiceResource = Resource<'Service', ServiceSpec>;
type PolicyField = 'rateLimit' | 'retry' | 'circuitBreaker' | 'timeout';

const POLICY_FIELD: Record<PolicyKind, PolicyField> = {
  RateLimitPolicy: 'rateLimit',
  RetryPolicy: 'retry',
  CircuitBreakerPolicy: 'circuitBreaker',
  TimeoutPolicy: 'timeout',
};

// Route and endpoint defaults come from the schemas, like policy defaults, so the two cannot drift.
const DEFAULT_PATH_PREFIX: string = RouteSpecSchema.properties.match.properties.pathPrefix.default;
const DEFAULT_HEADER_MATCH: 'Exact' | 'RegularExpression' = RouteSpecSchema.properties.match.properties.headers.items.properties.type.default;
const DEFAULT_ENDPOINT_WEIGHT: number = ServiceSpecSchema.properties.endpoints.items.properties.weight.default;

/**
 * Stands for every zone no policy names: such zones all resolve alike, so they share one memo
 * entry. Not a valid zone name, so it cannot collide with one.
 */
const OTHER_ZONE = '*';

interface IndexedPolicy {
  precedence: PrecedenceKey;
  source: PolicySource;
  zone: string | undefined;
  config: Readonly<Record<string, unknown>>;
}

interface PolicyBuckets {
  mesh: IndexedPolicy[];
  byService: Map<string, IndexedPolicy[]>;
  byRoute: Map<string, IndexedPolicy[]>;
}

interface IndexState {
  /** Sorted by namespace, then name. */
  routes: RouteResource[];
  services: Map<string, ServiceResource>;
  policies: Map<PolicyKind, PolicyBuckets>;
  zones: Set<string>;
  /** `${namespace}/${name}\0${zone}` -> resolved route. */
  memo: Map<string, EffectiveRoute>;
  /** `${zone}\0${served routes}` -> the route list of every gateway of that shape. */
  shapes: Map<string, EffectiveRoute[]>;
  /** FailoverPolicies by target service key; the Mesh-targeted one (first by namespace and name) under MESH_FAILOVER. */
  failovers: Map<string, RouteFailover>;
  drainedZones: string[];
}

const MESH_FAILOVER = '*';

// Kept off the index object so callers cannot reach (and corrupt) the memo through it.
const states = new WeakMap<ResolutionIndex, IndexState>();

function stateOf(index: ResolutionIndex): IndexState {
  const state = states.get(index);
  if (!state) throw new TypeError('not a ResolutionIndex: build one with buildResolutionIndex');
  return state;
}

const namespaceOf = (resource: Resource) => resource.metadata.namespace ?? DEFAULT_NAMESPACE;
const keyOf = (namespace: string, name: string) => `${namespace}/${name}`;
const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

function append<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

function indexPolicy(policy: Resource): IndexedPolicy {
  const { targetRef, guardedRollout: _handling, ...config } = policy.spec as { targetRef: TargetRef; guardedRollout?: unknown } & Record<string, unknown>;
  return {
    precedence: precedenceKey(policy),
    source: Object.freeze({
      kind: policy.kind as PolicyKind,
      namespace: namespaceOf(policy),
      name: policy.metadata.name,
      resourceVersion: policy.metadata.resourceVersion ?? '',
      generation: policy.metadata.generation ?? 0,
    }),
    zone: targetRef.zone,
    config,
  };
}

export function buildResolutionIndex(resources: readonly Resource[], revision: number): ResolutionIndex {
  const state: IndexState = {
    routes: [],
    services: new Map(),
    policies: new Map(POLICY_KINDS.map((kind) => [kind as PolicyKind, { mesh: [], byService: new Map(), byRoute: new Map() }])),
    zones: new Set(),
    memo: new Map(),
    shapes: new Map(),
    failovers: new Map(),
    drainedZones: [],
  };
  const failoverPolicies: FailoverPolicy[] = [];
  for (const resource of resources) {
    if (resource.kind === 'FailoverPolicy') failoverPolicies.push(resource as FailoverPolicy);
    if (resource.kind === 'Zone' && (resource as Zone).spec.drained) state.drainedZones.push(resource.metadata.name);
    if (resource.kind === 'Route') state.routes.push(resource as RouteResource);
    else if (resource.kind === 'Service') state.services.set(keyOf(namespaceOf(resource), resource.metadata.name), resource as ServiceResource);
    const buckets = state.policies.get(resource.kind as PolicyKind);
    if (!buckets) continue;
    const policy = indexPolicy(resource);
    const { kind, name } = (resource.spec as { targetRef: TargetRef }).targetRef;
    if (policy.zone) state.zones.add(policy.zone);
    if (kind === 'Mesh') buckets.mesh.push(policy);
    else append(kind === 'Service' ? buckets.byService : buckets.byRoute, keyOf(policy.source.namespace, name ?? ''), policy);
  }
  state.routes.sort((a, b) => compareText(namespaceOf(a), namespaceOf(b)) || compareText(a.metadata.name, b.metadata.name));
  state.drainedZones.sort(compareText);
  indexFailovers(state, failoverPolicies);
  const byPrecedence = (a: IndexedPolicy, b: IndexedPolicy) => comparePrecedence(a.precedence, b.precedence);
  for (const buckets of state.policies.values()) {
    buckets.mesh.sort(byPrecedence);
    for (const list of buckets.byService.values()) list.sort(byPrecedence);
    for (const list of buckets.byRoute.values()) list.sort(byPrecedence);
  }
  const index: ResolutionIndex = Object.freeze({ revision, zones: Object.freeze([...state.zones].sort(compareText)) });
  states.set(index, state);
  return index;
}

/** A Service-targeted FailoverPolicy wins over a Mesh one; of several Mesh ones, the first by namespace and name. */
function indexFailovers(state: IndexState, policies: FailoverPolicy[]): void {
  policies.sort((a, b) => compareText(namespaceOf(a), namespaceOf(b)) || compareText(a.metadata.name, b.metadata.name));
  for (const policy of policies) {
    const { kind, name } = policy.spec.targetRef;
    const key = kind === 'Mesh' ? MESH_FAILOVER : keyOf(namespaceOf(policy), name ?? '');
    if (state.failovers.has(key)) continue;
    state.failovers.set(
      key,
      deepFreeze({
        policy: { kind: 'FailoverPolicy', namespace: namespaceOf(policy), name: policy.metadata.name },
        zones: policy.spec.zones
          .map((zone) => ({ zone: zone.name, priority: zone.priority }))
          .sort((a, b) => a.priority - b.priority || compareText(a.zone, b.zone)),
        failedOver: (policy.status?.zones ?? []).filter((zone) => zone.state === 'FailedOver').map((zone) => zone.zone).sort(compareText),
      }),
    );
  }
}

function resolvePolicy<T>(kind: PolicyKind, layers: readonly IndexedPolicy[]): EffectivePolicy<T> | null {
  if (layers.length === 0) return null;
  const config: JsonObject = {};
  const provenance: Provenance = new Map();
  mergeWithProvenance(config, CONFIG_DEFAULTS.get(kind)!, { kind: 'Default' }, provenance);
  for (const layer of layers) mergeWithProvenance(config, layer.config, layer.source, provenance);
  return {
    config: config as T,
    provenance: Object.fromEntries([...provenance].sort(([a], [b]) => compareText(a, b))),
    applied: layers.map((layer) => layer.source),
  };
}

/**
 * The effective configuration of one route for gateways in `zone` (already canonical: a zone
 * some policy names, or OTHER_ZONE).
 *
 * Results are deep-frozen rather than cloned per caller: they are shared by every gateway of the
 * revision, cloning them for each of 10,000 gateways would cost what the memo saves, and in
 * strict-mode code a write to a frozen object throws, so a careless caller fails loudly instead of
 * silently changing another gateway's configuration.
 */
function resolveRoute(state: IndexState, route: RouteResource, zone: string): EffectiveRoute {
  const namespace = namespaceOf(route);
  const memoKey = `${keyOf(namespace, route.metadata.name)}\u0000${zone}`;
  const memoized = state.memo.get(memoKey);
  if (memoized) return memoized;

  const { spec } = route;
  const service = state.services.get(keyOf(namespace, spec.backendRef.name));
  const port = service ? (spec.backendRef.port ?? service.spec.ports[0].port) : null;
  const effective: EffectiveRoute = {
    route: { kind: 'Route', namespace, name: route.metadata.name, resourceVersion: route.metadata.resourceVersion ?? '' },
    hostnames: [...(spec.hostnames ?? [])],
    pathPrefix: spec.match?.pathPrefix ?? DEFAULT_PATH_PREFIX,
    headers: (spec.match?.headers ?? []).map((header) => ({ name: header.name, value: header.value, type: header.type ?? DEFAULT_HEADER_MATCH })),
    backend: {
      service: { kind: 'Service', namespace, name: spec.backendRef.name },
      found: service !== undefined,
      port,
      endpoints: (service?.spec.endpoints ?? []).map((endpoint) => ({
        address: endpoint.address,
        port: endpoint.port ?? port!,
        ...(endpoint.zone ? { zone: endpoint.zone } : {}),
        weight: endpoint.weight ?? DEFAULT_ENDPOINT_WEIGHT,
      })),
    },
    rateLimit: null,
    retry: null,
    circuitBreaker: null,
    timeout: null,
  };
  const failover = state.failovers.get(keyOf(namespace, spec.backendRef.name)) ?? state.failovers.get(MESH_FAILOVER);
  if (failover) effective.backend.failover = failover;
  if (state.drainedZones.length) effective.backend.drainedZones = state.drainedZones;
  for (const [kind, buckets] of state.policies) {
    // Each bucket is sorted and the buckets' specificities (0-1, 2-3, 4-5) do not overlap, so the
    // concatenation is already in merge order.
    const layers = [
      ...buckets.mesh,
      ...(buckets.byService.get(keyOf(namespace, spec.backendRef.name)) ?? []),
      ...(buckets.byRoute.get(keyOf(namespace, route.metadata.name)) ?? []),
    ].filter((policy) => policy.zone === undefined || policy.zone === zone);
    (effective as Record<PolicyField, EffectivePolicy<unknown> | null>)[POLICY_FIELD[kind]] = resolvePolicy(kind, layers);
  }
  state.memo.set(memoKey, deepFreeze(effective));
  return effective;
}

function canonicalZone(state: IndexState, zone: string): string {
  return state.zones.has(zone) ? zone : OTHER_ZONE;
}

export function resolveGateway(index: ResolutionIndex, gateway: GatewayIdentity): EffectiveConfig {
  const state = stateOf(index);
  const zone = canonicalZone(state, gateway.zone);
  const served = gateway.routes && [...new Set(gateway.routes.map((ref) => keyOf(ref.namespace, ref.name)))].sort(compareText);
  // Every served key contains a "/", so "*" (all routes) cannot collide with a list of them.
  const shapeKey = `${zone}\u0000${served?.join('\u0000') ?? '*'}`;
  let routes = state.shapes.get(shapeKey);
  if (!routes) {
    const wanted = served && new Set(served);
    routes = Object.freeze(
      state.routes
        .filter((route) => !wanted || wanted.has(keyOf(namespaceOf(route), route.metadata.name)))
        .map((route) => resolveRoute(state, route, zone)),
    ) as EffectiveRoute[];
    state.shapes.set(shapeKey, routes);
  }
  return { revision: index.revision, gateway: { name: gateway.name, zone: gateway.zone, pool: gateway.pool }, routes };
}

/**
 * For every policy (`Kind/namespace/name`, sorted), how many (route, zone) contexts it applies to
 * and in how many it sets at least one effective field. Zones range over every zone a policy
 * names plus one standing for all others. contexts > 0 with contributing 0 means Overridden.
 */
export function policyContributions(index: ResolutionIndex): Map<string, PolicyContribution> {
  const state = stateOf(index);
  const counts = new Map<string, PolicyContribution>();
  for (const buckets of state.policies.values()) {
    for (const policy of [buckets.mesh, ...buckets.byService.values(), ...buckets.byRoute.values()].flat()) {
      counts.set(policyRef(policy.source), { contexts: 0, contributing: 0 });
    }
  }
  for (const route of state.routes) {
    for (const zone of [...state.zones, OTHER_ZONE]) {
      const effective = resolveRoute(state, route, zone);
      for (const field of Object.values(POLICY_FIELD)) {
        const resolved = effective[field];
        if (!resolved) continue;
        // Provenance holds the very source objects listed in applied, so identity is enough.
        const setters = new Set(Object.values(resolved.provenance));
        for (const applied of resolved.applied) {
          const entry = counts.get(policyRef(applied))!;
          entry.contexts++;
          if (setters.has(applied)) entry.contributing++;
        }
      }
    }
  }
  return new Map([...counts].sort(([a], [b]) => compareText(a, b)));
}
