/**
 * `GET /v1/traffic?since=<RFC 3339>` (viewer): the traffic points per pool and zone (`items`) and
 * per service and zone (`services`) of every slot that ended since then, oldest first: the history
 * the dashboard's charts start from before the live feed's `traffic` messages extend them. This replica keeps the last hour, which is also the
 * default; an earlier `since` gets that hour.
 */
import { Controller, Get, Query } from '@nestjs/common';
import type { ServiceTrafficPoint, TrafficPoint } from '@portolan/api';
import { Access } from '../auth/roles';
import { MAX_WINDOW_MS, PoolTrafficWindow } from '../autoscaling/pool-traffic-window';
import { ApiError } from '../errors/api-error';

const PARAMETERS = ['since'];
/** Date.parse alone would take "2026-03-01" or "March 1": the parameter promises RFC 3339. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/i;

function invalid(parameter: string, message: string): ApiError {
  return ApiError.of(400, 'BadRequest', `query parameter ${parameter}: ${message}`, { causes: [{ field: parameter, message, reason: 'FieldValueInvalid' }] });
}

/** The `since` of the query in milliseconds, or undefined; a 400 Status naming the parameter when it is not one. */
export function parseSince(query: Record<string, unknown>): number | undefined {
  const unknown = Object.keys(query).find((name) => !PARAMETERS.includes(name));
  if (unknown !== undefined) throw invalid(unknown, `unknown; the only parameter is since`);
  const since = query.since;
  if (since === undefined || since === '') return undefined;
  if (typeof since !== 'string') throw invalid('since', 'give it once');
  const time = Date.parse(since.toUpperCase());
  if (!RFC3339.test(since) || Number.isNaN(time)) throw invalid('since', `"${since}" is not an RFC 3339 time: use e.g. 2026-05-01T12:00:00Z`);
  return time;
}

@Controller('v1')
export class TrafficController {
  constructor(private readonly traffic: PoolTrafficWindow) {}

  @Get('traffic')
  @Access('viewer')
  list(@Query() query: Record<string, unknown>): { items: TrafficPoint[]; services: ServiceTrafficPoint[] } {
    const now = Date.now();
    const oldest = now - MAX_WINDOW_MS;
    const from = Math.max(parseSince(query) ?? oldest, oldest);
    return { items: this.traffic.points(from, now), services: this.traffic.servicePoints(from, now) };
  }
}
