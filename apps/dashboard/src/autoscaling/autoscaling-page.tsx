/**
 * /autoscaling: every AutoscalePolicy with its target, metric and target value, the last
 * reading, current and desired gateways within the bounds, the HPA-style conditions, the
 * target's metric over time against the target (traffic points, policy-metric.ts) with the
 * decisions marked, and the decisions themselves (`GET /v1/events` and the live feed).
 *
 * The autoscaler writes the status at every evaluation without notifying watches
 * (docs/autoscaling.md, "Status"); the list is refetched when an autoscaler event arrives.
 */
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useMemo, useRef } from 'react';
import type { AutoscalePolicy, MeshEvent } from '@portolan/api';
import { resourcePath } from '../api/api-client';
import { useLive } from '../api/live-context';
import { mergeEvents } from '../api/live-store';
import { queryKeys } from '../api/query-keys';
import { useSession } from '../app/session';
import { ChartCard } from '../charts/chart-card';
import { COLORS } from '../charts/palette';
import { alignSeries, constantColumn, type Columns } from '../charts/series';
import { TimeSeriesChart, type LineSpec } from '../charts/time-series-chart';
import { useNow } from '../components/use-now';
import { useTrafficHistory } from '../charts/use-traffic-history';
import { formatAge, formatClock, formatMs, formatNumber } from '../components/format';
import { Empty, ErrorState, HealthBadge, Loading } from '../components/status-views';
import { healthOfLatency } from '../health/health';
import {
  CONDITION_TYPES,
  conditionHealth,
  decisionFromEvent,
  decisionMarkers,
  eventsAbout,
  formatTarget,
  metricLines,
  policyMetric,
  replicaChange,
  type Decision,
  type PolicyMetric,
} from './policy-metric';

const WINDOW_SECONDS = 3600;
const formatMsValue = (value: number) => formatMs(value);
const formatLoadValue = (value: number) => formatNumber(value, 2);

export function formatReading(value: number | null | undefined, unit: PolicyMetric['unit'] | string | undefined): string {
  if (value === null || value === undefined) return 'missing';
  return unit === 'ms' ? formatMs(value) : `${formatNumber(value, 2)} ${unit ?? ''}`.trim();
}

export function AutoscalingPage() {
  const { api } = useSession();
  const client = useQueryClient();
  useTrafficHistory();
  const policies = useQuery({
    queryKey: queryKeys.list('AutoscalePolicy'),
    queryFn: ({ signal }) => api.get<{ items: AutoscalePolicy[] }>(resourcePath('AutoscalePolicy'), signal),
  });

  // Status is not pushed: an autoscaler event means a new evaluation changed something.
  const newestDecision = useLive((state) => state.events.find((event) => event.source === 'autoscaler' && event.regarding.kind === 'AutoscalePolicy')?.id);
  const seen = useRef(newestDecision);
  useEffect(() => {
    if (newestDecision === seen.current) return;
    seen.current = newestDecision;
    void client.invalidateQueries({ queryKey: queryKeys.list('AutoscalePolicy') });
  }, [newestDecision, client]);

  const items = useMemo(
    () => [...(policies.data?.items ?? [])].sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`)),
    [policies.data],
  );

  return (
    <div className="autoscaling-page">
      <h1>Autoscaling</h1>
      {policies.isPending ? (
        <Loading what="autoscale policies" />
      ) : policies.isError ? (
        <ErrorState error={policies.error} what="autoscale policies" />
      ) : items.length === 0 ? (
        <Empty>
          No AutoscalePolicy yet. One scales a gateway pool on latency or load, the way a Kubernetes HPA scales a Deployment: for example{' '}
          <code>kubectl apply -f examples/autoscale-policy.yaml</code> (docs/autoscaling.md).
        </Empty>
      ) : (
        items.map((policy) => <PolicyCard key={`${policy.metadata.namespace}/${policy.metadata.name}`} policy={policy} />)
      )}
    </div>
  );
}

function PolicyCard({ policy }: { policy: AutoscalePolicy }) {
  const { api } = useSession();
  const nowMs = useNow(5_000);
  const namespace = policy.metadata.namespace ?? 'default';
  const name = policy.metadata.name;
  const metric = policyMetric(policy.spec);
  const status = policy.status;
  const reading = status?.metric;
  const headingId = `asp-${namespace}-${name}`;

  const filter = new URLSearchParams({ kind: 'AutoscalePolicy', namespace, name, limit: '50' }).toString();
  const events = useQuery({
    queryKey: queryKeys.events(filter),
    queryFn: ({ signal }) => api.get<{ items: MeshEvent[] }>(`/v1/events?${filter}`, signal),
  });
  const liveEvents = useLive((state) => state.events);
  const decisions: Decision[] = useMemo(() => {
    if (events.isError) {
      // The summary the status keeps: the newest five.
      return (status?.recentEvents ?? []).map((event) => ({ ...event, type: 'Normal' as const }));
    }
    return eventsAbout(mergeEvents(events.data?.items ?? [], eventsAbout(liveEvents, policy)), policy).map(decisionFromEvent);
  }, [events.data, events.isError, liveEvents, policy, status?.recentEvents]);

  const current = status?.currentReplicas;
  const desired = status?.desiredReplicas;
  const min = policy.spec.minReplicas ?? 1;
  const max = policy.spec.maxReplicas;

  return (
    <section className="panel policy-card" aria-labelledby={headingId} data-testid="autoscale-policy">
      <div className="policy-header">
        <h2 id={headingId}>
          {namespace}/{name}
        </h2>
        <span className="badge">target: {formatTarget(policy.spec.target)}</span>
        <span className="badge">scaler: {policy.spec.scaler.type}</span>
        {status?.lastEvaluationTime ? <span className="muted">evaluated {formatAge(status.lastEvaluationTime, nowMs)}</span> : <span className="muted">not evaluated yet</span>}
      </div>
      <dl className="stats policy-stats">
        <div className="stat">
          <dt className="label">Metric and target</dt>
          <dd className="value">
            {metric ? (
              <>
                {metric.name} <span className="muted">≤</span> {metric.unit === 'ms' ? formatMs(metric.target) : formatNumber(metric.target, 3)}
              </>
            ) : (
              'unknown'
            )}
          </dd>
          {metric ? (
            <dd className="sub muted">
              over {metric.window}, from {metric.source}, tolerance {policy.spec.behavior?.tolerancePercent ?? 10}%
            </dd>
          ) : null}
        </div>
        <div className="stat">
          <dt className="label">Current reading</dt>
          <dd className="value">
            {reading ? (
              <>
                {formatReading(reading.value, reading.unit)} <HealthBadge health={healthOfLatency(reading.value, reading.target)} label={reading.value === null ? 'missing' : reading.value > reading.target ? 'above target' : 'within target'} />
              </>
            ) : (
              <span className="muted">none yet</span>
            )}
          </dd>
          {reading ? (
            <dd className="sub muted">
              {formatAge(reading.at, nowMs)}
              {reading.detail ? `: ${reading.detail}` : ''}
            </dd>
          ) : null}
        </div>
        <div className="stat">
          <dt className="label">Gateways (current → desired)</dt>
          <dd className="value" data-testid="replicas">
            {current ?? '—'} → {desired ?? '—'}
          </dd>
          <dd className="sub">
            <ReplicaScale min={min} max={max} current={current} desired={desired} />
          </dd>
        </div>
        <div className="stat">
          <dt className="label">Bounds</dt>
          <dd className="value">
            {min} to {max}
          </dd>
          <dd className="sub muted">
            {policy.spec.fallback ? `fallback ${policy.spec.fallback.replicas} after ${policy.spec.fallback.failureThreshold ?? 3} evaluations without the metric` : 'no fallback: the count holds while the metric is missing'}
            {status?.lastScaleTime ? `; last scaled ${formatAge(status.lastScaleTime, nowMs)}` : ''}
          </dd>
        </div>
      </dl>
      <div className="policy-body">
        {metric ? <MetricChart policy={policy} metric={metric} decisions={decisions} nowMs={nowMs} /> : <p className="muted">The policy has no metric this page knows.</p>}
        <Conditions policy={policy} nowMs={nowMs} />
      </div>
      <Decisions decisions={decisions} loading={events.isPending} failed={events.isError} nowMs={nowMs} />
    </section>
  );
}

/** Min to max as a track, with the current and desired counts marked. */
function ReplicaScale({ min, max, current, desired }: { min: number; max: number; current?: number; desired?: number }) {
  const position = (count: number) => (max === min ? 100 : Math.max(0, Math.min(100, ((count - min) / (max - min)) * 100)));
  return (
    <span className="replica-scale" aria-hidden="true">
      <span className="replica-track" />
      {desired !== undefined ? <span className="replica-mark desired" style={{ left: `${position(desired)}%` }} title={`desired ${desired}`} /> : null}
      {current !== undefined ? <span className="replica-mark current" style={{ left: `${position(current)}%` }} title={`current ${current}`} /> : null}
    </span>
  );
}

function MetricChart({ policy, metric, decisions, nowMs }: { policy: AutoscalePolicy; metric: PolicyMetric; decisions: Decision[]; nowMs: number }) {
  const traffic = useLive((state) => state.traffic);
  const slotMs = useLive((state) => state.slotMs);
  const { lines, note } = useMemo(() => metricLines(metric, policy.spec.target, traffic), [metric, policy.spec.target, traffic]);
  const to = Math.floor(nowMs / 1000);
  const from = to - WINDOW_SECONDS;
  const { specs, columns } = useMemo(() => {
    const aligned = alignSeries(
      lines.map((metricLine) => metricLine.values),
      { from, to, slotSeconds: slotMs / 1000 },
    );
    const withTarget: Columns = [...aligned, constantColumn(aligned[0], metric.target)];
    const lineSpecs: LineSpec[] = [
      ...lines.map(({ label, color }) => ({ label, color, width: 2 })),
      { label: `target ${formatReading(metric.target, metric.unit)}`, color: COLORS.target, dash: [6, 4], width: 1 },
    ];
    return { specs: lineSpecs, columns: withTarget };
  }, [lines, metric, from, to, slotMs]);
  const markers = useMemo(() => decisionMarkers(decisions).filter((marker) => marker.time >= from), [decisions, from]);
  const hasData = lines.some((metricLine) => metricLine.values.some((value) => value.value !== null));

  return (
    <ChartCard
      title={`${metric.name} of ${formatTarget(policy.spec.target)}, last hour`}
      note={
        <>
          {hasData ? note : `No traffic point from pool ${policy.spec.target.pool}${policy.spec.target.zone ? ` in ${policy.spec.target.zone}` : ''} in the last hour.`}
          {markers.length > 0 ? ' Vertical lines: the autoscaler\'s decisions (green up, blue down, amber warnings).' : ''}
        </>
      }
    >
      <TimeSeriesChart
        label={`${metric.name} of ${formatTarget(policy.spec.target)} against its target of ${formatReading(metric.target, metric.unit)}`}
        lines={specs}
        columns={columns}
        format={metric.unit === 'ms' ? formatMsValue : formatLoadValue}
        markers={markers}
        height={220}
      />
    </ChartCard>
  );
}

function Conditions({ policy, nowMs }: { policy: AutoscalePolicy; nowMs: number }) {
  const conditions = policy.status?.conditions ?? [];
  const ordered = [
    ...CONDITION_TYPES.map((type) => conditions.find((condition) => condition.type === type) ?? { type, status: undefined }),
    ...conditions.filter((condition) => !(CONDITION_TYPES as readonly string[]).includes(condition.type)),
  ];
  return (
    <div className="conditions">
      <h3>Conditions</h3>
      <table className="data conditions-table" aria-label="Conditions">
        <thead>
          <tr>
            <th scope="col">Type</th>
            <th scope="col">Status</th>
            <th scope="col">Reason and message</th>
          </tr>
        </thead>
        <tbody>
          {ordered.map((condition) => (
            <tr key={condition.type}>
              <th scope="row">{condition.type}</th>
              <td>
                {'reason' in condition ? <HealthBadge health={conditionHealth(condition)} label={condition.status} /> : <HealthBadge health="NoData" label="not reported" />}
              </td>
              <td className="wrap">
                {'reason' in condition ? (
                  <>
                    <strong>{condition.reason}</strong> {condition.message}
                    <span className="muted"> · since {formatAge(condition.lastTransitionTime, nowMs)}</span>
                  </>
                ) : (
                  <span className="muted">no evaluation yet</span>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Decisions({ decisions, loading, failed, nowMs }: { decisions: Decision[]; loading: boolean; failed: boolean; nowMs: number }) {
  return (
    <div className="decisions-list">
      <h3>Decisions</h3>
      {failed ? <p className="muted">The events could not be loaded: the newest decisions the status keeps are shown.</p> : null}
      {loading ? (
        <Loading what="decisions" />
      ) : decisions.length === 0 ? (
        <Empty>No decision yet: the autoscaler records one when it changes the count or the metric goes missing.</Empty>
      ) : (
        <div className="table-scroll decisions-scroll">
          <table className="data decisions-table" aria-label="Decisions, newest first">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Reason</th>
                <th scope="col" className="num">
                  Gateways
                </th>
                <th scope="col" className="num">
                  Metric / target
                </th>
                <th scope="col">Decision</th>
                <th scope="col">Message</th>
              </tr>
            </thead>
            <tbody>
              {decisions.map((decision, index) => (
                <tr key={decision.id ?? `${decision.time}-${index}`} data-testid="autoscale-decision">
                  <td title={decision.time}>
                    {formatClock(decision.time)} <span className="muted">({formatAge(decision.time, nowMs)})</span>
                  </td>
                  <td>
                    <span className={`badge${decision.type === 'Warning' ? ' health-Degraded' : ''}`}>{decision.reason}</span>
                  </td>
                  <td className="num">{replicaChange(decision) ?? '—'}</td>
                  <td className="num">
                    {decision.metricTarget !== undefined ? `${formatReading(decision.metricValue, decision.unit)} / ${formatReading(decision.metricTarget, decision.unit)}` : '—'}
                  </td>
                  <td>{decision.decision ?? '—'}</td>
                  <td className="wrap message">{decision.message}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
