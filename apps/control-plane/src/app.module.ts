import { Module, type DynamicModule } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AuthGuard } from './auth/auth.guard';
import { TokenService } from './auth/token-service';
import { TokensController } from './auth/tokens.controller';
import { DiscoveryController } from './discovery/discovery.controller';
import { HealthController } from './health/health.controller';
import { PolicyStatusService } from './resources/policy-status.service';
import { ResourcesController } from './resources/resources.controller';
import { ResourcesService } from './resources/resources.service';
import { RESOURCE_STORE, type ResourceStore } from './store/resource-store';
import { MetricsController } from './telemetry/metrics.controller';
import { MetricsRegistry } from './telemetry/metrics';

export interface AppDependencies {
  store: ResourceStore;
  tokens: TokenService;
  metrics: MetricsRegistry;
}

/** The I/O edges (store, tokens, metrics) are built by the bootstrap and handed in. */
@Module({})
export class AppModule {
  static register(dependencies: AppDependencies): DynamicModule {
    return {
      module: AppModule,
      controllers: [DiscoveryController, ResourcesController, HealthController, MetricsController, TokensController],
      providers: [
        { provide: RESOURCE_STORE, useValue: dependencies.store },
        { provide: TokenService, useValue: dependencies.tokens },
        { provide: MetricsRegistry, useValue: dependencies.metrics },
        { provide: APP_GUARD, useClass: AuthGuard },
        ResourcesService,
        PolicyStatusService,
      ],
    };
  }
}
