/** Overview: one card per zone, the mesh revision and how many gateways run it, recent events. */
import { Link } from 'react-router';
import { useLive } from '../api/live-context';
import { useEvents, useZones } from '../api/use-mesh-queries';
import { EventList } from '../components/event-list';
import { formatAge, formatClock, formatMs, formatNumber, formatPercent } from '../components/format';
import { SelfCheckWarnings } from '../components/self-check-warnings';
import { ErrorState, HealthBadge, Loading } from '../components/status-views';
import { healthOfErrorRate } from '../health/health';
import { useNow } from '../components/use-now';
import { zoneCards, type ZoneCard } from './zone-cards';

/** The newest finished slot starts up to two slots ago; older than three, the zone stopped reporting. */
const STALE_AFTER_SLOTS = 3;

function ZoneCardView({ card, nowMs }: { card: ZoneCard; nowMs: number }) {
  const { gateways } = card;
  return (
    <section className="panel zone-card" aria-labelledby={`zone-${card.zone}`} data-testid="zone-card" data-zone={card.zone}>
      <header className="card-header">
        <h2 id={`zone-${card.zone}`}>{card.zone}</h2>
        <HealthBadge health={card.health} />
      </header>
      {card.drained ? <p className="notice">Drained{card.drainReason ? `: ${card.drainReason}` : ''}</p> : null}
      {card.failedOverBy.map((entry) => (
        <p key={entry.policy} className="error-box">
          Failed over by {entry.policy} since {formatClock(entry.since)}: {entry.reason}
        </p>
      ))}
      <p>
        <Link to={`/gateways?zone=${encodeURIComponent(card.zone)}`}>
          {gateways.total} gateway{gateways.total === 1 ? '' : 's'}
        </Link>
        : <span className="health-text-Healthy">{gateways.Healthy} healthy</span>
        {gateways.Degraded ? <span className="health-text-Degraded">, {gateways.Degraded} degraded</span> : null}
        {gateways.Draining ? <span className="health-text-Degraded">, {gateways.Draining} draining</span> : null}
        {gateways.Offline ? <span className="health-text-Failing">, {gateways.Offline} offline</span> : null}
        {card.endpoints ? <span className="muted"> · endpoints {card.endpoints.healthy}/{card.endpoints.total} healthy</span> : null}
      </p>
      <div className="stats">
        <div className="stat">
          <div className="value">{formatNumber(card.requestsPerSecond)}</div>
          <div className="label">req/s</div>
        </div>
        <div className="stat">
          <div className="value">
            <HealthBadge health={healthOfErrorRate(card.serverErrorPercent)} label={formatPercent(card.serverErrorPercent)} />
          </div>
          <div className="label">5xx</div>
        </div>
        <div className="stat">
          <div className="value">{formatMs(card.p99Ms)}</div>
          <div className="label">p99 (slowest pool)</div>
        </div>
        <div className="stat">
          <div className="value">{card.trafficAt ? formatAge(card.trafficAt, nowMs) : '—'}</div>
          <div className="label">measured</div>
        </div>
      </div>
    </section>
  );
}

export function OverviewPage() {
  const gateways = useLive((state) => state.gateways);
  const traffic = useLive((state) => state.traffic);
  const revision = useLive((state) => state.revision);
  const slotMs = useLive((state) => state.slotMs);
  const nowMs = useNow(slotMs);
  const zones = useZones();
  const { events, error: eventsError } = useEvents({}, 30);

  const cards = gateways ? zoneCards(gateways, traffic, zones.data?.items ?? [], nowMs - STALE_AFTER_SLOTS * slotMs) : [];
  const synced = gateways?.filter((gateway) => gateway.synced).length ?? 0;
  return (
    <>
      <h1>Overview</h1>
      <p data-testid="mesh-revision">
        Mesh revision <strong>{revision ?? '—'}</strong>
        {gateways ? (
          <>
            {' '}
            · <strong>{synced}/{gateways.length}</strong> gateways run their current configuration
          </>
        ) : null}
      </p>
      <SelfCheckWarnings />
      {zones.error ? <ErrorState error={zones.error} what="zones" /> : null}
      {gateways === null ? <Loading what="gateways" /> : cards.length === 0 ? <p className="empty">No zone yet: no gateway has registered and no zone is configured.</p> : null}
      <div className="cards">
        {cards.map((card) => (
          <ZoneCardView key={card.zone} card={card} nowMs={nowMs} />
        ))}
      </div>
      <h2>Recent events</h2>
      {eventsError ? <ErrorState error={eventsError} what="events" /> : <EventList events={events} />}
    </>
  );
}
