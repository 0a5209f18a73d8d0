/**
 * From a point of a traffic chart to the traces behind it. Traffic is per pool and zone, or per
 * service and zone; the gateway's SERVER span of each request carries `portolan.zone`,
 * `portolan.pool` and, when a route matched, `portolan.service`
 * (apps/gateway/src/telemetry/request-spans.ts), so the search is the gateway's spans with those
 * attributes (`attr`, matched as text, all on one span), started within the slot give or take one slot (a point's
 * time is the start of its 5-second slot; requests finishing in it started earlier). Then, per
 * chart: at least the clicked latency (`minDuration`), errors only (`status=error`), or the
 * decision's attribute (rate limited, breaker open).
 */
import type { Attribute, TraceSearch } from '../traces/trace-search';
import { durationParameter, GATEWAY_SERVICE, tracesLink } from '../traces/trace-search';
import { toRfc3339 } from '../charts/series';

export type MetricsChart = 'latency' | 'requests' | 'errors' | 'actions';

/** The labels of the actions chart's lines, as the metrics page draws them. */
export const ACTION_LABELS = { rateLimited: 'rate limited', retries: 'retries', breakerOpen: 'breaker open', timeouts: 'timeouts' } as const;

/** What a chart shows: a zone (every pool, or one), or a service (every zone, or one). */
export type Scope = { zone: string; pool?: string; service?: never } | { service: string; zone?: string; pool?: never };

function scopeAttributes({ zone, pool, service }: Scope): Attribute[] {
  return [
    ...(zone ? [{ key: 'portolan.zone', value: zone }] : []),
    ...(pool ? [{ key: 'portolan.pool', value: pool }] : []),
    ...(service ? [{ key: 'portolan.service', value: service }] : []),
  ];
}

/** What each chart's click narrows the search to, besides the window. */
function narrowing(chart: MetricsChart, label: string, value: number | null | undefined): Partial<TraceSearch> & { extra?: Attribute[] } {
  switch (chart) {
    case 'latency':
      return value === null || value === undefined ? {} : { minDuration: durationParameter(value) };
    case 'errors':
      return { status: 'error' };
    case 'actions':
      if (label === ACTION_LABELS.rateLimited) return { extra: [{ key: 'portolan.rate_limited', value: 'true' }] };
      if (label === ACTION_LABELS.breakerOpen) return { extra: [{ key: 'portolan.breaker.state', value: 'open' }] };
      if (label === ACTION_LABELS.timeouts) return { status: 'error' };
      return {};
    default:
      return {};
  }
}

/** The traces of a clicked point: its slot ± one slot, in its zone (and pool) or of its service (and zone), narrowed per chart. */
export function tracesForPoint(args: Scope & { chart: MetricsChart; seconds: number; slotSeconds: number; label: string; value?: number | null }): string {
  const { extra = [], ...narrow } = narrowing(args.chart, args.label, args.value);
  return tracesLink({
    service: GATEWAY_SERVICE,
    start: toRfc3339(args.seconds - args.slotSeconds),
    end: toRfc3339(args.seconds + 2 * args.slotSeconds),
    attributes: [...scopeAttributes(args), ...extra],
    ...narrow,
  });
}

/** The traces of a whole window of a zone (and pool) or service (and zone): the keyboard's way from a chart to its traces. */
export function tracesForWindow(args: Scope & { from: number; to: number; status?: 'error'; minDurationMs?: number | null }): string {
  return tracesLink({
    service: GATEWAY_SERVICE,
    start: toRfc3339(Math.floor(args.from)),
    end: toRfc3339(Math.ceil(args.to)),
    attributes: scopeAttributes(args),
    ...(args.status ? { status: args.status } : {}),
    ...(args.minDurationMs ? { minDuration: durationParameter(args.minDurationMs) } : {}),
  });
}
