import { Global, Module, type DynamicModule } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AuthGuard } from './auth/auth.guard';
import { BootstrapToken } from './auth/bootstrap-token';
import { TokenService } from './auth/token-service';
import { TokensController } from './auth/tokens.controller';
import { DiscoveryController } from './discovery/discovery.controller';
import { DistributionModule } from './distribution/distribution.module';
import { HealthController } from './health/health.controller';
import { NODE_REGISTRY, type NodeRegistry } from './registry/node-registry';
import { RegistryModule } from './registry/registry.module';
import { PolicyStatusService } from './resources/policy-status.service';
import { ResourcesController } from './resources/resources.controller';
import { ResourcesService } from './resources/resources.service';
import { RESOURCE_STORE, type ResourceStore } from './store/resource-store';
import { MetricsController } from './telemetry/metrics.controller';
import { MetricsRegistry } from './telemetry/metrics';

export interface AppDependencies {
  store: ResourceStore;
  registry: NodeRegistry;
  tokens: TokenService;
  bootstrapToken: BootstrapToken;
  metrics: MetricsRegistry;
}

/** The I/O edges, built by the bootstrap and handed in; every feature module may inject them. */
@Global()
@Module({})
class EdgesModule {
  static register(dependencies: AppDependencies): DynamicModule {
    const providers = [
      { provide: RESOURCE_STORE, useValue: dependencies.store },
      { provide: NODE_REGISTRY, useValue: dependencies.registry },
      { provide: TokenService, useValue: dependencies.tokens },
      { provide: BootstrapToken, useValue: dependencies.bootstrapToken },
      { provide: MetricsRegistry, useValue: dependencies.metrics },
    ];
    return { module: EdgesModule, providers, exports: providers.map((provider) => provider.provide) };
  }
}

@Module({})
export class AppModule {
  static register(dependencies: AppDependencies): DynamicModule {
    return {
      module: AppModule,
      imports: [EdgesModule.register(dependencies), DistributionModule, RegistryModule],
      controllers: [DiscoveryController, ResourcesController, HealthController, MetricsController, TokensController],
      providers: [{ provide: APP_GUARD, useClass: AuthGuard }, ResourcesService, PolicyStatusService],
    };
  }
}
