import { Module, type DynamicModule } from '@nestjs/common';
import type { TracingSettings } from '../config/boot-config';
import { OtlpReceiverController } from './otlp-receiver.controller';
import { TracesController } from './traces.controller';
import { TRACING_CLOCK, TRACING_SETTINGS, TracingService } from './tracing.service';

/** OTLP/HTTP receiver (ops port), trace store or Jaeger reader, trace query API (docs/tracing.md). */
@Module({})
export class TracingModule {
  static register(settings: TracingSettings): DynamicModule {
    return {
      module: TracingModule,
      controllers: [OtlpReceiverController, TracesController],
      providers: [{ provide: TRACING_SETTINGS, useValue: settings }, { provide: TRACING_CLOCK, useValue: () => Date.now() }, TracingService],
      exports: [TracingService],
    };
  }
}
