/**
 * Zone health over the last hour: per zone, the 5xx share and the p99 of the requests its
 * gateways answered (pools combined), with the failover, failback and drain events marked where
 * they happened. From the traffic history and the live feed, like the Metrics page.
 */
import { useMemo } from 'react';
import type { MeshEvent } from '@portolan/api';
import { useLive } from '../api/live-context';
import { ChartCard } from '../charts/chart-card';
import type { ChartMarker } from '../charts/markers';
import { categoryColor, COLORS } from '../charts/palette';
import { alignSeries, combineTraffic, groupTraffic, line, toSeconds } from '../charts/series';
import { TimeSeriesChart } from '../charts/time-series-chart';
import { useNow } from '../components/use-now';
import { useTrafficHistory } from '../charts/use-traffic-history';
import { formatMs, formatPercent } from '../components/format';
import { ErrorState } from '../components/status-views';

const WINDOW_SECONDS = 3_600;
const MARKER_COLORS: Record<string, string> = { FailedOver: COLORS.serverErrors, FailedBack: COLORS.perGateway, ZoneDrained: COLORS.warning, ZoneUndrained: COLORS.requests };

export function failoverMarkers(events: readonly MeshEvent[]): ChartMarker[] {
  return events
    .filter((event) => MARKER_COLORS[event.reason] !== undefined)
    .map((event) => ({ time: toSeconds(event.time), color: MARKER_COLORS[event.reason], label: `${event.reason} ${typeof event.details?.zone === 'string' ? event.details.zone : event.regarding.name}` }))
    .filter((marker) => !Number.isNaN(marker.time));
}

export function ZoneHealthCharts({ events }: { events: readonly MeshEvent[] }) {
  const history = useTrafficHistory();
  const traffic = useLive((state) => state.traffic);
  const slotMs = useLive((state) => state.slotMs);
  const nowMs = useNow(slotMs);
  const to = Math.floor(nowMs / 1000);
  const from = to - WINDOW_SECONDS;
  const slotSeconds = slotMs / 1000;

  const charts = useMemo(() => {
    const zones = [...groupTraffic(traffic, 'zone')].map(([zone, series]) => ({ zone, rows: combineTraffic(series) }));
    const lines = zones.map(({ zone }) => ({ label: zone, color: categoryColor(zone) }));
    return {
      zones: zones.length,
      lines,
      errors: alignSeries(zones.map(({ rows }) => line(rows, (row) => row.serverErrorPercent)), { from, to, slotSeconds }),
      latency: alignSeries(zones.map(({ rows }) => line(rows, (row) => row.p99Ms)), { from, to, slotSeconds }),
    };
  }, [traffic, from, to, slotSeconds]);
  const markers = useMemo(() => failoverMarkers(events), [events]);

  if (charts.zones === 0) {
    return history.error ? <ErrorState error={history.error} what="the traffic history" /> : <p className="empty">No gateway has reported traffic yet.</p>;
  }
  const note = 'Dashed lines: failovers (red), failbacks (green), drains (amber), undrains (blue).';
  return (
    <div className="grid-2">
      <ChartCard title="5xx share per zone" note={note}>
        <TimeSeriesChart label="5xx share per zone over the last hour" lines={charts.lines} columns={charts.errors} format={formatPercent} markers={markers} />
      </ChartCard>
      <ChartCard title="p99 per zone (slowest pool)" note={note}>
        <TimeSeriesChart label="p99 latency per zone over the last hour" lines={charts.lines} columns={charts.latency} format={formatMs} markers={markers} />
      </ChartCard>
    </div>
  );
}
