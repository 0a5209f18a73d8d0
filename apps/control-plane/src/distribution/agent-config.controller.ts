/**
 * Config delivery over plain HTTP (docs/agent-protocol.md): the long-poll snapshot endpoint, for
 * agents whose WebSocket cannot get through, and the ACK/NACK endpoint that goes with it.
 */
import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { failureStatus, parseDuration } from '@portolan/api';
import { AGENT_API_PREFIX, PROTOCOL_DEFAULTS, type AckRequest } from '@portolan/agent-client';
import { Access } from '../auth/roles';
import { ApiError } from '../errors/api-error';
import { readAckRequest } from './ack-request';
import { DistributionService } from './distribution.service';
import { snapshotFrames, type GatewaySnapshot } from './snapshot-builder';

/** Nest route pattern of one node's endpoints (PATHS.node builds concrete URLs). */
const NODE_ROUTE = `${AGENT_API_PREFIX}/nodes/:id`;

const DEFAULT_WAIT_MS = 30_000;

function writeSnapshot(response: Response, snapshot: GatewaySnapshot): void {
  const [open, routes, close] = snapshotFrames(snapshot, false);
  response.status(200);
  response.setHeader('Content-Type', 'application/json');
  response.setHeader('ETag', `"${snapshot.version}"`);
  response.setHeader('X-Portolan-Revision', String(snapshot.revision));
  response.setHeader('Content-Length', open.length + routes.length + close.length);
  response.write(open);
  response.write(routes);
  response.end(close);
}

function parseWait(wait: string | undefined): number {
  if (wait === undefined) return DEFAULT_WAIT_MS;
  try {
    return Math.min(parseDuration(wait), PROTOCOL_DEFAULTS.maxWaitMs);
  } catch {
    throw ApiError.badRequest(`wait must be a duration such as 30s, not ${JSON.stringify(wait)}`);
  }
}

@Controller()
export class AgentConfigController {
  constructor(private readonly distribution: DistributionService) {}

  /**
   * Answers at once with the gateway's snapshot when it differs from `If-None-Match` (or is newer
   * than `revision`); otherwise holds the request until a new one is built or `wait` ends (304).
   * A held request ends at once when the node goes: 304 when deregistered, 401 when an operator
   * revoked its credential.
   */
  @Get(`${NODE_ROUTE}/snapshot`)
  @Access('node')
  async snapshot(
    @Param('id') id: string,
    @Query('revision') revisionParam: string | undefined,
    @Query('wait') wait: string | undefined,
    @Headers('if-none-match') ifNoneMatch: string | undefined,
    @Res() response: Response,
  ): Promise<void> {
    const waitMs = parseWait(wait);
    const revision = revisionParam === undefined ? undefined : Number(revisionParam);
    if (revision !== undefined && !Number.isInteger(revision)) throw ApiError.badRequest(`revision must be an integer, not ${JSON.stringify(revisionParam)}`);
    await this.distribution.settled();
    const held = ifNoneMatch?.replace(/^W\//, '').replace(/^"|"$/g, '');
    const isNew = (snapshot: GatewaySnapshot) => (held !== undefined ? snapshot.version !== held : revision === undefined || snapshot.revision > revision);
    const current = this.distribution.snapshotOf(id);
    if (current && isNew(current)) {
      this.distribution.noteFetch(id, 'long-poll');
      return writeSnapshot(response, current);
    }
    await new Promise<void>((resolve) => {
      let detach = () => {};
      const finish = (snapshot?: GatewaySnapshot, revoked = false) => {
        clearTimeout(timer);
        detach();
        response.off('close', onClose);
        if (response.writableEnded || response.destroyed) return resolve();
        if (snapshot) writeSnapshot(response, snapshot);
        else if (revoked) response.status(401).json(failureStatus(401, 'Unauthorized', `Unauthorized: the credential of node ${id} was revoked: register again with the bootstrap token`));
        else response.status(304).end();
        resolve();
      };
      const onClose = () => finish();
      const timer = setTimeout(() => finish(), waitMs);
      detach = this.distribution.attach(
        id,
        {
          transport: 'long-poll',
          deliver: (snapshot) => (isNew(snapshot) ? finish(snapshot) : undefined),
          close: (cause) => finish(undefined, cause === 'credential-revoked'),
        },
        false,
      );
      response.on('close', onClose);
    });
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
