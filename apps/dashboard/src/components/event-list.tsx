/** Mesh events (policy changes, NACKs, scaling, failovers, rollbacks) newest first, as the Overview, Failover and Autoscaling pages list them. */
import type { ReactNode } from 'react';
import type { MeshEvent } from '@portolan/api';
import { formatClock } from './format';
import { Empty } from './status-views';

/** `detail` adds what a page knows how to read from an event's details (failover timings, scaling numbers). */
export function EventList({ events, empty = 'No events yet.', detail }: { events: readonly MeshEvent[]; empty?: string; detail?: (event: MeshEvent) => ReactNode }) {
  if (events.length === 0) return <Empty>{empty}</Empty>;
  return (
    <ol className="events" aria-label="Events">
      {events.map((event) => (
        <li key={event.id} className={`event event-${event.type}`} data-testid="event" data-reason={event.reason}>
          <time dateTime={event.time} title={event.time}>
            {formatClock(event.time)}
          </time>
          <span className={`badge ${event.type === 'Warning' ? 'health-Failing' : 'health-Healthy'}`}>{event.reason}</span>
          <span className="muted">
            {event.regarding.kind}/{event.regarding.name}
          </span>
          <span className="message">{event.message}</span>
          {detail ? detail(event) : null}
        </li>
      ))}
    </ol>
  );
}
