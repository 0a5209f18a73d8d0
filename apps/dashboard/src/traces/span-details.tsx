/**
 * One span in full: timing, status, its attributes, events and resource. The gateway's policy
 * decisions (retries, breaker, rate limit, attempts, ejections) are listed first and highlighted
 * wherever they appear (span-decisions.ts).
 */
import { Fragment } from 'react';
import type { Attributes } from '@portolan/api';
import { attributeText, formatMicros, formatStart, isDecisionEvent, isDecisionKey } from './span-decisions';
import type { WaterfallRow } from './waterfall-layout';

export function SpanDetails({ row, parentInTrace, traceStartMicros }: { row: WaterfallRow | undefined; parentInTrace: boolean; traceStartMicros: number }) {
  if (!row) {
    return (
      <aside className="panel span-details" aria-label="Span details">
        <p className="muted">Select a span (click it, or focus the list and use the arrow keys) to see its attributes, events and resource.</p>
      </aside>
    );
  }
  const { span } = row;
  const decisions = Object.entries(span.attributes).filter(([key]) => isDecisionKey(key));
  return (
    <aside className="panel span-details" aria-label="Span details" data-testid="span-details">
      <h2>
        <span className="service-name">{span.service}</span> {span.name}
      </h2>
      <dl className="facts">
        <dt>Status</dt>
        <dd>
          {span.status.code === 'error' ? <span className="badge health-Failing">error</span> : <span className="badge">{span.status.code}</span>}
          {span.status.message ? <span> {span.status.message}</span> : null}
        </dd>
        <dt>Kind</dt>
        <dd>{span.kind}</dd>
        <dt>Start</dt>
        <dd>
          +{formatMicros(span.startTimeUnixMicros - traceStartMicros)} <span className="muted">({formatStart(span.startTime)})</span>
        </dd>
        <dt>Duration</dt>
        <dd>
          {formatMicros(span.durationMicros)} <span className="muted">(self {formatMicros(row.selfMicros)})</span>
        </dd>
        <dt>Critical path</dt>
        <dd>{row.critical ? 'yes: the trace waited on this span' : 'no'}</dd>
        <dt>Span id</dt>
        <dd className="mono">{span.spanId}</dd>
        <dt>Parent</dt>
        <dd className="mono">
          {span.parentSpanId === undefined ? <span className="muted">none (root)</span> : span.parentSpanId}
          {span.parentSpanId !== undefined && !parentInTrace ? <span className="muted"> (not in this trace)</span> : null}
        </dd>
      </dl>

      {decisions.length > 0 ? (
        <section aria-label="Policy decisions" className="decisions">
          <h3>Policy decisions</h3>
          <AttributeTable attributes={Object.fromEntries(decisions)} caption="Policy decisions" />
        </section>
      ) : null}

      <h3>Attributes</h3>
      <AttributeTable attributes={span.attributes} caption="Span attributes" />

      <h3>Events</h3>
      {span.events.length === 0 ? (
        <p className="muted">None.</p>
      ) : (
        <ol className="span-events">
          {span.events.map((event, index) => (
            <li key={index} className={isDecisionEvent(event) ? 'highlight' : undefined}>
              <div>
                <span className="mono muted">+{formatMicros(event.timeUnixMicros - span.startTimeUnixMicros)}</span> <strong>{event.name}</strong>
                {isDecisionEvent(event) ? <span className="badge decision-badge">decision</span> : null}
              </div>
              {Object.keys(event.attributes).length > 0 ? <AttributeTable attributes={event.attributes} caption={`Attributes of event ${event.name}`} /> : null}
            </li>
          ))}
        </ol>
      )}

      <h3>Resource</h3>
      <AttributeTable attributes={span.resource} caption="Resource attributes" />
    </aside>
  );
}

/** A dotted key that wraps after its dots rather than inside a word. */
function breakAtDots(key: string) {
  const parts = key.split('.');
  return parts.map((part, index) => (
    <Fragment key={index}>
      {part}
      {index < parts.length - 1 ? (
        <>
          .<wbr />
        </>
      ) : null}
    </Fragment>
  ));
}

export function AttributeTable({ attributes, caption }: { attributes: Attributes; caption: string }) {
  const entries = Object.entries(attributes).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return <p className="muted">None.</p>;
  return (
    <table className="data attributes">
      <caption className="visually-hidden">{caption}</caption>
      <tbody>
        {entries.map(([key, value]) => {
          const decision = isDecisionKey(key);
          return (
            <tr key={key} className={decision ? 'highlight' : undefined} data-decision={decision || undefined}>
              <th scope="row" className="mono">
                {breakAtDots(key)}
              </th>
              <td className="mono">{attributeText(value)}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
