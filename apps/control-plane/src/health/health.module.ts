import { Module } from '@nestjs/common';
import { HealthController } from './health.controller';

/** /healthz and /readyz, also served on the plain-HTTP ops port. */
@Module({ controllers: [HealthController] })
export class HealthModule {}
