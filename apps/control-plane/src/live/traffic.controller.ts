/**
 * `GET /v1/traffic?since=<RFC 3339>` (viewer): the traffic points per pool and zone (`items`) and
 * per service and zone (`services`) of every slot that ended since then, oldest first: the history
 * the dashboard's charts start from before the live feed's `traffic` messages extend them. This replica keeps the last hour, which is also the
 * default; an earlier `since` gets that hour.
 */
import { Controller, Get, Query } from '@nestjs/common';
import type { TrafficList } from '@portolan/api';
import { Access } from '../auth/roles';
import { MAX_WINDOW_MS, PoolTrafficWindow } from '../autoscaling/pool-traffic-window';
import { refuseUnknownParameters, singleParameter, timeParameter, type RawQuery } from '../errors/query-parameters';

/** The `since` of the query in milliseconds, or undefined; a 400 Status naming the parameter when it is not one. */
export function parseSince(query: RawQuery): number | undefined {
  refuseUnknownParameters(query, ['since']);
  const since = singleParameter(query, 'since');
  return since === undefined ? undefined : timeParameter('since', since).ms;
}

@Controller('v1')
export class TrafficController {
  constructor(private readonly traffic: PoolTrafficWindow) {}

  @Get('traffic')
  @Access('viewer')
  list(@Query() query: RawQuery): TrafficList {
    const now = Date.now();
    const oldest = now - MAX_WINDOW_MS;
    const from = Math.max(parseSince(query) ?? oldest, oldest);
    return { items: this.traffic.points(from, now), services: this.traffic.servicePoints(from, now) };
  }
}
