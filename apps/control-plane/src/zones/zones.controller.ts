/**
 * The zones API:
 *   GET    /v1/zones                      (viewer)  every zone, drained or not, gateways, endpoints, failover state
 *   POST   /v1/zones/{zone}/drain         (editor)  drain a zone mesh-wide; answers once gateways run it (10 s at most)
 *   DELETE /v1/zones/{zone}/drain         (editor)  undrain it, the same way
 *   POST   /v1/zones/{zone}/drills        (editor)  start a failover drill: 202 at once, the drill runs in the background
 *   GET    /v1/zones/drills/{id}          (viewer)  a drill's report
 *   GET    /v1/resolve/{service}          (viewer)  a service's endpoints by locality, for DNS/GSLB-style clients
 */
import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Req } from '@nestjs/common';
import type { AuthenticatedRequest } from '../auth/auth.guard';
import { Access } from '../auth/roles';
import type { DrillReport } from './drill-report';
import type { ResolveAnswer } from './endpoint-locality';
import { FailoverDrillsService, type DrillStarted } from './failover-drills.service';
import type { ZoneListing } from './zone-listing';
import { checkZoneName, parseDrainBody, parseDrillBody, parseResolveRequest, type RawQuery } from './zone-requests';
import { ZonesService, type DrainAnswer } from './zones.service';

function actorOf(request: AuthenticatedRequest): string {
  return request.principal?.name ?? 'anonymous';
}

@Controller('v1')
export class ZonesController {
  constructor(
    private readonly zones: ZonesService,
    private readonly drills: FailoverDrillsService,
  ) {}

  @Get('zones')
  @Access('viewer')
  list(): Promise<ZoneListing> {
    return this.zones.list();
  }

  @Post('zones/:zone/drain')
  @Access('editor')
  @HttpCode(200)
  async drain(@Param('zone') zone: string, @Body() body: unknown, @Req() request: AuthenticatedRequest): Promise<DrainAnswer> {
    const name = checkZoneName(zone);
    const actor = actorOf(request);
    const { reason } = parseDrainBody(body, actor);
    return (await this.zones.drain(name, reason, { actor, source: `operator:${actor}` })).answer;
  }

  @Delete('zones/:zone/drain')
  @Access('editor')
  @HttpCode(200)
  async undrain(@Param('zone') zone: string, @Req() request: AuthenticatedRequest): Promise<DrainAnswer> {
    const actor = actorOf(request);
    return (await this.zones.undrain(checkZoneName(zone), { actor, source: `operator:${actor}` })).answer;
  }

  @Post('zones/:zone/drills')
  @Access('editor')
  @HttpCode(202)
  startDrill(@Param('zone') zone: string, @Body() body: unknown, @Req() request: AuthenticatedRequest): Promise<DrillStarted> {
    const name = checkZoneName(zone);
    const { durationMs, duration } = parseDrillBody(body);
    return this.drills.start(name, durationMs, duration, actorOf(request));
  }

  @Get('zones/drills/:id')
  @Access('viewer')
  drill(@Param('id') id: string): Promise<DrillReport> {
    return this.drills.report(id);
  }

  @Get('resolve/:service')
  @Access('viewer')
  resolve(@Param('service') service: string, @Query() query: RawQuery): Promise<ResolveAnswer> {
    return this.zones.resolve(parseResolveRequest(service, query));
  }
}
