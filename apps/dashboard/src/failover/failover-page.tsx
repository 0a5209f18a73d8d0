/**
 * Failover: every zone with what routes there and what each FailoverPolicy decided, drain and
 * undrain (editors), and the failover events with their timings (detection → traffic moved).
 */
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import type { DrainAnswer, MeshEvent, ZoneSummary } from '@portolan/api';
import { ApiStatusError } from '../api/api-client';
import { queryKeys } from '../api/query-keys';
import { useEventsByReason, useZones } from '../api/use-mesh-queries';
import { canWrite, useSession } from '../app/session';
import { EventList } from '../components/event-list';
import { formatClock, formatMs } from '../components/format';
import { SelfCheckWarnings } from '../components/self-check-warnings';
import { Empty, ErrorState, HealthBadge, Loading } from '../components/status-views';
import { FAILOVER_REASONS, failoverTiming } from './failover-timing';
import { ZoneHealthCharts } from './zone-health-chart';

function TimingDetail({ event }: { event: MeshEvent }) {
  const timing = failoverTiming(event);
  if (!timing) return null;
  return (
    <span className="badge" data-testid="failover-timing" title="from detection (or the drain request) to every gateway running the change">
      {timing.toTrafficMovedMs === null ? `not every gateway moved (${timing.pendingGateways.length} pending)` : `traffic moved in ${formatMs(timing.toTrafficMovedMs)}`}
    </span>
  );
}

function DrainControl({ zone, onDone }: { zone: ZoneSummary; onDone: (answer: DrainAnswer) => void }) {
  const { api, user } = useSession();
  const client = useQueryClient();
  const [asking, setAsking] = useState(false);
  const [reason, setReason] = useState('');
  const drain = useMutation({
    mutationFn: () =>
      zone.drained
        ? api.request<DrainAnswer>('DELETE', `/v1/zones/${encodeURIComponent(zone.zone)}/drain`)
        : api.request<DrainAnswer>('POST', `/v1/zones/${encodeURIComponent(zone.zone)}/drain`, reason.trim() ? { reason: reason.trim() } : {}),
    onSuccess: (answer) => {
      setAsking(false);
      setReason('');
      onDone(answer);
      void client.invalidateQueries({ queryKey: queryKeys.zones });
    },
  });
  if (!canWrite(user.role)) return null;
  const failure = drain.error ? <span className="error-box" role="alert">{drain.error instanceof ApiStatusError ? drain.error.status.message : String(drain.error)}</span> : null;
  if (zone.drained) {
    return (
      <span className="inline-form">
        <button type="button" className="secondary" disabled={drain.isPending} onClick={() => drain.mutate()}>
          {drain.isPending ? 'Undraining…' : `Undrain ${zone.zone}`}
        </button>
        {failure}
      </span>
    );
  }
  if (!asking) {
    return (
      <button type="button" className="danger" onClick={() => setAsking(true)}>
        Drain {zone.zone}…
      </button>
    );
  }
  const submit = (event: FormEvent) => {
    event.preventDefault();
    drain.mutate();
  };
  return (
    <form className="inline-form" onSubmit={submit} aria-label={`Drain ${zone.zone}`}>
      <label>
        Reason <input value={reason} onChange={(event) => setReason(event.target.value)} placeholder="e.g. maintenance" maxLength={256} autoFocus />
      </label>
      <button type="submit" className="danger" disabled={drain.isPending}>
        {drain.isPending ? 'Draining…' : `Confirm drain of ${zone.zone}`}
      </button>
      <button type="button" className="secondary" onClick={() => setAsking(false)}>
        Cancel
      </button>
      {failure}
    </form>
  );
}

/** Drained, failed over, or whether its gateways route at all; a zone with no gateway has no state to show. */
function ZoneState({ zone }: { zone: ZoneSummary }) {
  if (zone.drained) return <HealthBadge health="Degraded" label={`Drained${zone.reason ? `: ${zone.reason}` : ''}`} />;
  if (zone.failover.some((entry) => entry.state === 'FailedOver')) return <HealthBadge health="Failing" label="Failed over" />;
  if (zone.gateways.total === 0) return <HealthBadge health="NoData" label="No gateways" />;
  if (zone.gateways.routable === 0) return <HealthBadge health="Failing" label="No gateway routes" />;
  return <HealthBadge health={zone.gateways.routable < zone.gateways.total ? 'Degraded' : 'Healthy'} label="Serving" />;
}

export function FailoverPage() {
  const zones = useZones();
  // By reason on the server: writes, NACKs and scaling are events too and would crowd these out of a plain "newest".
  const { events: failoverEvents, error: eventsError } = useEventsByReason(FAILOVER_REASONS, 50);
  const [lastAnswer, setLastAnswer] = useState<DrainAnswer>();

  return (
    <>
      <h1>Failover</h1>
      <SelfCheckWarnings applies={(finding) => finding.object.kind === 'Zone'} />
      {lastAnswer ? (
        <p className="notice" role="status" data-testid="drain-answer">
          {lastAnswer.zone} {lastAnswer.drained ? 'drained' : 'undrained'} at revision {lastAnswer.revision}:{' '}
          {lastAnswer.trafficMovedAt
            ? `every gateway ran it ${formatMs(Date.parse(lastAnswer.trafficMovedAt) - Date.parse(lastAnswer.requestedAt))} after the request.`
            : `not every gateway ran it within 10 s (pending: ${lastAnswer.pending.join(', ')}).`}
        </p>
      ) : null}
      <h2>Zones</h2>
      {zones.error ? <ErrorState error={zones.error} what="zones" /> : null}
      {!zones.data ? (
        zones.error ? null : <Loading what="zones" />
      ) : zones.data.items.length === 0 ? (
        <Empty>No zone yet.</Empty>
      ) : (
        <table className="data" aria-label="Zones">
          <thead>
            <tr>
              <th>Zone</th>
              <th>State</th>
              <th className="num">Gateways routable</th>
              <th className="num">Endpoints healthy</th>
              <th>Failover decisions</th>
              <th>Actions</th>
            </tr>
          </thead>
          <tbody>
            {zones.data.items.map((zone) => {
              return (
                <tr key={zone.zone} data-testid="zone-row" data-zone={zone.zone}>
                  <td>{zone.zone}</td>
                  <td>
                    <ZoneState zone={zone} />
                  </td>
                  <td className="num">
                    {zone.gateways.routable}/{zone.gateways.total}
                  </td>
                  <td className="num">
                    {zone.endpoints.healthy}/{zone.endpoints.total}
                  </td>
                  <td className="wrap">
                    {zone.failover.length === 0
                      ? <span className="muted">no FailoverPolicy names it</span>
                      : zone.failover.map((entry) => (
                          <div key={entry.policy}>
                            {entry.policy}: <strong>{entry.state}</strong> since {formatClock(entry.since)} <span className="muted">({entry.reason})</span>
                          </div>
                        ))}
                  </td>
                  <td>
                    <DrainControl zone={zone} onDone={setLastAnswer} />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <h2>Zone health over the last hour</h2>
      <ZoneHealthCharts events={failoverEvents} />
      <h2>Failover events</h2>
      {eventsError ? <ErrorState error={eventsError} what="events" /> : <EventList events={failoverEvents} empty="No failover, failback, drain or drill yet." detail={(event) => <TimingDetail event={event} />} />}
    </>
  );
}
