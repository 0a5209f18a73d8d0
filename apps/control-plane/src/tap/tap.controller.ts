/** `POST /agent/v1/nodes/{id}/tap`: a tapped gateway's batch of sampled requests (node credential). */
import { Body, Controller, HttpCode, Param, Post } from '@nestjs/common';
import { AGENT_API_PREFIX } from '@portolan/agent-client';
import { Access } from '../auth/roles';
import { readTapBatch } from './tapped-request';
import { TapService } from './tap.service';

@Controller()
export class TapController {
  constructor(private readonly taps: TapService) {}

  @Post(`${AGENT_API_PREFIX}/nodes/:id/tap`)
  @Access('node')
  @HttpCode(204)
  receive(@Param('id') id: string, @Body() body: unknown): void {
    this.taps.deliver(id, readTapBatch(body));
  }
}
