/** Token administration (admin role): list, mint (the value is shown once) and revoke. */
import { Body, Controller, Delete, Get, HttpCode, Param, Post, Req } from '@nestjs/common';
import { isJsonObject } from '@portolan/api';
import { noteForAudit } from '../audit/audit-notes';
import { ApiError } from '../errors/api-error';
import type { AuthenticatedRequest } from './auth.guard';
import { Access, isRole } from './roles';
import { requestedExpiry } from './token-expiry';
import { TokenService } from './token-service';

@Controller('v1')
export class TokensController {
  constructor(private readonly tokens: TokenService) {}

  @Get('whoami')
  @Access('viewer')
  whoami(@Req() request: AuthenticatedRequest) {
    return request.principal;
  }

  @Get('tokens')
  @Access('admin')
  list() {
    return { items: this.tokens.list() };
  }

  @Post('tokens')
  @Access('admin')
  async create(@Body() body: unknown, @Req() request: AuthenticatedRequest) {
    const input = isJsonObject(body) ? body : {};
    const causes = [];
    if (typeof input.name !== 'string' || !/^[a-zA-Z0-9][-a-zA-Z0-9_.@]{0,62}$/.test(input.name)) {
      causes.push({ field: 'name', reason: 'FieldValueInvalid' as const, message: 'Invalid value: a name of 1-63 letters, digits, "-", "_", "." or "@"' });
    }
    if (!isRole(input.role)) causes.push({ field: 'role', reason: 'FieldValueNotSupported' as const, message: 'Unsupported value: supported values: "viewer", "editor", "admin"' });
    const now = this.tokens.now();
    const expiry = requestedExpiry(input, now);
    if ('causes' in expiry) causes.push(...expiry.causes);
    if (causes.length || !('expiresAt' in expiry)) throw ApiError.invalid('Token', typeof input.name === 'string' ? input.name : '', causes);
    return this.tokens.create(input.name as string, input.role as 'viewer', request.principal!.name, { createdAt: now, expiresAt: expiry.expiresAt });
  }

  @Delete('tokens/:id')
  @Access('admin')
  @HttpCode(200)
  async revoke(@Param('id') id: string, @Req() request: AuthenticatedRequest) {
    // The answer does not name the token, and once it is revoked nothing else does.
    const revoked = this.tokens.list().find((token) => token.id === id);
    if (revoked) noteForAudit(request, { token: { name: revoked.name, role: revoked.role } });
    if (!(await this.tokens.revoke(id))) throw ApiError.of(404, 'NotFound', `token "${id}" not found (static tokens are revoked by changing their configuration)`, { name: id, kind: 'tokens' });
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 200, message: `token ${id} revoked` };
  }
}
