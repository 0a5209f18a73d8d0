import { Inject, Injectable, Optional, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import { ApiError } from '../errors/api-error';
import { currentContext } from '../telemetry/request-context';
import { ACCESS_METADATA, allows, type AccessLevel, type Principal } from './roles';
import { NODE_REGISTRY, type NodeRegistry, type RegisteredNode } from '../registry/node-registry';
import { AuthLockout, lockedOutStatus } from './auth-lockout';
import { BootstrapToken } from './bootstrap-token';
import { TokenService } from './token-service';
import { KUBERNETES_DELEGATION, kubernetesPrincipal, type KubernetesDelegation, type KubernetesPrincipal } from './delegated/kubernetes-delegation';

/** `principal` is a bearer token's (with a role), or a Kubernetes user's behind the aggregation layer (with RBAC instead). */
export type AuthenticatedRequest = Request & { principal?: Principal | KubernetesPrincipal; node?: RegisteredNode };

function bearerOf(request: Request): string | undefined {
  return /^Bearer\s+(.+)$/i.exec(request.headers.authorization ?? '')?.[1]?.trim();
}

@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly tokens: TokenService,
    private readonly bootstrap: BootstrapToken,
    private readonly lockout: AuthLockout,
    @Inject(NODE_REGISTRY) private readonly registry: NodeRegistry,
    @Optional() @Inject(KUBERNETES_DELEGATION) private readonly delegation: KubernetesDelegation | null = null,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const needed = this.reflector.getAllAndOverride<AccessLevel>(ACCESS_METADATA, [context.getHandler(), context.getClass()]) ?? 'admin';
    if (needed === 'public') return true;
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    // Before bearer tokens, as kube-apiserver's front proxy comes first: headers naming a user are
    // believed with its certificate only, and refused without it even beside a valid token.
    const kubernetesUser = this.delegation?.authenticate(request);
    if (kubernetesUser) {
      // Whatever role the route declares, RBAC decides for a Kubernetes user; routes outside the
      // mesh group (tokens, dashboard, agents) are refused to it by authorize().
      // Named in the log context first, so the lines of a refusal say who was refused.
      const principal = kubernetesPrincipal(kubernetesUser);
      const requestContext = currentContext();
      if (requestContext) requestContext.principal = principal.name;
      await this.delegation!.authorize(kubernetesUser, request.method, request.originalUrl);
      request.principal = principal;
      return true;
    }
    // After delegation: kube-apiserver's users all come from its address, and guess no token.
    const address = request.socket.remoteAddress;
    const retryAfterSeconds = this.lockout.retryAfterSeconds(address);
    if (retryAfterSeconds > 0) {
      context.switchToHttp().getResponse<Response>().setHeader('Retry-After', String(retryAfterSeconds));
      throw new ApiError(lockedOutStatus(retryAfterSeconds));
    }
    const token = bearerOf(request);
    if (needed === 'node') return this.authenticateNode(request, token);
    if (needed === 'bootstrap' && token && this.bootstrap.matches(token)) {
      request.principal = { name: 'bootstrap', role: 'viewer' };
      return true;
    }
    const check = token ? this.tokens.verify(token) : undefined;
    const principal = check?.principal;
    if (!principal) {
      if (!token) throw ApiError.of(401, 'Unauthorized', 'Unauthorized: send a bearer token (Authorization: Bearer <token>)');
      const refusal = check && 'refusal' in check ? check.refusal : 'invalid_token';
      this.lockout.failed(address, refusal);
      // Saying "expired" tells a guesser nothing: only who held the token can send it.
      throw ApiError.of(401, 'Unauthorized', refusal === 'expired_token' ? 'Unauthorized: the bearer token has expired: mint a new one' : 'Unauthorized: the bearer token is not valid');
    }
    request.principal = principal;
    const requestContext = currentContext();
    if (requestContext) requestContext.principal = principal.name;
    const neededRole = needed === 'bootstrap' ? 'admin' : needed;
    if (!allows(principal.role, neededRole)) {
      throw ApiError.of(
        403,
        'Forbidden',
        `forbidden: "${principal.name}" has role ${principal.role} and cannot ${request.method} ${request.path}: it needs role ${neededRole}${needed === 'bootstrap' ? ' or the bootstrap token' : ''}`,
      );
    }
    return true;
  }

  private authenticateNode(request: AuthenticatedRequest, token: string | undefined): boolean {
    const id = (request.params as Record<string, string>).id;
    const node = token ? this.registry.authenticate(id, token) : undefined;
    if (!node) {
      // Not counted: no credential is guessed against a node that is not there, and a gateway the
      // registry removed (or whose credential was revoked) learns so here, and registers again.
      if (token && this.registry.get(id) === undefined) {
        throw ApiError.of(404, 'NotFound', `node ${id} is not registered (removed, or registered again under a new id): register again`);
      }
      if (token) this.lockout.failed(request.socket.remoteAddress, 'invalid_node_credential');
      throw ApiError.of(401, 'Unauthorized', `Unauthorized: node ${id} needs its registration credential (Authorization: Bearer <credential>)`);
    }
    request.node = node;
    request.principal = { name: `${node.role}/${node.namespace}/${node.name}`, role: 'viewer' };
    const requestContext = currentContext();
    if (requestContext) requestContext.principal = request.principal.name;
    return true;
  }
}
