import { Module } from '@nestjs/common';
import { MetricsController } from './metrics.controller';

/** /metrics, also served on the plain-HTTP ops port. */
@Module({ controllers: [MetricsController] })
export class TelemetryModule {}
