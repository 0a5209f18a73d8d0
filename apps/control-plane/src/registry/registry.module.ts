import { Module } from '@nestjs/common';
import { DistributionModule } from '../distribution/distribution.module';
import { TapModule } from '../tap/tap.module';
import { AgentRegistryController } from './agent-registry.controller';
import { GatewayCredentialsController } from './gateway-credentials.controller';
import { RegistryResourcesService } from './registry-resources.service';

/** Node registration, heartbeats, drain and deregistration; revoking a gateway's credential; GatewayNode/ServiceInstance views. */
@Module({
  imports: [DistributionModule, TapModule],
  controllers: [AgentRegistryController, GatewayCredentialsController],
  providers: [RegistryResourcesService],
  exports: [RegistryResourcesService],
})
export class RegistryModule {}
