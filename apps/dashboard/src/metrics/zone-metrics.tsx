/**
 * One zone's traffic over the window: latency percentiles, requests per second, the 5xx share and
 * the gateway's policy actions per slot, its pools combined (series.ts) unless one is chosen.
 * A point clicked opens the traces behind it (metrics-links.ts); the links above each chart do
 * the same for the whole window, for the keyboard.
 */
import { useMemo } from 'react';
import { Link, useNavigate } from 'react-router';
import type { TrafficPoint } from '@portolan/api';
import { ChartCard } from '../charts/chart-card';
import { COLORS } from '../charts/palette';
import { alignSeries, combineTraffic, line, percentileLabel, rowAt, type TrafficAggregate } from '../charts/series';
import { TimeSeriesChart, type LineSpec } from '../charts/time-series-chart';
import { formatAge, formatMs, formatNumber, formatPercent } from '../components/format';
import { HealthBadge } from '../components/status-views';
import { healthOfErrorRate } from '../health/health';
import { ACTION_LABELS, tracesForPoint, tracesForWindow, type MetricsChart } from './metrics-links';

const formatLatency = (value: number) => formatMs(value);
const formatRate = (value: number) => formatNumber(value, 1);
const formatShare = (value: number) => formatPercent(value);
const formatCount = (value: number) => formatNumber(value, 0);

type Field = keyof Pick<TrafficAggregate, 'p50Ms' | 'p95Ms' | 'p99Ms' | 'requestsPerSecond' | 'serverErrorPercent' | 'rateLimited' | 'retries' | 'breakerOpen' | 'timeouts'>;
type FieldLine = LineSpec & { field: Field };

export interface ZoneMetricsProps {
  zone: string;
  /** The zone's series, one per pool. */
  series: ReadonlyArray<readonly TrafficPoint[]>;
  /** The pool filter, if any. */
  pool?: string;
  /** The window, Unix seconds. */
  from: number;
  to: number;
  slotSeconds: number;
  nowMs: number;
}

export function ZoneMetrics({ zone, series, pool, from, to, slotSeconds, nowMs }: ZoneMetricsProps) {
  const navigate = useNavigate();
  const rows = useMemo(() => combineTraffic(series).filter((row) => row.seconds >= from && row.seconds <= to), [series, from, to]);
  const pools = [...new Set(series.map((points) => points[0]?.pool).filter(Boolean))].sort();
  const combined = series.length > 1;
  const latest = rows[rows.length - 1];

  const charts = useMemo(() => {
    const latency: FieldLine[] = [
      { label: percentileLabel('p50', combined), color: COLORS.p50, field: 'p50Ms' },
      { label: percentileLabel('p95', combined), color: COLORS.p95, field: 'p95Ms' },
      { label: percentileLabel('p99', combined), color: COLORS.p99, field: 'p99Ms', width: 2 },
    ];
    const requests: FieldLine[] = [{ label: 'requests/s', color: COLORS.requests, field: 'requestsPerSecond' }];
    const errors: FieldLine[] = [{ label: '5xx %', color: COLORS.serverErrors, field: 'serverErrorPercent' }];
    const actions: FieldLine[] = [
      { label: ACTION_LABELS.rateLimited, color: COLORS.rateLimited, field: 'rateLimited' },
      { label: ACTION_LABELS.retries, color: COLORS.retries, field: 'retries' },
      { label: ACTION_LABELS.breakerOpen, color: COLORS.breakerOpen, field: 'breakerOpen' },
      { label: ACTION_LABELS.timeouts, color: COLORS.timeouts, field: 'timeouts' },
    ];
    const columns = (lines: FieldLine[]) => alignSeries(lines.map((spec) => line(rows, (row) => row[spec.field])), { from, to, slotSeconds });
    return {
      latency: { lines: latency, columns: columns(latency) },
      requests: { lines: requests, columns: columns(requests) },
      errors: { lines: errors, columns: columns(errors) },
      actions: { lines: actions, columns: columns(actions) },
    };
  }, [rows, combined, from, to, slotSeconds]);

  const open = (chart: MetricsChart, lines: FieldLine[]) => (seconds: number, label: string) => {
    const field = lines.find((spec) => spec.label === label)?.field;
    const row = rowAt(rows, seconds);
    void navigate(tracesForPoint({ zone, pool, chart, seconds, slotSeconds, label, value: field && row ? row[field] : undefined }));
  };

  const worstP99 = rows.reduce<number | null>((max, row) => (row.p99Ms !== null && (max === null || row.p99Ms > max) ? row.p99Ms : max), null);
  const scope = pool ? `${zone}, pool ${pool}` : zone;
  const headingId = `zone-${zone}`;

  return (
    <section className="panel zone-metrics" aria-labelledby={headingId} data-testid="zone-metrics">
      <div className="zone-metrics-header">
        <h2 id={headingId}>{zone}</h2>
        <span className="muted">
          {pools.length === 1 ? `pool ${pools[0]}` : `pools ${pools.join(', ')}`}
          {latest ? ` · ${latest.gateways} ${latest.gateways === 1 ? 'gateway' : 'gateways'} reporting · last report ${formatAge(latest.time, nowMs)}` : ' · no report in this window'}
        </span>
      </div>
      <dl className="stats metric-stats">
        <div className="stat">
          <dt className="label">Requests/s</dt>
          <dd className="value">{formatNumber(latest?.requestsPerSecond)}</dd>
        </div>
        <div className="stat">
          <dt className="label">5xx</dt>
          <dd className="value">
            {formatPercent(latest?.serverErrorPercent)} <HealthBadge health={healthOfErrorRate(latest?.serverErrorPercent)} />
          </dd>
        </div>
        <div className="stat">
          <dt className="label">{percentileLabel('p99', combined)}</dt>
          <dd className="value">{formatMs(latest?.p99Ms)}</dd>
        </div>
        <div className="stat">
          <dt className="label">Highest {percentileLabel('p99', combined)} in window</dt>
          <dd className="value">{formatMs(worstP99)}</dd>
        </div>
      </dl>
      <div className="chart-grid">
        <ChartCard
          title="Latency"
          actions={
            <Link to={tracesForWindow({ zone, pool, from, to, minDurationMs: worstP99 })} aria-label={`Slowest traces of ${scope} in this window`}>
              Slowest traces
            </Link>
          }
          note={combined ? 'Pools combined: each line is the highest of the pools\' percentiles (an upper bound; percentiles cannot be averaged). Choose a pool for exact values.' : undefined}
        >
          <TimeSeriesChart
            label={`Latency percentiles of ${scope}, per 5-second slot`}
            lines={charts.latency.lines}
            columns={charts.latency.columns}
            format={formatLatency}
            onPointClick={open('latency', charts.latency.lines)}
          />
        </ChartCard>
        <ChartCard
          title="Requests per second"
          actions={
            <Link to={tracesForWindow({ zone, pool, from, to })} aria-label={`Traces of ${scope} in this window`}>
              Traces
            </Link>
          }
        >
          <TimeSeriesChart
            label={`Requests per second of ${scope}`}
            lines={charts.requests.lines}
            columns={charts.requests.columns}
            format={formatRate}
            onPointClick={open('requests', charts.requests.lines)}
          />
        </ChartCard>
        <ChartCard
          title="Server errors (5xx %)"
          actions={
            <Link to={tracesForWindow({ zone, pool, from, to, status: 'error' })} aria-label={`Error traces of ${scope} in this window`}>
              Error traces
            </Link>
          }
        >
          <TimeSeriesChart
            label={`Share of 5xx answers of ${scope}`}
            lines={charts.errors.lines}
            columns={charts.errors.columns}
            format={formatShare}
            onPointClick={open('errors', charts.errors.lines)}
          />
        </ChartCard>
        <ChartCard title="Policy actions per slot" note="Rate-limited requests, retries, breaker opens and timeouts, counted per 5-second slot.">
          <TimeSeriesChart
            label={`Rate-limited requests, retries, breaker opens and timeouts of ${scope}`}
            lines={charts.actions.lines}
            columns={charts.actions.columns}
            format={formatCount}
            onPointClick={open('actions', charts.actions.lines)}
          />
        </ChartCard>
      </div>
    </section>
  );
}
