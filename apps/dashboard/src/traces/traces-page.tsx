/**
 * /traces: a search over the control plane's trace query API, its criteria in the URL (so a
 * chart links to the traces of a window: trace-search.ts), and the matching traces newest first
 * with a duration bar relative to the longest. A result opens /traces/:traceId.
 */
import { useQuery } from '@tanstack/react-query';
import { useId, useMemo, useState, type FormEvent } from 'react';
import { Link, useLocation, useNavigate, useSearchParams } from 'react-router';
import type { ServiceOperations, Trace } from '@portolan/api';
import { queryKeys } from '../api/query-keys';
import { toRfc3339 } from '../charts/series';
import { useSession } from '../app/session';
import { Empty, ErrorState, Loading } from '../components/status-views';
import { formatMicros, formatStart } from './span-decisions';
import {
  apiQuery,
  formatAttributeText,
  fromLocalInput,
  LIMITS,
  parseAttributeText,
  searchFromParams,
  searchToParams,
  toLocalInput,
  validateSearch,
  type TraceSearch,
} from './trace-search';

export function TracesPage() {
  const { api } = useSession();
  const [params, setParams] = useSearchParams();
  const search = useMemo(() => searchFromParams(params), [params]);
  const urlKey = searchToParams(search).toString();
  const traces = useQuery({
    queryKey: queryKeys.traces(urlKey),
    queryFn: ({ signal }) => api.get<{ traces: Trace[] }>(`/observability/v1/traces?${apiQuery(search, Date.now())}`, signal),
    // A window ending "now" is searched again when the page is opened again; a fixed one is not.
    staleTime: search.range === 'custom' ? Infinity : 0,
    retry: false,
  });

  const onSearch = (next: TraceSearch) => {
    const nextParams = searchToParams(next);
    if (nextParams.toString() === urlKey) void traces.refetch();
    else setParams(nextParams);
  };

  return (
    <div className="traces-page">
      <h1>Traces</h1>
      <SearchForm key={urlKey} initial={search} onSearch={onSearch} searching={traces.isFetching} />
      <section aria-label="Results">
        {traces.isPending ? (
          <Loading what="traces" />
        ) : traces.isError ? (
          <ErrorState error={traces.error} what="traces" />
        ) : (
          <Results traces={traces.data.traces} limit={search.limit} />
        )}
      </section>
    </div>
  );
}

function SearchForm({ initial, onSearch, searching }: { initial: TraceSearch; onSearch(search: TraceSearch): void; searching: boolean }) {
  const { api } = useSession();
  const id = useId();
  const [draft, setDraft] = useState(initial);
  const [attributeText, setAttributeText] = useState(() => formatAttributeText(initial.attributes));
  const [submitted, setSubmitted] = useState(false);
  const services = useQuery({
    queryKey: queryKeys.traceServices,
    queryFn: ({ signal }) => api.get<{ services: ServiceOperations[] }>('/observability/v1/services', signal),
    staleTime: 30_000,
  });

  const serviceNames = useMemo(() => {
    const names = (services.data?.services ?? []).map((service) => service.name);
    if (draft.service && !names.includes(draft.service)) names.unshift(draft.service);
    return names;
  }, [services.data, draft.service]);
  const operations = useMemo(() => {
    const list = [...(services.data?.services.find((service) => service.name === draft.service)?.operations ?? [])];
    if (draft.operation && !list.includes(draft.operation)) list.unshift(draft.operation);
    return list;
  }, [services.data, draft.service, draft.operation]);

  const parsedAttributes = parseAttributeText(attributeText);
  const errors = { ...validateSearch(draft), ...('error' in parsedAttributes ? { attributes: parsedAttributes.error } : {}) };
  const shown = submitted ? errors : {};
  const update = (change: Partial<TraceSearch>) => setDraft((current) => ({ ...current, ...change }));
  const text = (value: string) => (value.trim() === '' ? undefined : value.trim());

  const submit = (event: FormEvent) => {
    event.preventDefault();
    setSubmitted(true);
    if (Object.keys(errors).length > 0 || 'error' in parsedAttributes) return;
    onSearch({ ...draft, attributes: parsedAttributes.attributes });
  };

  const fieldError = (field: keyof typeof errors) =>
    shown[field] ? (
      <span className="field-error" id={`${id}-${field}-error`}>
        {shown[field]}
      </span>
    ) : null;
  /** An input's link to its error, read out by screen readers. */
  const validation = (field: keyof typeof errors) => ({ 'aria-invalid': shown[field] ? true : undefined, 'aria-describedby': shown[field] ? `${id}-${field}-error` : undefined });

  return (
    <form className="panel trace-search" onSubmit={submit} aria-label="Search traces" noValidate>
      <div className="search-fields">
        <label>
          Service
          <select value={draft.service ?? ''} onChange={(event) => update({ service: text(event.target.value), operation: undefined })}>
            <option value="">Any service</option>
            {serviceNames.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Operation
          <select value={draft.operation ?? ''} onChange={(event) => update({ operation: text(event.target.value) })} disabled={!draft.service}>
            <option value="">{draft.service ? 'Any operation' : 'Choose a service first'}</option>
            {operations.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
        <label>
          Status
          <select value={draft.status ?? ''} onChange={(event) => update({ status: event.target.value === 'ok' || event.target.value === 'error' ? event.target.value : undefined })}>
            <option value="">Any</option>
            <option value="ok">OK</option>
            <option value="error">Error</option>
          </select>
        </label>
        <label>
          Min duration
          <input
            value={draft.minDuration ?? ''}
            onChange={(event) => update({ minDuration: text(event.target.value) })}
            placeholder="e.g. 100ms"
            size={9}
            {...validation('minDuration')}
          />
          {fieldError('minDuration')}
        </label>
        <label>
          Max duration
          <input
            value={draft.maxDuration ?? ''}
            onChange={(event) => update({ maxDuration: text(event.target.value) })}
            placeholder="e.g. 2s"
            size={9}
            {...validation('maxDuration')}
          />
          {fieldError('maxDuration')}
        </label>
        <label>
          Time range
          <select
            value={draft.range}
            onChange={(event) => {
              const range = event.target.value as TraceSearch['range'];
              update(range === 'custom' ? { range, start: draft.start ?? toRfc3339(Math.floor(Date.now() / 1000) - 3600) } : { range, start: undefined, end: undefined });
            }}
          >
            <option value="15m">Last 15 minutes</option>
            <option value="1h">Last hour</option>
            <option value="custom">Custom</option>
          </select>
        </label>
        {draft.range === 'custom' ? (
          <>
            <label>
              From
              <input
                type="datetime-local"
                step={1}
                value={toLocalInput(draft.start)}
                onChange={(event) => update({ start: fromLocalInput(event.target.value) })}
                {...validation('start')}
              />
              {fieldError('start')}
            </label>
            <label>
              To
              <input
                type="datetime-local"
                step={1}
                value={toLocalInput(draft.end)}
                onChange={(event) => update({ end: fromLocalInput(event.target.value) })}
                {...validation('end')}
              />
              {fieldError('end')}
            </label>
          </>
        ) : null}
        <label className="grow">
          Attributes
          <input
            value={attributeText}
            onChange={(event) => setAttributeText(event.target.value)}
            placeholder="portolan.zone=zone-a http.response.status_code=503"
            {...validation('attributes')}
          />
          {fieldError('attributes')}
        </label>
        <label>
          Limit
          <select value={draft.limit} onChange={(event) => update({ limit: Number(event.target.value) })}>
            {[...new Set([...LIMITS, draft.limit])]
              .sort((a, b) => a - b)
              .map((limit) => (
                <option key={limit} value={limit}>
                  {limit}
                </option>
              ))}
          </select>
        </label>
        <button type="submit" disabled={searching}>
          {searching ? 'Searching…' : 'Search'}
        </button>
      </div>
      {services.isError ? (
        <p className="muted field-note" role="status">
          The list of services could not be loaded ({services.error instanceof Error ? services.error.message : 'error'}); searches still work.
        </p>
      ) : null}
      <p className="muted field-note">A trace matches when one of its spans meets every criterion. Start and end times are your local time.</p>
    </form>
  );
}

function Results({ traces, limit }: { traces: Trace[]; limit: number }) {
  const navigate = useNavigate();
  const location = useLocation();
  if (traces.length === 0) {
    return (
      <Empty>
        No traces match. The embedded store keeps traces for an hour, and gateways keep a share of ordinary requests (10% by default) plus every failed or slow one: widen the time range or
        loosen the criteria.
      </Empty>
    );
  }
  const longest = Math.max(...traces.map((trace) => trace.durationMicros), 1);
  const from = `${location.pathname}${location.search}`;
  return (
    <>
      <p className="muted result-count" role="status">
        {traces.length} {traces.length === 1 ? 'trace' : 'traces'}, newest first
        {traces.length >= limit ? ` (the newest ${limit}: raise the limit or narrow the search to see others)` : ''}.
      </p>
      <div className="table-scroll">
        <table className="data trace-results">
          <thead>
            <tr>
              <th scope="col">Trace</th>
              <th scope="col">Started</th>
              <th scope="col" className="duration-col">
                Duration
              </th>
              <th scope="col" className="num">
                Spans
              </th>
              <th scope="col" className="num">
                Errors
              </th>
              <th scope="col">Services</th>
            </tr>
          </thead>
          <tbody>
            {traces.map((trace) => (
              <tr
                key={trace.traceId}
                data-testid="trace-result"
                className={`clickable-row${trace.errorSpanCount > 0 ? ' has-errors' : ''}`}
                onClick={(event) => {
                  if ((event.target as HTMLElement).closest('a')) return;
                  void navigate(`/traces/${trace.traceId}`, { state: { from } });
                }}
              >
                <td className="trace-name">
                  <Link to={`/traces/${trace.traceId}`} state={{ from }}>
                    <span className="service-name">{trace.rootService}</span> {trace.rootName}
                  </Link>
                  <span className="mono muted trace-id">{trace.traceId.slice(0, 8)}</span>
                </td>
                <td>{formatStart(trace.startTime)}</td>
                <td className="duration-col">
                  <div className="duration-cell">
                    <span className="duration-track" aria-hidden="true">
                      <span className={`duration-bar${trace.errorSpanCount > 0 ? ' error' : ''}`} style={{ width: `${Math.max(0.5, (trace.durationMicros / longest) * 100)}%` }} />
                    </span>
                    <span className="duration-text">{formatMicros(trace.durationMicros)}</span>
                  </div>
                </td>
                <td className="num">{trace.spanCount}</td>
                <td className="num">{trace.errorSpanCount > 0 ? <span className="badge health-Failing">{trace.errorSpanCount}</span> : 0}</td>
                <td className="services-cell">{trace.services.join(', ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}
