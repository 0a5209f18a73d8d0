import { Module } from '@nestjs/common';
import { AgentConfigController } from './agent-config.controller';
import { BlastRadiusService } from './blast-radius.service';
import { DistributionService } from './distribution.service';
import { ExplainController } from './explain.controller';
import { ProxyStatusController } from './proxy-status.controller';

/** Snapshot building, push (WebSocket, attached in control-plane.ts) and long-poll, ACK/NACK. */
@Module({
  controllers: [AgentConfigController, ExplainController, ProxyStatusController],
  providers: [DistributionService, BlastRadiusService],
  exports: [DistributionService, BlastRadiusService],
})
export class DistributionModule {}
