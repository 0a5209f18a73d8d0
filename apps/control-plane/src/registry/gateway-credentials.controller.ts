/**
 * An operator revokes one gateway's credential (admin): `POST /v1/gateways/{name or id}/revoke-credential`,
 * beside the other operator actions under /v1 (zone drains and drills), which bearer tokens reach
 * and Kubernetes users do not. The agent's own `DELETE /agent/v1/nodes/{id}` is the node leaving;
 * this is someone else deciding that its credential must no longer work (it leaked, or the host was
 * compromised).
 *
 * The registration is removed, so the credential authenticates nothing from this moment: the
 * gateway's WebSocket stream closes with 4401 and its pending long-polls end with 401 at once, and
 * its next call answers 404, on which the agent registers again with the bootstrap token and gets
 * a new credential. Until it has, it is not in the registry (one heartbeat interval).
 */
import { Controller, HttpCode, Inject, Param, Post } from '@nestjs/common';
import { Access } from '../auth/roles';
import { ApiError } from '../errors/api-error';
import { NODE_REGISTRY, NodeNotFoundError, type NodeRegistry } from './node-registry';

@Controller('v1')
export class GatewayCredentialsController {
  constructor(@Inject(NODE_REGISTRY) private readonly registry: NodeRegistry) {}

  @Post('gateways/:gateway/revoke-credential')
  @Access('admin')
  @HttpCode(200)
  async revoke(@Param('gateway') gateway: string) {
    const node = this.registry.nodes().find((candidate) => candidate.role === 'gateway' && (candidate.id === gateway || candidate.name === gateway));
    const notFound = () => ApiError.of(404, 'NotFound', `gateway "${gateway}" is not registered (give its name or registration id)`, { name: gateway, kind: 'gateways' });
    if (!node) throw notFound();
    try {
      await this.registry.revokeCredential(node.id);
    } catch (error) {
      throw error instanceof NodeNotFoundError ? notFound() : error;
    }
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Success',
      code: 200,
      message: `the credential of gateway ${node.name} (${node.id}) is revoked: its connections are closed, and it must register again with the bootstrap token`,
      details: { name: node.name, kind: 'gateways' },
    };
  }
}
