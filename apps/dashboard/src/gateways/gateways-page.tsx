/**
 * Gateways: every registered gateway, live. Filter and sort state lives in the URL; the table body
 * is virtualized (only the rows in view are in the DOM), so thousands of gateways scroll smoothly.
 */
import { useVirtualizer } from '@tanstack/react-virtual';
import { useMemo, useRef } from 'react';
import { Link, useSearchParams } from 'react-router';
import { LIFECYCLES, type GatewayRow } from '@portolan/api';
import { useLive } from '../api/live-context';
import { formatAge, formatMs, formatNumber, formatPercent } from '../components/format';
import { Empty, HealthBadge, Loading } from '../components/status-views';
import { healthOfErrorRate, healthOfLifecycle } from '../health/health';
import { filterGateways, readGatewayView, sortGateways, type SortKey } from './gateway-table';

const ROW_HEIGHT = 31;

const COLUMNS: Array<{ key: SortKey; label: string; numeric?: boolean }> = [
  { key: 'name', label: 'Name' },
  { key: 'zone', label: 'Zone' },
  { key: 'pool', label: 'Pool' },
  { key: 'address', label: 'Address' },
  { key: 'version', label: 'Version' },
  { key: 'phase', label: 'State' },
  { key: 'lastHeartbeat', label: 'Last heartbeat' },
  { key: 'appliedRevision', label: 'Revision', numeric: true },
  { key: 'requestsPerSecond', label: 'req/s', numeric: true },
  { key: 'p99Ms', label: 'p99', numeric: true },
  { key: 'serverErrorPercent', label: '5xx', numeric: true },
];

function Row({ row, now }: { row: GatewayRow; now: number }) {
  return (
    <tr data-testid="gateway-row" data-zone={row.zone}>
      <td>
        <Link to={`/gateways/${encodeURIComponent(row.namespace)}/${encodeURIComponent(row.name)}`}>{row.name}</Link>
      </td>
      <td>{row.zone}</td>
      <td>{row.pool}</td>
      <td className="mono">{row.address}</td>
      <td>{row.version}</td>
      <td>
        <HealthBadge health={healthOfLifecycle(row.phase)} label={row.phase} />
      </td>
      <td>{formatAge(row.lastHeartbeat, now)}</td>
      <td className="num" title={row.nack ? `rejected: ${row.nack}` : row.synced ? 'runs its current configuration' : 'not on its current configuration yet'}>
        {row.appliedRevision ?? '—'} {row.nack ? <span className="badge health-Failing">NACK</span> : row.synced ? null : <span className="badge health-Degraded">syncing</span>}
      </td>
      <td className="num">{formatNumber(row.requestsPerSecond)}</td>
      <td className="num">{formatMs(row.p99Ms)}</td>
      <td className="num">
        <HealthBadge health={healthOfErrorRate(row.serverErrorPercent)} label={formatPercent(row.serverErrorPercent)} />
      </td>
    </tr>
  );
}

export function GatewaysPage() {
  const rows = useLive((state) => state.gateways);
  const [params, setParams] = useSearchParams();
  const view = readGatewayView(params);
  const zones = useMemo(() => [...new Set((rows ?? []).map((row) => row.zone))].sort(), [rows]);
  const visible = useMemo(() => sortGateways(filterGateways(rows ?? [], view), view.sort, view.descending), [rows, view.text, view.zone, view.phase, view.sort, view.descending]);
  const scroller = useRef<HTMLDivElement>(null);
  const virtualizer = useVirtualizer({ count: visible.length, getScrollElement: () => scroller.current, estimateSize: () => ROW_HEIGHT, overscan: 20 });
  const items = virtualizer.getVirtualItems();
  const now = Date.now();

  const setParam = (name: string, value: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value);
    else next.delete(name);
    setParams(next, { replace: true });
  };
  const sortBy = (key: SortKey) => {
    const next = new URLSearchParams(params);
    next.set('sort', key);
    if (view.sort === key && !view.descending) next.set('dir', 'desc');
    else next.delete('dir');
    setParams(next, { replace: true });
  };

  if (rows === null) return <Loading what="gateways" />;
  const paddingTop = items.length ? items[0].start : 0;
  const paddingBottom = items.length ? virtualizer.getTotalSize() - items[items.length - 1].end : 0;
  return (
    <>
      <h1>Gateways</h1>
      <div className="toolbar" role="search">
        <label>
          Filter <input type="search" value={view.text} onChange={(event) => setParam('q', event.target.value)} placeholder="name, address, pool, version" aria-label="Filter gateways" />
        </label>
        <label>
          Zone
          <select value={view.zone} onChange={(event) => setParam('zone', event.target.value)}>
            <option value="">all</option>
            {zones.map((zone) => (
              <option key={zone}>{zone}</option>
            ))}
          </select>
        </label>
        <label>
          State
          <select value={view.phase} onChange={(event) => setParam('phase', event.target.value)}>
            <option value="">all</option>
            {LIFECYCLES.map((phase) => (
              <option key={phase}>{phase}</option>
            ))}
          </select>
        </label>
        <span className="muted" data-testid="gateway-count">
          {visible.length} of {rows.length} gateways
        </span>
      </div>
      {rows.length === 0 ? (
        <Empty>No gateway has registered yet. Start one with the bootstrap token (docs/gateway.md).</Empty>
      ) : (
        <div className="table-scroller" ref={scroller}>
          <table className="data" aria-rowcount={visible.length}>
            <thead>
              <tr>
                {COLUMNS.map((column) => (
                  <th key={column.key} className={column.numeric ? 'num' : undefined} aria-sort={view.sort === column.key ? (view.descending ? 'descending' : 'ascending') : 'none'}>
                    <button type="button" onClick={() => sortBy(column.key)}>
                      {column.label}
                      {view.sort === column.key ? (view.descending ? ' ▼' : ' ▲') : ''}
                    </button>
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {paddingTop > 0 ? (
                <tr aria-hidden="true">
                  <td colSpan={COLUMNS.length} style={{ height: paddingTop, padding: 0, border: 'none' }} />
                </tr>
              ) : null}
              {items.map((item) => (
                <Row key={visible[item.index].id} row={visible[item.index]} now={now} />
              ))}
              {paddingBottom > 0 ? (
                <tr aria-hidden="true">
                  <td colSpan={COLUMNS.length} style={{ height: paddingBottom, padding: 0, border: 'none' }} />
                </tr>
              ) : null}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
