/** Serves GatewayNode and ServiceInstance objects to the resource API, read-only. */
import { Inject, Injectable } from '@nestjs/common';
import type { Resource } from '@portolan/api';
import type { Change, ResourceStore } from '../store/resource-store';
import { DistributionService } from '../distribution/distribution.service';
import { NODE_REGISTRY, type NodeRegistry } from './node-registry';
import { toResource } from './node-view';

const ROLE_OF_KIND: Record<string, 'gateway' | 'instance'> = { GatewayNode: 'gateway', ServiceInstance: 'instance' };

@Injectable()
export class RegistryResourcesService {
  constructor(
    @Inject(NODE_REGISTRY) private readonly registry: NodeRegistry,
    private readonly distribution: DistributionService,
  ) {}

  list(kind: string, namespace?: string): { items: Resource[]; revision: number } {
    const now = Date.now();
    const items = this.registry
      .nodes()
      .filter((node) => node.role === ROLE_OF_KIND[kind] && (namespace === undefined || node.namespace === namespace))
      .map((node) => this.render(node.id, now)!);
    return { items, revision: this.registry.epoch() };
  }

  get(kind: string, namespace: string, name: string): Resource | undefined {
    const node = this.registry.nodes().find((candidate) => candidate.role === ROLE_OF_KIND[kind] && candidate.namespace === namespace && candidate.name === name);
    return node && this.render(node.id, Date.now());
  }

  /**
   * The registry as a watch source for `?watch=true`. Registry changes are not kept as history, so
   * a watch starts from now: an older resourceVersion gets the changes from now on.
   */
  watchSource(): Pick<ResourceStore, 'list' | 'watch'> {
    return {
      list: async ({ kind, namespace }) => this.list(kind ?? 'GatewayNode', namespace),
      watch: async (_fromRevision, listener) =>
        this.registry.onChange(({ type, node, epoch }) => {
          const key = { kind: node.role === 'gateway' ? 'GatewayNode' : 'ServiceInstance', namespace: node.namespace, name: node.name };
          const now = Date.now();
          const rendered = type === 'DELETED' ? (toResource(node, now) as Resource) : this.render(node.id, now);
          if (!rendered) return;
          rendered.metadata.resourceVersion = String(epoch);
          const change: Change = { revision: epoch, type, key, actor: 'registry', time: new Date(now).toISOString(), before: type === 'ADDED' ? null : rendered, after: type === 'DELETED' ? null : rendered };
          listener(change);
        }),
    };
  }

  private render(id: string, now: number): Resource | undefined {
    const node = this.registry.get(id);
    if (!node) return undefined;
    const sync = node.role === 'gateway' ? this.distribution.syncState(id) : undefined;
    const resource = toResource(node, now, sync, this.distribution.isListening(id)) as Resource;
    resource.metadata.resourceVersion = String(this.registry.epoch());
    return resource;
  }
}
