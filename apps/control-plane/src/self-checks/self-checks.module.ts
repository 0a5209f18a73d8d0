import { Module, type DynamicModule } from '@nestjs/common';
import { SelfChecksController } from './self-checks.controller';
import { SelfChecksService } from './self-checks.service';

/** Self-checks over the registry and the trace store; `tracing` is the app's TracingModule. */
@Module({})
export class SelfChecksModule {
  static register(tracing: DynamicModule): DynamicModule {
    return { module: SelfChecksModule, imports: [tracing], controllers: [SelfChecksController], providers: [SelfChecksService] };
  }
}
