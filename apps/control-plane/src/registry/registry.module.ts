import { Module } from '@nestjs/common';
import { DistributionModule } from '../distribution/distribution.module';
import { TapModule } from '../tap/tap.module';
import { AgentRegistryController } from './agent-registry.controller';
import { RegistryResourcesService } from './registry-resources.service';

/** Node registration, heartbeats, drain and deregistration; GatewayNode/ServiceInstance views. */
@Module({
  imports: [DistributionModule, TapModule],
  controllers: [AgentRegistryController],
  providers: [RegistryResourcesService],
  exports: [RegistryResourcesService],
})
export class RegistryModule {}
