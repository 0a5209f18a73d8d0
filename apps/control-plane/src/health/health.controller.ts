import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import { Access } from '../auth/roles';
import { RESOURCE_STORE, type ResourceStore } from '../store/resource-store';

@Controller()
export class HealthController {
  constructor(@Inject(RESOURCE_STORE) private readonly store: ResourceStore) {}

  /** Liveness: the process answers. */
  @Get('healthz')
  @Access('public')
  healthz(@Res() response: Response) {
    response.type('text/plain').send('ok');
  }

  /** Readiness: the store answers, so writes and reads can be served. */
  @Get('readyz')
  @Access('public')
  async readyz(@Res() response: Response) {
    try {
      const revision = await this.store.revision();
      response.type('text/plain').send(`ok (revision ${revision})`);
    } catch (error) {
      response.status(503).type('text/plain').send(`store unavailable: ${(error as Error).message}`);
    }
  }
}
