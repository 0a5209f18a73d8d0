/**
 * One panel of the metrics page: a zone's or a service's traffic over the window, latency
 * percentiles, requests per second, the 5xx share and the gateway's policy actions per slot, its
 * series combined (series.ts) when there are several. A point clicked opens the traces behind it
 * (metrics-links.ts); the links above each chart do the same for the whole window, for the
 * keyboard.
 */
import { useMemo } from 'react';
import { Link, useNavigate } from 'react-router';
import { ChartCard } from '../charts/chart-card';
import { COLORS } from '../charts/palette';
import { alignSeries, combineTraffic, line, percentileLabel, rowAt, type TrafficAggregate, type TrafficFigures } from '../charts/series';
import { TimeSeriesChart, type LineSpec } from '../charts/time-series-chart';
import { formatAge, formatMs, formatNumber, formatPercent } from '../components/format';
import { HealthBadge } from '../components/status-views';
import { healthOfErrorRate } from '../health/health';
import { ACTION_LABELS, tracesForPoint, tracesForWindow, type MetricsChart, type Scope } from './metrics-links';

const formatLatency = (value: number) => formatMs(value);
const formatRate = (value: number) => formatNumber(value, 1);
const formatShare = (value: number) => formatPercent(value);
// Counts are scaled to the 5-s slot from the time the heartbeats covered, so not always whole; a small axis needs the decimal too.
const formatCount = (value: number) => formatNumber(value, 1);

type Field = keyof Pick<TrafficAggregate, 'p50Ms' | 'p95Ms' | 'p99Ms' | 'requestsPerSecond' | 'serverErrorPercent' | 'rateLimited' | 'retries' | 'breakerOpen' | 'timeouts'>;
type FieldLine = LineSpec & { field: Field };

export interface TrafficPanelProps {
  /** The zone or service: the heading. */
  title: string;
  /** Unique on the page: the heading's id. */
  id: string;
  testId: string;
  /** What the series are, next to the heading: "pool edge", "zones zone-a, zone-b". */
  parts: string;
  /** What the panel shows, in the charts' and links' labels: "zone-a, pool edge". */
  scopeLabel: string;
  /** Why several series' percentiles are an upper bound, and how to get exact ones. */
  combinedNote: string;
  /** The traces behind the panel's points. */
  scope: Scope;
  series: ReadonlyArray<readonly TrafficFigures[]>;
  /** The window, Unix seconds. */
  from: number;
  to: number;
  slotSeconds: number;
  nowMs: number;
}

export function TrafficPanel({ title, id, testId, parts, scopeLabel, combinedNote, scope, series, from, to, slotSeconds, nowMs }: TrafficPanelProps) {
  const navigate = useNavigate();
  const rows = useMemo(() => combineTraffic(series).filter((row) => row.seconds >= from && row.seconds <= to), [series, from, to]);
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
    void navigate(tracesForPoint({ ...scope, chart, seconds, slotSeconds, label, value: field && row ? row[field] : undefined }));
  };

  const worstP99 = rows.reduce<number | null>((max, row) => (row.p99Ms !== null && (max === null || row.p99Ms > max) ? row.p99Ms : max), null);

  return (
    <section className="panel traffic-panel" aria-labelledby={id} data-testid={testId}>
      <div className="traffic-panel-header">
        <h2 id={id}>{title}</h2>
        <span className="muted">
          {parts}
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
            <Link to={tracesForWindow({ ...scope, from, to, minDurationMs: worstP99 })} aria-label={`Slowest traces of ${scopeLabel} in this window`}>
              Slowest traces
            </Link>
          }
          note={combined ? combinedNote : undefined}
        >
          <TimeSeriesChart
            label={`Latency percentiles of ${scopeLabel}, per 5-second slot`}
            lines={charts.latency.lines}
            columns={charts.latency.columns}
            format={formatLatency}
            onPointClick={open('latency', charts.latency.lines)}
          />
        </ChartCard>
        <ChartCard
          title="Requests per second"
          actions={
            <Link to={tracesForWindow({ ...scope, from, to })} aria-label={`Traces of ${scopeLabel} in this window`}>
              Traces
            </Link>
          }
        >
          <TimeSeriesChart
            label={`Requests per second of ${scopeLabel}`}
            lines={charts.requests.lines}
            columns={charts.requests.columns}
            format={formatRate}
            onPointClick={open('requests', charts.requests.lines)}
          />
        </ChartCard>
        <ChartCard
          title="Server errors (5xx %)"
          actions={
            <Link to={tracesForWindow({ ...scope, from, to, status: 'error' })} aria-label={`Error traces of ${scopeLabel} in this window`}>
              Error traces
            </Link>
          }
        >
          <TimeSeriesChart
            label={`Share of 5xx answers of ${scopeLabel}`}
            lines={charts.errors.lines}
            columns={charts.errors.columns}
            format={formatShare}
            onPointClick={open('errors', charts.errors.lines)}
          />
        </ChartCard>
        <ChartCard title="Policy actions per slot" note="Rate-limited requests, retries, breaker opens and timeouts, counted per 5-second slot.">
          <TimeSeriesChart
            label={`Rate-limited requests, retries, breaker opens and timeouts of ${scopeLabel}`}
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
