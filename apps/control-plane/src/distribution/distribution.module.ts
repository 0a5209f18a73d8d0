import { Module } from '@nestjs/common';
import { AgentConfigController } from './agent-config.controller';
import { DistributionService } from './distribution.service';

/** Snapshot building, push (WebSocket, attached in control-plane.ts) and long-poll, ACK/NACK. */
@Module({
  controllers: [AgentConfigController],
  providers: [DistributionService],
  exports: [DistributionService],
})
export class DistributionModule {}
