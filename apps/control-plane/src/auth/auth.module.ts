import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AuthGuard } from './auth.guard';
import { TokensController } from './tokens.controller';

/** Every route goes through AuthGuard; admins manage tokens at /v1/tokens. */
@Module({
  controllers: [TokensController],
  providers: [{ provide: APP_GUARD, useClass: AuthGuard }],
})
export class AuthModule {}
