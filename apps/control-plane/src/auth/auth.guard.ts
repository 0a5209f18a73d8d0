import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { ApiError } from '../errors/api-error';
import { currentContext } from '../telemetry/request-context';
import { ACCESS_METADATA, allows, type AccessLevel, type Principal } from './roles';
import { TokenService } from './token-service';

export type AuthenticatedRequest = Request & { principal?: Principal };

@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly tokens: TokenService,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const needed = this.reflector.getAllAndOverride<AccessLevel>(ACCESS_METADATA, [context.getHandler(), context.getClass()]) ?? 'admin';
    if (needed === 'public') return true;
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const header = request.headers.authorization ?? '';
    const token = /^Bearer\s+(.+)$/i.exec(header)?.[1]?.trim();
    const principal = token ? this.tokens.authenticate(token) : undefined;
    if (!principal) {
      throw ApiError.of(401, 'Unauthorized', token ? 'Unauthorized: the bearer token is not valid' : 'Unauthorized: send a bearer token (Authorization: Bearer <token>)');
    }
    request.principal = principal;
    const requestContext = currentContext();
    if (requestContext) requestContext.principal = principal.name;
    if (!allows(principal.role, needed)) {
      throw ApiError.of(
        403,
        'Forbidden',
        `forbidden: "${principal.name}" has role ${principal.role} and cannot ${request.method} ${request.path}: it needs role ${needed}`,
      );
    }
    return true;
  }
}
