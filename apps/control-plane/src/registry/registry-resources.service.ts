/** Serves GatewayNode and ServiceInstance objects to the resource API, read-only. */
import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { Resource } from '@portolan/api';
import type { Change, ResourceStore } from '../store/resource-store';
import { DistributionService } from '../distribution/distribution.service';
import { KIND_OF_ROLE, NODE_REGISTRY, type NodeRegistry, type RegistryChange } from './node-registry';
import { toResource } from './node-view';

const ROLE_OF_KIND = Object.fromEntries(Object.entries(KIND_OF_ROLE).map(([role, kind]) => [kind, role])) as Record<string, keyof typeof KIND_OF_ROLE>;
/** Registry changes kept for watches that start from a list's resourceVersion. */
const KEPT_CHANGES = 1_000;

@Injectable()
export class RegistryResourcesService implements OnModuleDestroy {
  /** The latest registry changes as watch events, oldest first. */
  private readonly recent: Change[] = [];
  private readonly watchers = new Set<(change: Change) => void>();
  private readonly unsubscribe: () => void;

  constructor(
    @Inject(NODE_REGISTRY) private readonly registry: NodeRegistry,
    private readonly distribution: DistributionService,
  ) {
    this.unsubscribe = registry.onChange((change) => {
      const event = this.toWatchEvent(change);
      if (!event) return;
      this.recent.push(event);
      if (this.recent.length > KEPT_CHANGES) this.recent.shift();
      for (const watcher of this.watchers) watcher(event);
    });
  }

  onModuleDestroy(): void {
    this.unsubscribe();
    this.watchers.clear();
  }

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
   * The registry as a watch source for `?watch=true`: the kept changes after `fromRevision` (the
   * registry epoch a list answered with), then new ones. A revision older than the kept changes
   * replays all that are kept.
   */
  watchSource(): Pick<ResourceStore, 'list' | 'watch'> {
    return {
      list: async ({ kind, namespace }) => this.list(kind ?? 'GatewayNode', namespace),
      watch: async (fromRevision, listener) => {
        for (const event of this.recent) if (event.revision > fromRevision) listener(event);
        this.watchers.add(listener);
        return () => this.watchers.delete(listener);
      },
    };
  }

  private toWatchEvent({ type, node, epoch }: RegistryChange): Change | undefined {
    const key = { kind: KIND_OF_ROLE[node.role], namespace: node.namespace, name: node.name };
    const now = Date.now();
    const rendered = type === 'DELETED' ? (toResource(node, now) as Resource) : this.render(node.id, now);
    if (!rendered) return undefined;
    rendered.metadata.resourceVersion = String(epoch);
    return { revision: epoch, type, key, actor: 'registry', time: new Date(now).toISOString(), before: type === 'ADDED' ? null : rendered, after: type === 'DELETED' ? null : rendered };
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
