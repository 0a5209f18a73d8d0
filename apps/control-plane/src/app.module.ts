import { Global, Module, type DynamicModule } from '@nestjs/common';
import { AuditModule } from './audit/audit.module';
import type { AuditLog } from './audit/audit-log';
import { AuthModule } from './auth/auth.module';
import { PoolTrafficWindow } from './autoscaling/pool-traffic-window';
import { EVENT_JOURNAL, type EventJournal } from './events/event-journal';
import { EventsModule } from './events/events.module';
import { AuthLockout } from './auth/auth-lockout';
import { BootstrapToken } from './auth/bootstrap-token';
import { KUBERNETES_DELEGATION, type KubernetesDelegation } from './auth/delegated/kubernetes-delegation';
import { TokenService } from './auth/token-service';
import { DiscoveryModule } from './discovery/discovery.module';
import { ACK_LEDGER, type AckLedger } from './distribution/ack-ledger';
import { DistributionModule } from './distribution/distribution.module';
import { HealthModule } from './health/health.module';
import { LEADERSHIP, type Leadership } from './leadership/leadership';
import { LiveModule } from './live/live.module';
import { TapModule } from './tap/tap.module';
import { NODE_REGISTRY, type NodeRegistry } from './registry/node-registry';
import { RegistryModule } from './registry/registry.module';
import { ResourcesModule } from './resources/resources.module';
import { RESOURCE_STORE, type ResourceStore } from './store/resource-store';
import { MetricsRegistry } from './telemetry/metrics';
import { TelemetryModule } from './telemetry/telemetry.module';
import type { TracingSettings } from './config/boot-config';
import { SelfChecksModule } from './self-checks/self-checks.module';
import { TracingModule } from './tracing/tracing.module';
import { ZonesModule } from './zones/zones.module';

export interface AppDependencies {
  store: ResourceStore;
  registry: NodeRegistry;
  tokens: TokenService;
  bootstrapToken: BootstrapToken;
  /** Failed authentications per source address, shared with the WebSocket upgrades. */
  lockout: AuthLockout;
  metrics: MetricsRegistry;
  ackLedger: AckLedger;
  leadership: Leadership;
  /** Boot settings of the tracing module (embedded store bounds, or Jaeger). */
  tracing: TracingSettings;
  /** What the leader's controllers did (autoscaling decisions) and their status of objects. */
  events: EventJournal;
  /** Where the audit middleware records every write and token action (GET /v1/audit reads it). */
  audit: AuditLog;
  /** Gateways' heartbeat statistics per pool and zone, for the autoscaler and the dashboard's traffic charts. */
  traffic: PoolTrafficWindow;
  /** Delegated authentication and authorization behind the Kubernetes aggregation layer; absent when off. */
  kubernetesDelegation?: KubernetesDelegation;
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
      { provide: AuthLockout, useValue: dependencies.lockout },
      { provide: MetricsRegistry, useValue: dependencies.metrics },
      { provide: ACK_LEDGER, useValue: dependencies.ackLedger },
      { provide: LEADERSHIP, useValue: dependencies.leadership },
      { provide: EVENT_JOURNAL, useValue: dependencies.events },
      { provide: PoolTrafficWindow, useValue: dependencies.traffic },
      // null, not undefined: Nest takes a provider with an undefined useValue for a class provider.
      { provide: KUBERNETES_DELEGATION, useValue: dependencies.kubernetesDelegation ?? null },
    ];
    return { module: EdgesModule, providers, exports: providers.map((provider) => provider.provide) };
  }
}

/** The root: the I/O edges plus one module per feature. */
@Module({})
export class AppModule {
  static register(dependencies: AppDependencies): DynamicModule {
    const tracing = TracingModule.register(dependencies.tracing);
    return {
      module: AppModule,
      imports: [EdgesModule.register(dependencies), AuthModule, DiscoveryModule, HealthModule, TelemetryModule, ResourcesModule, RegistryModule, DistributionModule, EventsModule, ZonesModule, LiveModule, TapModule, tracing, SelfChecksModule.register(tracing), AuditModule.register(dependencies.audit)],
    };
  }
}
