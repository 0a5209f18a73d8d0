/** `GET /v1/proxy-status`: every gateway and whether it runs what it should (SYNCED/STALE in istioctl terms). */
import { Controller, Get, Inject, Query } from '@nestjs/common';
import { Access } from '../auth/roles';
import { ApiError } from '../errors/api-error';
import { NODE_REGISTRY, type NodeRegistry } from '../registry/node-registry';
import { DistributionService } from './distribution.service';
import { proxyStatus, type ProxyStatus } from './proxy-status';

@Controller()
export class ProxyStatusController {
  constructor(
    @Inject(NODE_REGISTRY) private readonly registry: NodeRegistry,
    private readonly distribution: DistributionService,
  ) {}

  /** `?stale=true` lists only the gateways that are not Synced. */
  @Get('v1/proxy-status')
  @Access('viewer')
  async list(@Query('stale') staleOnly?: string) {
    if (staleOnly !== undefined && staleOnly !== 'true' && staleOnly !== 'false') {
      throw ApiError.of(400, 'BadRequest', `query parameter stale must be true or false, not ${JSON.stringify(staleOnly)}`);
    }
    await this.distribution.settled();
    const items: ProxyStatus[] = [];
    for (const { snapshot, state, listening } of this.distribution.gatewayStates()) {
      const node = this.registry.get(snapshot.gateway.id);
      if (!node || node.role !== 'gateway') continue;
      const status = proxyStatus(snapshot, state, listening, {
        name: node.name,
        namespace: node.namespace,
        zone: node.spec.zone,
        pool: node.spec.pool,
        phase: node.lifecycle.phase,
      });
      if (staleOnly !== 'true' || status.stale) items.push(status);
    }
    items.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.gateway.localeCompare(b.gateway));
    return { kind: 'ProxyStatusList', items };
  }
}
