import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import { Access } from '../auth/roles';
import { RESOURCE_STORE, type ResourceStore } from '../store/resource-store';
import { MetricsRegistry } from './metrics';

@Controller()
export class MetricsController {
  constructor(
    private readonly metrics: MetricsRegistry,
    @Inject(RESOURCE_STORE) private readonly store: ResourceStore,
  ) {}

  @Get('metrics')
  @Access('public')
  async scrape(@Res() response: Response) {
    this.metrics.meshRevision.set(await this.store.revision());
    response.setHeader('Content-Type', this.metrics.registry.contentType);
    response.send(await this.metrics.registry.metrics());
  }
}
