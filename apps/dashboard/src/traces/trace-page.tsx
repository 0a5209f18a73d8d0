/**
 * /traces/:traceId: one trace as a waterfall, and the selected span (kept in the URL as `?span=`,
 * so a link can point at it) in full beside it. Spans of a trace arrive in batches a few seconds
 * apart, so the page offers a reload.
 */
import { useQuery } from '@tanstack/react-query';
import { useMemo } from 'react';
import { Link, useLocation, useParams, useSearchParams } from 'react-router';
import type { Trace } from '@portolan/api';
import { queryKeys } from '../api/query-keys';
import { useSession } from '../app/session';
import { ErrorState, Loading } from '../components/status-views';
import { SpanDetails } from './span-details';
import { decisionSummary, formatMicros, formatStart } from './span-decisions';
import { Waterfall } from './waterfall';
import { layoutWaterfall } from './waterfall-layout';

export function TracePage() {
  const { api } = useSession();
  const { traceId = '' } = useParams();
  const location = useLocation();
  const [params, setParams] = useSearchParams();
  const trace = useQuery({
    queryKey: queryKeys.trace(traceId),
    queryFn: ({ signal }) => api.get<Trace>(`/observability/v1/traces/${encodeURIComponent(traceId)}`, signal),
    retry: false,
  });
  const from = (location.state as { from?: string } | null)?.from;
  const back = from && from.startsWith('/traces') ? from : '/traces';

  return (
    <div className="trace-page">
      <p className="breadcrumb">
        <Link to={back}>← Traces</Link>
      </p>
      {trace.isPending ? (
        <Loading what="the trace" />
      ) : trace.isError ? (
        <>
          <h1>
            Trace <span className="mono">{traceId}</span>
          </h1>
          <ErrorState error={trace.error} what="the trace" />
        </>
      ) : (
        <TraceView
          trace={trace.data}
          selectedId={params.get('span') ?? undefined}
          onSelect={(spanId) =>
            setParams(
              (current) => {
                const next = new URLSearchParams(current);
                next.set('span', spanId);
                return next;
              },
              { replace: true, state: location.state },
            )
          }
          reloading={trace.isFetching}
          onReload={() => void trace.refetch()}
        />
      )}
    </div>
  );
}

function TraceView({ trace, selectedId, onSelect, reloading, onReload }: { trace: Trace; selectedId?: string; onSelect(spanId: string): void; reloading: boolean; onReload(): void }) {
  const layout = useMemo(() => layoutWaterfall(trace.spans), [trace.spans]);
  const spanIds = useMemo(() => new Set(trace.spans.map((span) => span.spanId)), [trace.spans]);
  const summary = useMemo(() => decisionSummary(trace.spans), [trace.spans]);
  const selected = layout.rows.find((row) => row.span.spanId === selectedId);
  const decisions = [
    summary.retries > 0 ? `${summary.retries} ${summary.retries === 1 ? 'retry' : 'retries'}` : undefined,
    summary.rateLimited > 0 ? `${summary.rateLimited} rate limited` : undefined,
    summary.breakerNotClosed > 0 ? `${summary.breakerNotClosed} met an open or half-open breaker` : undefined,
    summary.ejections > 0 ? `${summary.ejections} endpoint ${summary.ejections === 1 ? 'ejection' : 'ejections'}` : undefined,
  ].filter((text): text is string => text !== undefined);

  return (
    <>
      <div className="trace-header">
        <h1>
          <span className="service-name">{trace.rootService}</span> {trace.rootName}
        </h1>
        <button type="button" className="secondary" onClick={onReload} disabled={reloading}>
          {reloading ? 'Reloading…' : 'Reload'}
        </button>
      </div>
      <dl className="trace-facts">
        <div>
          <dt>Trace id</dt>
          <dd className="mono">{trace.traceId}</dd>
        </div>
        <div>
          <dt>Started</dt>
          <dd>{formatStart(trace.startTime)}</dd>
        </div>
        <div>
          <dt>Duration</dt>
          <dd>{formatMicros(trace.durationMicros)}</dd>
        </div>
        <div>
          <dt>Spans</dt>
          <dd>{trace.spanCount}</dd>
        </div>
        <div>
          <dt>Errors</dt>
          <dd>{trace.errorSpanCount > 0 ? <span className="badge health-Failing">{trace.errorSpanCount}</span> : 0}</dd>
        </div>
        <div>
          <dt>Services</dt>
          <dd>{trace.services.join(', ')}</dd>
        </div>
        <div>
          <dt>Decisions</dt>
          <dd>{decisions.length > 0 ? decisions.join(', ') : <span className="muted">no retries, rate limits or breakers</span>}</dd>
        </div>
      </dl>
      <div className="trace-body">
        <Waterfall layout={layout} selectedId={selectedId} onSelect={onSelect} />
        <SpanDetails row={selected} parentInTrace={selected?.span.parentSpanId !== undefined && spanIds.has(selected.span.parentSpanId)} traceStartMicros={layout.startMicros} />
      </div>
      <p className="muted legend-note">
        Bars: position and length within the trace; red: error spans; outlined: the critical path (what the trace waited on). Highlighted badges: retries, rate limits, breaker states and
        ejections recorded by the gateway.
      </p>
    </>
  );
}
