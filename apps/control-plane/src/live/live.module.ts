import { Module } from '@nestjs/common';
import { TrafficController } from './traffic.controller';

/**
 * The dashboard's REST side of live data (`GET /v1/traffic`). The WebSocket feed itself is attached
 * to the HTTPS server by the bootstrap (live-feed.ts), as the agent stream is.
 */
@Module({ controllers: [TrafficController] })
export class LiveModule {}
