import { Module } from '@nestjs/common';
import { DistributionModule } from '../distribution/distribution.module';
import { RegistryModule } from '../registry/registry.module';
import { PolicyStatusService } from './policy-status.service';
import { ResourcesController } from './resources.controller';
import { ResourcesService } from './resources.service';

/** The Kubernetes-style resource API: admission, patches, tables, watch, history, derived status. */
@Module({
  imports: [DistributionModule, RegistryModule],
  controllers: [ResourcesController],
  providers: [ResourcesService, PolicyStatusService],
  // The zones module writes Zone objects through the same admission, history and watches.
  exports: [ResourcesService],
})
export class ResourcesModule {}
