import { Module, type DynamicModule, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { AUDIT_LOG, type AuditLog } from './audit-log';
import { AuditController } from './audit.controller';
import { AuditMiddleware } from './audit.middleware';
import { AuditRecorder } from './audit-recorder';

/**
 * The audit log: the middleware that records every write and token action (on every route, so a
 * new write route is recorded without anyone remembering to), and its read API, `GET /v1/audit`.
 * The log itself (embedded database or Consul) is opened with the backend and handed in.
 */
@Module({})
export class AuditModule implements NestModule {
  static register(log: AuditLog): DynamicModule {
    return { module: AuditModule, controllers: [AuditController], providers: [{ provide: AUDIT_LOG, useValue: log }, AuditRecorder] };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(AuditMiddleware).forRoutes('*');
  }
}
