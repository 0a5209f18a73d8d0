/**
 * `GET …/gatewaynodes/{name}/effective-config`: what one gateway runs, field by field, with the
 * policy (and its resourceVersion) that set each field: the first thing to look at when a gateway
 * does something unexpected.
 */
import { Controller, Get, Inject, Param } from '@nestjs/common';
import { API_GROUP, GROUP_VERSION, type EffectiveConfigView } from '@portolan/api';
import { Access } from '../auth/roles';
import { ApiError } from '../errors/api-error';
import { NODE_REGISTRY, type NodeRegistry } from '../registry/node-registry';
import { DistributionService } from './distribution.service';
import { explainRoute } from './effective-config-view';

@Controller()
export class ExplainController {
  constructor(
    @Inject(NODE_REGISTRY) private readonly registry: NodeRegistry,
    private readonly distribution: DistributionService,
  ) {}

  @Get(`apis/${GROUP_VERSION}/namespaces/:namespace/gatewaynodes/:name/effective-config`)
  @Access('viewer')
  async effectiveConfig(@Param('namespace') namespace: string, @Param('name') name: string): Promise<EffectiveConfigView> {
    const node = this.registry.nodes().find((candidate) => candidate.role === 'gateway' && candidate.namespace === namespace && candidate.name === name);
    if (!node) throw ApiError.notFound('gatewaynodes', name, API_GROUP);
    await this.distribution.settled();
    const snapshot = this.distribution.snapshotOf(node.id);
    if (!snapshot) throw ApiError.of(503, 'ServiceUnavailable', `no snapshot has been built for gateway ${name} yet; retry in a moment`);
    return {
      apiVersion: GROUP_VERSION,
      kind: 'EffectiveConfig',
      gateway: snapshot.gateway,
      version: snapshot.version,
      revision: snapshot.revision,
      share: snapshot.share,
      routes: snapshot.shape.routes.map(explainRoute),
    };
  }
}
