import { Module } from '@nestjs/common';
import { TapController } from './tap.controller';
import { TapService } from './tap.service';

/** Live taps of gateways: the subscriptions the live feed makes, and the batches gateways send. */
@Module({ controllers: [TapController], providers: [TapService], exports: [TapService] })
export class TapModule {}
