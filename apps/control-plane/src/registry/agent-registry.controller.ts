/**
 * The registry half of the agent protocol (docs/agent-protocol.md): register, heartbeat, drain,
 * deregister. Config delivery is in distribution/agent-config.controller.ts.
 */
import { Body, Controller, Delete, HttpCode, Inject, Param, Post, Query, Req } from '@nestjs/common';
import { isJsonObject, parseDuration } from '@portolan/api';
import { AGENT_API_PREFIX, PATHS, type HeartbeatRequest, type HeartbeatResponse, type RegisterRequest, type RegisterResponse } from '@portolan/agent-client';
import type { AuthenticatedRequest } from '../auth/auth.guard';
import { PoolTrafficWindow } from '../autoscaling/pool-traffic-window';
import { Access } from '../auth/roles';
import { DistributionService, type Propagation } from '../distribution/distribution.service';
import { ApiError } from '../errors/api-error';
import { TapService } from '../tap/tap.service';
import { InvalidHeartbeatError, readHeartbeatRequest } from './heartbeat-request';
import { InvalidRegistrationError, NODE_REGISTRY, NodeNotFoundError, type NodeRegistry } from './node-registry';

/** Nest route pattern of one node's endpoints (PATHS.node builds concrete URLs). */
const NODE_ROUTE = `${AGENT_API_PREFIX}/nodes/:id`;

/** How long drain waits, by default, for the other gateways to ACK the node's removal. */
const DEFAULT_DRAIN_WAIT_MS = 10_000;
const MAX_DRAIN_WAIT_MS = 60_000;

function fromRegistryError(error: unknown): unknown {
  if (error instanceof NodeNotFoundError) return ApiError.of(404, 'NotFound', error.message);
  if (error instanceof InvalidRegistrationError) {
    return ApiError.invalid(error.kind, error.objectName, error.causes.map((cause) => ({ ...cause, reason: 'FieldValueInvalid' as const })));
  }
  return error;
}

@Controller()
export class AgentRegistryController {
  constructor(
    @Inject(NODE_REGISTRY) private readonly registry: NodeRegistry,
    private readonly distribution: DistributionService,
    private readonly traffic: PoolTrafficWindow,
    private readonly taps: TapService,
  ) {}

  @Post(PATHS.register)
  @Access('bootstrap')
  async register(@Body() body: unknown): Promise<RegisterResponse> {
    if (!isJsonObject(body)) throw ApiError.badRequest('the registration must be a JSON object: see docs/agent-protocol.md');
    try {
      const { node, credential } = await this.registry.register(body as unknown as RegisterRequest);
      const { heartbeatIntervalMs, ttlMs } = this.registry.settings;
      return { id: node.id, name: node.name, credential, heartbeatIntervalMs, ttlMs };
    } catch (error) {
      throw fromRegistryError(error);
    }
  }

  @Post(`${NODE_ROUTE}/heartbeat`)
  @Access('node')
  @HttpCode(200)
  async heartbeat(@Param('id') id: string, @Body() body: unknown): Promise<HeartbeatResponse> {
    let request: HeartbeatRequest;
    try {
      request = readHeartbeatRequest(body);
    } catch (error) {
      if (error instanceof InvalidHeartbeatError) throw ApiError.of(400, 'BadRequest', error.message, { causes: error.causes });
      throw error;
    }
    try {
      const node = await this.registry.heartbeat(id, request);
      // The autoscaler's heartbeat metric source (the pool's traffic over its window), and the tries per endpoint zone the failover controller judges zones by.
      if (node.role === 'gateway' && isJsonObject(request.stats)) this.traffic.add({ name: node.name, pool: node.spec.pool, zone: node.spec.zone }, request.stats, Date.now());
      const { heartbeatIntervalMs, ttlMs } = this.registry.settings;
      const tap = node.role === 'gateway' ? this.taps.wanted(id) : undefined;
      return { lifecycle: node.lifecycle.phase, heartbeatIntervalMs, ttlMs, ...(tap ? { tap } : {}) };
    } catch (error) {
      throw fromRegistryError(error);
    }
  }

  /**
   * Marks the node Draining (no longer routed to), then waits until every other connected gateway
   * has ACKed a snapshot without it, or `wait` passes. Only then should the node stop accepting.
   */
  @Post(`${NODE_ROUTE}/drain`)
  @Access('node')
  @HttpCode(200)
  async drain(@Param('id') id: string, @Query('wait') wait: string | undefined): Promise<Propagation & { lifecycle: string }> {
    let waitMs = DEFAULT_DRAIN_WAIT_MS;
    if (wait !== undefined) {
      try {
        waitMs = Math.min(parseDuration(wait), MAX_DRAIN_WAIT_MS);
      } catch {
        throw ApiError.badRequest(`wait must be a duration such as 10s, not ${JSON.stringify(wait)}`);
      }
    }
    try {
      const node = await this.registry.drain(id);
      this.distribution.scheduleRebuild();
      const propagation = await this.distribution.waitForPropagation(waitMs, id);
      return { lifecycle: node.lifecycle.phase, ...propagation };
    } catch (error) {
      throw fromRegistryError(error);
    }
  }

  @Delete(NODE_ROUTE)
  @Access('node')
  async deregister(@Param('id') id: string, @Req() request: AuthenticatedRequest): Promise<{ id: string; name: string; removed: true }> {
    try {
      await this.registry.deregister(id);
      return { id, name: request.node!.name, removed: true };
    } catch (error) {
      throw fromRegistryError(error);
    }
  }
}
