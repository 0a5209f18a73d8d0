/**
 * /metrics: traffic per zone over the last hour or 15 minutes, from the history
 * (`GET /v1/traffic`) and the live feed's points, with a pool and a zone filter in the URL.
 */
import { useMemo } from 'react';
import { Link, useSearchParams } from 'react-router';
import { useLive } from '../api/live-context';
import { groupTraffic, trafficDimensions } from '../charts/series';
import { useNow } from '../components/use-now';
import { useTrafficHistory } from '../charts/use-traffic-history';
import { ApiStatusError } from '../api/api-client';
import { Empty, Loading } from '../components/status-views';
import { ZoneMetrics } from './zone-metrics';

const WINDOWS = { '15m': { label: 'Last 15 minutes', seconds: 15 * 60 }, '1h': { label: 'Last hour', seconds: 60 * 60 } } as const;
type WindowKey = keyof typeof WINDOWS;

export function MetricsPage() {
  const history = useTrafficHistory();
  const traffic = useLive((state) => state.traffic);
  const slotMs = useLive((state) => state.slotMs);
  const nowMs = useNow(slotMs);
  const [params, setParams] = useSearchParams();
  const pool = params.get('pool') || undefined;
  const zone = params.get('zone') || undefined;
  const windowKey: WindowKey = params.get('window') === '15m' ? '15m' : '1h';

  const { pools, zones } = useMemo(() => trafficDimensions(traffic), [traffic]);
  const groups = useMemo(() => groupTraffic(traffic, 'zone', { pool, zone }), [traffic, pool, zone]);
  const slotSeconds = slotMs / 1000;
  const to = Math.floor(nowMs / 1000);
  const from = to - WINDOWS[windowKey].seconds;

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
        Pool
        <select value={pool ?? ''} onChange={(event) => setParam('pool', event.target.value || undefined)}>
          <option value="">All pools</option>
          {[...new Set([...pools, ...(pool ? [pool] : [])])].map((name) => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
      </label>
      <label>
        Zone
        <select value={zone ?? ''} onChange={(event) => setParam('zone', event.target.value || undefined)}>
          <option value="">All zones</option>
          {[...new Set([...zones, ...(zone ? [zone] : [])])].map((name) => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
      </label>
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
  if (traffic.size === 0 && history.isLoading) body = <Loading what="traffic" />;
  else if (traffic.size === 0)
    body = (
      <Empty>
        No gateway has reported traffic yet. Gateways send their request statistics with every heartbeat; the charts start within one 5-second slot of the first request through a gateway.
      </Empty>
    );
  else if (groups.size === 0)
    body = (
      <Empty>
        No traffic {pool ? `for pool ${pool}` : ''} {zone ? `in zone ${zone}` : ''} in the last hour. <Link to="/metrics">Show every pool and zone</Link>.
      </Empty>
    );
  else
    body = [...groups].map(([zoneName, series]) => (
      <ZoneMetrics key={zoneName} zone={zoneName} series={series} pool={pool} from={from} to={to} slotSeconds={slotSeconds} nowMs={nowMs} />
    ));

  return (
    <div className="metrics-page">
      <h1>Metrics</h1>
      {filters}
      <p className="muted page-note">
        Per zone, from the gateways&apos; heartbeats in 5-second slots. Click a point of a chart to see the traces of that moment. Per-service charts are not available yet: heartbeats carry
        numbers per pool and zone, not per service (search traces by service instead).
      </p>
      {historyNote}
      {body}
    </div>
  );
}
