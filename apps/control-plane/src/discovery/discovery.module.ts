import { Module } from '@nestjs/common';
import { DiscoveryController } from './discovery.controller';

/** What kubectl asks first: /version, legacy discovery, OpenAPI v3. */
@Module({ controllers: [DiscoveryController] })
export class DiscoveryModule {}
