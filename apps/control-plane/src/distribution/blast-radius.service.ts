/**
 * Blast radius of a change before it is made: which gateways would get a different configuration
 * and exactly which fields would change. Used by dry runs (`?dryRun=All`, `kubectl apply
 * --dry-run=server`) of mesh resources; the answer goes into the dry-run object's
 * `status.blastRadius`.
 *
 * Gateways of one shape (zone, routes served) always get the same routes, so the impact is
 * computed per shape and lists the gateways of each.
 */
import { Inject, Injectable } from '@nestjs/common';
import { type BlastRadius, buildResolutionIndex, type GatewayIdentity, resolveGateway, type Resource, type ShapeImpact } from '@portolan/api';
import { NODE_REGISTRY, type NodeRegistry, type RegisteredGateway } from '../registry/node-registry';
import { RESOURCE_STORE, keyOf, type ResourceStore } from '../store/resource-store';
import { DistributionService } from './distribution.service';
import { diffRoutes } from './effective-config-view';
import { identityOf, shapeKeyOf } from './snapshot-builder';

/** Field changes listed per shape at most; the count is always exact. */
const MAX_CHANGES_LISTED = 200;

export type { ShapeImpact, BlastRadius } from '@portolan/api';

@Injectable()
export class BlastRadiusService {
  constructor(
    @Inject(RESOURCE_STORE) private readonly store: ResourceStore,
    @Inject(NODE_REGISTRY) private readonly registry: NodeRegistry,
    private readonly distribution: DistributionService,
  ) {}

  /** The impact of replacing `before` by `after` (either may be null: a creation or a deletion). */
  async of(before: Resource | null, after: Resource | null): Promise<BlastRadius> {
    const current = await this.distribution.resolutionIndex();
    const { items, revision } = await this.store.list({});
    const changed = keyOf((after ?? before)!);
    const sameKey = (resource: Resource) => {
      const key = keyOf(resource);
      return key.kind === changed.kind && key.namespace === changed.namespace && key.name === changed.name;
    };
    const proposedItems = [...items.filter((item) => !sameKey(item)), ...(after ? [{ ...after, metadata: { ...after.metadata, resourceVersion: 'dry-run' } }] : [])];
    const proposed = buildResolutionIndex(proposedItems, revision + 1);

    const gateways = this.registry.nodes().filter((node): node is RegisteredGateway => node.role === 'gateway');
    const byShape = new Map<string, { identity: GatewayIdentity; names: string[] }>();
    for (const gateway of gateways) {
      const key = shapeKeyOf(gateway);
      const shape = byShape.get(key) ?? { identity: identityOf(gateway), names: [] };
      shape.names.push(gateway.name);
      byShape.set(key, shape);
    }
    const shapes: ShapeImpact[] = [];
    for (const { identity, names } of byShape.values()) {
      const changes = diffRoutes(resolveGateway(current, identity).routes, resolveGateway(proposed, identity).routes);
      if (changes.length === 0) continue;
      shapes.push({
        zone: identity.zone,
        gateways: names.sort(),
        changes: changes.slice(0, MAX_CHANGES_LISTED),
        ...(changes.length > MAX_CHANGES_LISTED ? { moreChanges: changes.length - MAX_CHANGES_LISTED } : {}),
      });
    }
    shapes.sort((a, b) => a.zone.localeCompare(b.zone));
    return { gateways: gateways.length, affected: shapes.reduce((sum, shape) => sum + shape.gateways.length, 0), shapes };
  }
}
