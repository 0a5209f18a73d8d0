/**
 * Config delivery over plain HTTP (docs/agent-protocol.md): the long-poll snapshot endpoint, for
 * agents whose WebSocket cannot get through, and the ACK/NACK endpoint that goes with it.
 */
import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { AGENT_API_PREFIX, type AckRequest } from '@portolan/agent-client';
import { Access } from '../auth/roles';
import { ApiError } from '../errors/api-error';
import { readAckRequest } from './ack-request';
import { DistributionService } from './distribution.service';
import { answerLongPoll, readLongPoll } from './long-poll';

/** Nest route pattern of one node's endpoints (PATHS.node builds concrete URLs). */
const NODE_ROUTE = `${AGENT_API_PREFIX}/nodes/:id`;

@Controller()
export class AgentConfigController {
  constructor(private readonly distribution: DistributionService) {}

  /** The long-poll answer (long-poll.ts); the agent lane answers most polls without this route. */
  @Get(`${NODE_ROUTE}/snapshot`)
  @Access('node')
  async snapshot(
    @Param('id') id: string,
    @Query('revision') revision: string | undefined,
    @Query('wait') wait: string | undefined,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Res() response: Response,
  ): Promise<void> {
    await answerLongPoll(this.distribution, id, readLongPoll(revision, wait, ifNoneMatch), response);
  }

  @Post(`${NODE_ROUTE}/acks`)
  @Access('node')
  @HttpCode(204)
  ack(@Param('id') id: string, @Body() body: unknown): void {
    let ack: AckRequest;
    try {
      ack = readAckRequest(body);
    } catch (error) {
      throw ApiError.badRequest((error as Error).message);
    }
    this.distribution.acknowledge(id, ack);
  }
}
