/**
 * /metrics: traffic per zone, or per service, over the last hour or 15 minutes, from the history
 * (`GET /v1/traffic`) and the live feed's points, with the view (`by=service`), a pool or service
 * filter and a zone filter in the URL.
 */
import { useMemo } from 'react';
import { Link, useSearchParams } from 'react-router';
import { useLive } from '../api/live-context';
import { busiestGroups, groupServiceTraffic, groupTraffic, serviceTrafficDimensions, trafficDimensions } from '../charts/series';
import { useNow } from '../components/use-now';
import { useTrafficHistory } from '../charts/use-traffic-history';
import { ApiStatusError } from '../api/api-client';
import { Empty, Loading } from '../components/status-views';
import { ServiceMetrics } from './service-metrics';
import { ZoneMetrics } from './zone-metrics';

const WINDOWS = { '15m': { label: 'Last 15 minutes', seconds: 15 * 60 }, '1h': { label: 'Last hour', seconds: 60 * 60 } } as const;
type WindowKey = keyof typeof WINDOWS;
/** Without a service chosen, the busiest get panels: a panel is four charts, and a mesh may have hundreds of services. */
const MAX_SERVICE_PANELS = 6;

/** A filter's select: every value, or one of those known (the chosen one listed even while no point has it). */
function FilterSelect({ label, all, value, known, onChange }: { label: string; all: string; value: string | undefined; known: readonly string[]; onChange: (value: string | undefined) => void }) {
  return (
    <label>
      {label}
      <select value={value ?? ''} onChange={(event) => onChange(event.target.value || undefined)}>
        <option value="">{all}</option>
        {[...new Set([...known, ...(value ? [value] : [])])].map((name) => (
          <option key={name} value={name}>
            {name}
          </option>
        ))}
      </select>
    </label>
  );
}

export function MetricsPage() {
  const history = useTrafficHistory();
  const traffic = useLive((state) => state.traffic);
  const serviceTraffic = useLive((state) => state.serviceTraffic);
  const slotMs = useLive((state) => state.slotMs);
  const nowMs = useNow(slotMs);
  const [params, setParams] = useSearchParams();
  const byService = params.get('by') === 'service';
  const pool = params.get('pool') || undefined;
  const service = params.get('service') || undefined;
  const zone = params.get('zone') || undefined;
  const windowKey: WindowKey = params.get('window') === '15m' ? '15m' : '1h';
  const slotSeconds = slotMs / 1000;
  const to = Math.floor(nowMs / 1000);
  const from = to - WINDOWS[windowKey].seconds;

  const { pools, zones } = useMemo(() => trafficDimensions(traffic), [traffic]);
  const { services, zones: serviceZones } = useMemo(() => serviceTrafficDimensions(serviceTraffic), [serviceTraffic]);
  const zoneGroups = useMemo(() => groupTraffic(traffic, 'zone', { pool, zone }), [traffic, pool, zone]);
  const serviceGroups = useMemo(() => groupServiceTraffic(serviceTraffic, { service, zone }), [serviceTraffic, service, zone]);
  const shownServices = useMemo(() => busiestGroups(serviceGroups, from, to, MAX_SERVICE_PANELS), [serviceGroups, from, to]);

  const setParam = (name: string, value: string | undefined) =>
    setParams(
      (current) => {
        const next = new URLSearchParams(current);
        if (value) next.set(name, value);
        else next.delete(name);
        return next;
      },
      { replace: true },
    );

  const historyNote =
    history.error !== null && history.error !== undefined ? (
      <p className="muted history-note" role="status">
        The traffic history could not be loaded ({history.error instanceof ApiStatusError ? history.error.status.message : String(history.error)}): the charts show what the live feed sent since this
        page was opened.
      </p>
    ) : null;

  const filters = (
    <div className="toolbar" role="group" aria-label="Filters">
      <label>
        View
        <select value={byService ? 'service' : 'zone'} onChange={(event) => setParam('by', event.target.value === 'service' ? 'service' : undefined)}>
          <option value="zone">By zone</option>
          <option value="service">By service</option>
        </select>
      </label>
      {byService ? (
        <FilterSelect label="Service" all="All services" value={service} known={services} onChange={(value) => setParam('service', value)} />
      ) : (
        <FilterSelect label="Pool" all="All pools" value={pool} known={pools} onChange={(value) => setParam('pool', value)} />
      )}
      <FilterSelect label="Zone" all="All zones" value={zone} known={byService ? serviceZones : zones} onChange={(value) => setParam('zone', value)} />
      <label>
        Window
        <select value={windowKey} onChange={(event) => setParam('window', event.target.value === '15m' ? '15m' : undefined)}>
          {Object.entries(WINDOWS).map(([key, { label }]) => (
            <option key={key} value={key}>
              {label}
            </option>
          ))}
        </select>
      </label>
    </div>
  );

  let body;
  if (byService) {
    if (serviceTraffic.size === 0 && history.isLoading) body = <Loading what="traffic" />;
    else if (serviceTraffic.size === 0)
      body = (
        <Empty>
          No gateway has reported traffic per service yet. Gateways send their answers per service with every heartbeat (gateways older than that send none); the charts start within one 5-second
          slot of the first request a route matched.
        </Empty>
      );
    else if (serviceGroups.size === 0)
      body = (
        <Empty>
          No traffic {service ? `for service ${service}` : ''} {zone ? `in zone ${zone}` : ''} in the last hour. <Link to="/metrics?by=service">Show every service and zone</Link>.
        </Empty>
      );
    else
      body = (
        <>
          {shownServices.size < serviceGroups.size ? (
            <p className="muted page-note" role="note">
              The {shownServices.size} busiest of {serviceGroups.size} services in this window; choose a service to see another.
            </p>
          ) : null}
          {[...shownServices].map(([serviceName, series]) => (
            <ServiceMetrics key={serviceName} service={serviceName} series={series} zone={zone} from={from} to={to} slotSeconds={slotSeconds} nowMs={nowMs} />
          ))}
        </>
      );
  } else if (traffic.size === 0 && history.isLoading) body = <Loading what="traffic" />;
  else if (traffic.size === 0)
    body = (
      <Empty>
        No gateway has reported traffic yet. Gateways send their request statistics with every heartbeat; the charts start within one 5-second slot of the first request through a gateway.
      </Empty>
    );
  else if (zoneGroups.size === 0)
    body = (
      <Empty>
        No traffic {pool ? `for pool ${pool}` : ''} {zone ? `in zone ${zone}` : ''} in the last hour. <Link to="/metrics">Show every pool and zone</Link>.
      </Empty>
    );
  else
    body = [...zoneGroups].map(([zoneName, series]) => (
      <ZoneMetrics key={zoneName} zone={zoneName} series={series} pool={pool} from={from} to={to} slotSeconds={slotSeconds} nowMs={nowMs} />
    ));

  return (
    <div className="metrics-page">
      <h1>Metrics</h1>
      {filters}
      <p className="muted page-note">
        {byService
          ? 'Per service, from the answers the gateways gave for its routes, in 5-second slots; a zone is that of the gateways that answered.'
          : 'Per zone, from the gateways\' heartbeats in 5-second slots.'}{' '}
        Click a point of a chart to see the traces of that moment.
      </p>
      {historyNote}
      {body}
    </div>
  );
}
