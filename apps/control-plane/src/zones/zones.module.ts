import { Module } from '@nestjs/common';
import { DistributionModule } from '../distribution/distribution.module';
import { ResourcesModule } from '../resources/resources.module';
import { FailoverDrillsService } from './failover-drills.service';
import { ZonesController } from './zones.controller';
import { ZonesService } from './zones.service';

/**
 * Zones: listing, drain and undrain (written as Zone objects through ResourcesService), failover
 * drills, and resolution of a service's endpoints by locality. ResourcesModule must export
 * ResourcesService for this module to write through it.
 */
@Module({
  imports: [ResourcesModule, DistributionModule],
  controllers: [ZonesController],
  providers: [ZonesService, FailoverDrillsService],
})
export class ZonesModule {}
