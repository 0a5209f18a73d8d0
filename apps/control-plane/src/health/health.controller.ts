import { Controller, Get, Inject, Optional, Res } from '@nestjs/common';
import type { Response } from 'express';
import { Access } from '../auth/roles';
import { KUBERNETES_DELEGATION, type KubernetesDelegation } from '../auth/delegated/kubernetes-delegation';
import { RESOURCE_STORE, type ResourceStore } from '../store/resource-store';

@Controller()
export class HealthController {
  constructor(
    @Inject(RESOURCE_STORE) private readonly store: ResourceStore,
    /** Null when PORTOLAN_KUBERNETES_AUTH is off. */
    @Optional() @Inject(KUBERNETES_DELEGATION) private readonly delegation: Pick<KubernetesDelegation, 'notReadyReason'> | null = null,
  ) {}

  /** Liveness: the process answers. */
  @Get('healthz')
  @Access('public')
  healthz(@Res() response: Response) {
    response.type('text/plain').send('ok');
  }

  /**
   * Readiness: the store answers, so writes and reads can be served; and, with delegated
   * authentication, the front-proxy configuration has been read, since until then every request
   * kube-apiserver proxies here would be answered 503 while other replicas could serve it.
   */
  @Get('readyz')
  @Access('public')
  async readyz(@Res() response: Response) {
    let revision: number;
    try {
      revision = await this.store.revision();
    } catch (error) {
      response.status(503).type('text/plain').send(`store unavailable: ${(error as Error).message}`);
      return;
    }
    const delegationPending = this.delegation?.notReadyReason();
    if (delegationPending) {
      response.status(503).type('text/plain').send(`not ready: ${delegationPending}`);
      return;
    }
    response.type('text/plain').send(`ok (revision ${revision})`);
  }
}
