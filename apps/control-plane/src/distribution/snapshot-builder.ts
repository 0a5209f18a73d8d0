/**
 * Turns (mesh resources at a revision, registry membership) into what each gateway should run.
 *
 * Fan-out cost: the routes of a snapshot depend only on the gateway's shape (zone and routes
 * served), so they are resolved and serialized once per shape and the bytes are shared by every
 * gateway of that shape. What differs per gateway (its identity, version and pool share) is a
 * small envelope written around the shared bytes at send time; see `snapshotFrames`.
 */
import { createHash } from 'node:crypto';
import { computeZoneWeights, policyRef, resolveGateway, type EffectiveEndpoint, type GatewayIdentity, type EffectiveRoute, type ResolutionIndex } from '@portolan/api';
import type { PoolShare } from '@portolan/agent-client';
import { instanceTakesTraffic, isRoutable } from '../registry/lifecycle';
import type { RegisteredGateway, RegisteredNode } from '../registry/node-registry';

/** The routes of one gateway shape, serialized once. */
export interface ShapeSnapshot {
  key: string;
  routes: readonly EffectiveRoute[];
  /** `JSON.stringify(routes)`, shared by every gateway of the shape. */
  routesJson: Buffer;
  routesHash: string;
  /** `Kind/namespace/name` of every policy applied somewhere in these routes. */
  policies: ReadonlySet<string>;
  /** Some route has a mesh-scoped rate limit, so gateways of this shape need their pool share. */
  needsShare: boolean;
}

/** What one gateway should run. */
export interface GatewaySnapshot {
  version: string;
  revision: number;
  gateway: { id: string; name: string; zone: string; pool: string };
  /** Only for shapes with a mesh-scoped rate limit; see ShapeSnapshot.needsShare. */
  share: PoolShare | null;
  shape: ShapeSnapshot;
}

export interface BuildResult {
  /** Gateway id -> its snapshot, for every registered gateway. */
  gateways: Map<string, GatewaySnapshot>;
  shapes: Map<string, ShapeSnapshot>;
}

const serviceKey = (namespace: string, name: string) => `${namespace}/${name}`;
/**
 * Whether two snapshot versions carry the same content. A version is `<revision>.<content hash>`;
 * the revision part is when this replica saw the content change, which another replica (or this
 * one after a restart) may have seen at another revision. Synced means same content.
 */
export function sameContent(version: string | undefined, other: string): boolean {
  return version !== undefined && version.slice(version.indexOf('.') + 1) === other.slice(other.indexOf('.') + 1);
}

const shortHash = (...parts: Array<string | Buffer>) => {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest('base64url').slice(0, 12);
};

/** Endpoints of registered instances that take traffic, by service. */
function instanceEndpoints(nodes: readonly RegisteredNode[]): Map<string, EffectiveEndpoint[]> {
  const byService = new Map<string, EffectiveEndpoint[]>();
  for (const node of nodes) {
    if (node.role !== 'instance' || !instanceTakesTraffic(node.lifecycle.phase)) continue;
    const key = serviceKey(node.namespace, node.spec.service);
    const endpoint: EffectiveEndpoint = { address: node.spec.address, port: node.spec.port, ...(node.spec.zone ? { zone: node.spec.zone } : {}), weight: node.spec.weight ?? 1 };
    const list = byService.get(key);
    if (list) list.push(endpoint);
    else byService.set(key, [endpoint]);
  }
  for (const list of byService.values()) list.sort((a, b) => a.address.localeCompare(b.address) || a.port - b.port);
  return byService;
}

/**
 * The route as gateways in `zone` run it: the registered instances joined to its endpoints, and,
 * when a FailoverPolicy or a drained zone applies, the zone weights computed from those endpoints
 * (zone-weights.ts). Once per shape, not per gateway.
 */
function withInstances(route: EffectiveRoute, instances: Map<string, EffectiveEndpoint[]>, zone: string): EffectiveRoute {
  const registered = instances.get(serviceKey(route.backend.service.namespace, route.backend.service.name));
  const withRegistered = registered ? { ...route, backend: { ...route.backend, endpoints: [...route.backend.endpoints, ...registered] } } : route;
  const zoneWeights = computeZoneWeights(zone, withRegistered.backend);
  return zoneWeights ? { ...withRegistered, backend: { ...withRegistered.backend, zoneWeights } } : withRegistered;
}

function policiesOf(routes: readonly EffectiveRoute[]): Set<string> {
  const keys = new Set<string>();
  for (const route of routes) {
    for (const policy of [route.rateLimit, route.retry, route.circuitBreaker, route.timeout]) {
      for (const source of policy?.applied ?? []) keys.add(policyRef(source));
    }
  }
  return keys;
}

/** What resolution needs to know of a gateway: its zone and the routes it serves. */
export function identityOf(gateway: RegisteredGateway): GatewayIdentity {
  return { name: gateway.name, zone: gateway.spec.zone, pool: gateway.spec.pool, routes: gateway.spec.routes?.map((ref) => ({ kind: 'Route', ...ref })) };
}

/** Gateways with the same key get the same routes. */
export function shapeKeyOf(gateway: RegisteredGateway): string {
  const routes = gateway.spec.routes?.map((ref) => serviceKey(ref.namespace, ref.name)).sort().join(',') ?? '*';
  return `${gateway.spec.zone}\u0000${routes}`;
}

function sameShare(a: PoolShare | null, b: PoolShare | null): boolean {
  return a === b || (a !== null && b !== null && a.pool === b.pool && a.size === b.size && a.index === b.index);
}

/** Each pool's routable gateways in name order: a gateway's index there is its share slot. */
function poolShares(gateways: readonly RegisteredGateway[]): Map<string, PoolShare> {
  const members = new Map<string, RegisteredGateway[]>();
  for (const gateway of gateways) {
    if (!isRoutable(gateway.lifecycle.phase)) continue;
    const list = members.get(gateway.spec.pool);
    if (list) list.push(gateway);
    else members.set(gateway.spec.pool, [gateway]);
  }
  const slots = new Map<string, number>();
  for (const pool of members.values()) {
    pool.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    pool.forEach((gateway, index) => slots.set(gateway.id, index));
  }
  const shares = new Map<string, PoolShare>();
  for (const gateway of gateways) {
    shares.set(gateway.id, { pool: gateway.spec.pool, size: members.get(gateway.spec.pool)?.length ?? 0, index: slots.get(gateway.id) ?? -1 });
  }
  return shares;
}

/**
 * `previous` carries each gateway's current snapshot: when a gateway's content (routes and share)
 * is unchanged, it keeps its snapshot, version and revision, so nothing is pushed to it.
 */
export function buildSnapshots(index: ResolutionIndex, nodes: readonly RegisteredNode[], previous?: BuildResult): BuildResult {
  const instances = instanceEndpoints(nodes);
  const gateways = nodes.filter((node): node is RegisteredGateway => node.role === 'gateway');
  // Pool shares sort every pool by name: only worth it when some shape needs them.
  let shares: Map<string, PoolShare> | undefined;
  const shapes = new Map<string, ShapeSnapshot>();
  const result = new Map<string, GatewaySnapshot>();
  for (const gateway of gateways) {
    const key = shapeKeyOf(gateway);
    let shape = shapes.get(key);
    if (!shape) {
      const resolved = resolveGateway(index, identityOf(gateway));
      const routes = resolved.routes.map((route) => withInstances(route, instances, gateway.spec.zone));
      const routesJson = Buffer.from(JSON.stringify(routes));
      const routesHash = shortHash(routesJson);
      const earlier = previous?.shapes.get(key);
      // Same bytes as before: keep the old shape object so unchanged gateways compare equal cheaply.
      shape =
        earlier && earlier.routesHash === routesHash
          ? earlier
          : { key, routes, routesJson, routesHash, policies: policiesOf(routes), needsShare: routes.some((route) => route.rateLimit?.config.scope === 'mesh') };
      shapes.set(key, shape);
    }
    // Pool membership changes with every join and leave; sending it only where a mesh-scoped limit
    // uses it keeps a join from re-pushing every other gateway of the pool.
    const share = shape.needsShare ? (shares ??= poolShares(gateways)).get(gateway.id)! : null;
    const earlier = previous?.gateways.get(gateway.id);
    // The common case after a join or leave elsewhere: same shape object, same share. No hashing.
    if (earlier && earlier.shape === shape && sameShare(earlier.share, share)) {
      result.set(gateway.id, earlier);
      continue;
    }
    const identity = { id: gateway.id, name: gateway.name, zone: gateway.spec.zone, pool: gateway.spec.pool };
    const contentHash = shortHash(shape.routesHash, JSON.stringify(share), JSON.stringify(identity));
    if (earlier && sameContent(earlier.version, `.${contentHash}`)) {
      result.set(gateway.id, { ...earlier, shape });
    } else {
      result.set(gateway.id, { version: `${index.revision}.${contentHash}`, revision: index.revision, gateway: identity, share, shape });
    }
  }
  return { gateways: result, shapes };
}

/**
 * The snapshot as JSON, in three parts so the shared routes bytes are never copied per gateway:
 * senders write the parts in order (WebSocket fragments, or chunks of one HTTP body).
 */
export function snapshotFrames(snapshot: GatewaySnapshot, wrapInMessage: boolean): [Buffer, Buffer, Buffer] {
  const envelope = JSON.stringify({ version: snapshot.version, revision: snapshot.revision, gateway: snapshot.gateway, share: snapshot.share });
  const open = `${wrapInMessage ? '{"type":"snapshot","snapshot":' : ''}${envelope.slice(0, -1)},"routes":`;
  return [Buffer.from(open), snapshot.shape.routesJson, Buffer.from(wrapInMessage ? '}}' : '}')];
}
