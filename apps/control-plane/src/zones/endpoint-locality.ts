/**
 * `GET /v1/resolve/{service}`: a service's endpoints in the order a gateway in the client's zone
 * would use them, for clients that resolve names themselves (DNS, GSLB) rather than go through a
 * gateway. The zone weights are the gateways' own (computeZoneWeights, zone-weights.ts), from the
 * same failover and drained zones resolution gives a route to the service.
 */
import {
  buildResolutionIndex,
  computeZoneWeights,
  DEFAULT_NAMESPACE,
  GROUP_VERSION,
  resolveGateway,
  ServiceSpecSchema,
  type EffectiveEndpoint,
  type EffectiveRoute,
  type FailoverPolicy,
  type Resource,
  type ResolutionIndex,
  type Route,
  type Service,
  type Zone,
  type ZoneWeight,
  splitByCapacity,
} from '@portolan/api';
import { instanceTakesTraffic } from '../registry/lifecycle';
import type { RegisteredNode } from '../registry/node-registry';

/** What decides a service's zone weights besides its endpoints: the FailoverPolicy that applies and the drained zones. */
export type BackendZoneRules = Pick<EffectiveRoute['backend'], 'failover' | 'drainedZones'>;

export interface ServiceRef {
  namespace: string;
  name: string;
}

export interface ResolvedEndpoint {
  address: string;
  port: number;
  /** "" for an endpoint without a zone, as zone weights name it. */
  zone: string;
  /** The zone's weight: its share (of 100) of the new requests of a client in the zone asked for. */
  weight: number;
  /** 0: use first; higher numbers only when every endpoint of the lower ones is unavailable. */
  priority: number;
}

export interface ResolveAnswer {
  service: ServiceRef;
  zone: string | null;
  endpoints: ResolvedEndpoint[];
}

const DEFAULT_ENDPOINT_WEIGHT: number = ServiceSpecSchema.properties.endpoints.items.properties.weight.default;

/**
 * Not a valid zone name, and, unlike "", not the zone of endpoints without one: a client that
 * names no zone must not be taken for a client in the zoneless endpoints' "zone".
 */
const NO_OWN_ZONE = '*';

/** The rules from the route of the current revision that sends to the service, if a route does. */
export function zoneRulesFromIndex(index: ResolutionIndex, service: ServiceRef): BackendZoneRules | undefined {
  // Failover and drained zones depend on the service, not on the gateway's zone or the route, so
  // any zone and the first route to the service will do.
  const { routes } = resolveGateway(index, { name: 'resolve', zone: '', pool: '' });
  const route = routes.find((candidate) => candidate.backend.service.namespace === service.namespace && candidate.backend.service.name === service.name);
  return route && { failover: route.backend.failover, drainedZones: route.backend.drainedZones };
}

/**
 * The same rules for a service no route sends to: resolution only computes them for a route's
 * backend, so this resolves a stand-in route to the service over the FailoverPolicies and Zone
 * objects, and libs/api keeps deciding which policy applies and which zones are drained.
 */
export function zoneRulesWithoutRoute(service: Service, failoverPoliciesAndZones: readonly (FailoverPolicy | Zone)[]): BackendZoneRules {
  const namespace = service.metadata.namespace ?? DEFAULT_NAMESPACE;
  const standIn: Route = { apiVersion: GROUP_VERSION, kind: 'Route', metadata: { name: service.metadata.name, namespace }, spec: { backendRef: { name: service.metadata.name } } };
  const index = buildResolutionIndex([...(failoverPoliciesAndZones as readonly Resource[]), service, standIn], 0);
  const [route] = resolveGateway(index, { name: 'resolve', zone: '', pool: '' }).routes;
  return { failover: route.backend.failover, drainedZones: route.backend.drainedZones };
}

/**
 * What gateways send to: the static endpoints (a port of their own, or the service's first port)
 * and the registered instances that take traffic.
 */
export function serviceEndpoints(service: Service, nodes: readonly RegisteredNode[]): EffectiveEndpoint[] {
  const namespace = service.metadata.namespace ?? DEFAULT_NAMESPACE;
  const endpoints: EffectiveEndpoint[] = (service.spec.endpoints ?? []).map((endpoint) => ({
    address: endpoint.address,
    port: endpoint.port ?? service.spec.ports[0].port,
    ...(endpoint.zone ? { zone: endpoint.zone } : {}),
    weight: endpoint.weight ?? DEFAULT_ENDPOINT_WEIGHT,
  }));
  for (const node of nodes) {
    if (node.role !== 'instance' || node.namespace !== namespace || node.spec.service !== service.metadata.name || !instanceTakesTraffic(node.lifecycle.phase)) continue;
    endpoints.push({ address: node.spec.address, port: node.spec.port, ...(node.spec.zone ? { zone: node.spec.zone } : {}), weight: node.spec.weight ?? DEFAULT_ENDPOINT_WEIGHT });
  }
  return endpoints;
}

interface ZonePlan {
  zone: string;
  weight: number;
  priority: number;
}

/**
 * Without a FailoverPolicy or a drained zone, gateways carry no zone weights: they keep to their
 * own zone while it has an endpoint, and otherwise pick among every endpoint (gateway
 * load-balancer.ts). So: the own zone first, then every other zone at once.
 */
function planWithoutRules(ownZone: string | undefined, capacity: Map<string, number>): ZonePlan[] {
  const zones = [...capacity.keys()].sort((a, b) => (a === '' ? 1 : b === '' ? -1 : a < b ? -1 : a > b ? 1 : 0));
  if (ownZone !== undefined && capacity.has(ownZone)) {
    return [{ zone: ownZone, weight: 100, priority: 0 }, ...zones.filter((zone) => zone !== ownZone).map((zone) => ({ zone, weight: 0, priority: 1 }))];
  }
  return splitByCapacity(zones, capacity).map(({ zone, weight }) => ({ zone, weight, priority: 0 }));
}

/**
 * Zone weights as gateways get them: the weighted zones share priority 0; the spill zones follow
 * with weight 0, one priority each, in the order a gateway would try them. A zone the weights
 * leave out (drained) has no endpoint in the answer.
 */
function planFromWeights(weights: readonly ZoneWeight[]): ZonePlan[] {
  let spill = 0;
  return weights.map(({ zone, weight }) => ({ zone, weight, priority: weight > 0 ? 0 : ++spill }));
}

/** The endpoints for a client in `ownZone` (undefined: none), by priority, then zone weight, then zone, then address. */
export function orderByLocality(ownZone: string | undefined, endpoints: readonly EffectiveEndpoint[], rules: BackendZoneRules): ResolvedEndpoint[] {
  const capacity = new Map<string, number>();
  for (const endpoint of endpoints) capacity.set(endpoint.zone ?? '', (capacity.get(endpoint.zone ?? '') ?? 0) + endpoint.weight);
  const weights = computeZoneWeights(ownZone ?? NO_OWN_ZONE, { endpoints: [...endpoints], ...rules });
  const plan = weights ? planFromWeights(weights) : planWithoutRules(ownZone, capacity);
  const rank = new Map(plan.map((entry, index) => [entry.zone, index]));
  return endpoints
    .filter((endpoint) => rank.has(endpoint.zone ?? ''))
    .map((endpoint) => {
      const entry = plan[rank.get(endpoint.zone ?? '')!];
      return { address: endpoint.address, port: endpoint.port, zone: entry.zone, weight: entry.weight, priority: entry.priority };
    })
    .sort((a, b) => a.priority - b.priority || b.weight - a.weight || rank.get(a.zone)! - rank.get(b.zone)! || compareAddress(a, b));
}

function compareAddress(a: { address: string; port: number }, b: { address: string; port: number }): number {
  return (a.address < b.address ? -1 : a.address > b.address ? 1 : 0) || a.port - b.port;
}
