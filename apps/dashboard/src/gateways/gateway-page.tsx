/**
 * One gateway: what it is and runs (registration, sync state, a NACK's reason), its last
 * heartbeat's traffic, breakers and ejected endpoints, and its effective configuration with the
 * policy that set each field.
 */
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect } from 'react';
import { Link, useParams } from 'react-router';
import type { HeartbeatStats } from '@portolan/agent-client';
import type { EffectiveConfigView, GatewayNode } from '@portolan/api';
import { resourcePath } from '../api/api-client';
import { useLive } from '../api/live-context';
import { queryKeys } from '../api/query-keys';
import { useSession } from '../app/session';
import { formatAge, formatMs, formatNumber, formatPercent } from '../components/format';
import { SelfCheckWarnings } from '../components/self-check-warnings';
import { ErrorState, HealthBadge, Loading } from '../components/status-views';
import { healthOfErrorRate, healthOfLifecycle } from '../health/health';
import { LiveTap } from './live-tap';
import { parseSetBy } from './provenance';

/**
 * The last heartbeat's breakers, ejections and gateway-made errors. `status.stats` is whatever the
 * agent sent (an older or foreign agent may send less): read field by field, missing is no data.
 */
function readStats(raw: unknown): { breakers: HeartbeatStats['breakers']; ejectedEndpoints: HeartbeatStats['ejectedEndpoints']; rateLimited?: number; retries?: number; timeouts?: number } | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const stats = raw as Partial<HeartbeatStats>;
  const count = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);
  return {
    breakers: Array.isArray(stats.breakers) ? stats.breakers.filter((entry) => typeof entry?.service === 'string') : [],
    ejectedEndpoints: Array.isArray(stats.ejectedEndpoints) ? stats.ejectedEndpoints.filter((entry) => typeof entry?.endpoint === 'string') : [],
    rateLimited: count(stats.errors?.rateLimited),
    retries: count(stats.retries),
    timeouts: count(stats.errors?.timeout),
  };
}

function FieldValue({ value }: { value: unknown }) {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return <code title={text}>{text.length > 120 ? `${text.slice(0, 117)}…` : text}</code>;
}

export function GatewayPage() {
  const { namespace = '', name = '' } = useParams();
  const { api } = useSession();
  const client = useQueryClient();
  const row = useLive((state) => state.gateways?.find((gateway) => gateway.namespace === namespace && gateway.name === name));
  const node = useQuery({ queryKey: queryKeys.object('GatewayNode', namespace, name), queryFn: ({ signal }) => api.get<GatewayNode>(resourcePath('GatewayNode', namespace, name), signal) });
  const config = useQuery({
    queryKey: queryKeys.effectiveConfig(namespace, name),
    queryFn: ({ signal }) => api.get<EffectiveConfigView>(`${resourcePath('GatewayNode', namespace, name)}/effective-config`, signal),
  });
  // The registry is not the store: the feed's row says when the breaker or ejection counts, the
  // lifecycle or the sync state moved, and only then are the lists behind them worth re-reading.
  useEffect(() => {
    void client.invalidateQueries({ queryKey: queryKeys.object('GatewayNode', namespace, name) });
  }, [client, namespace, name, row?.openBreakers, row?.ejectedEndpoints, row?.phase, row?.nack, row?.appliedRevision]);

  if (node.error) return <ErrorState error={node.error} what={`gateway ${name}`} />;
  if (!node.data) return <Loading what={`gateway ${name}`} />;
  const { spec, status } = node.data;
  const stats = readStats(status?.stats);
  // A NACK stays in the status after the gateway ACKed a later snapshot; it is history then, not an alert.
  const nack = status?.lastNack && !((status.appliedRevision ?? -1) >= status.lastNack.revision) ? status.lastNack : undefined;
  return (
    <>
      <p>
        <Link to="/gateways">← Gateways</Link>
      </p>
      <h1>
        Gateway {name} {status ? <HealthBadge health={healthOfLifecycle(status.phase)} label={status.phase} /> : null}
      </h1>
      <SelfCheckWarnings applies={(finding) => finding.object.kind === 'GatewayNode' && finding.object.name === name} />
      <dl className="facts">
        <dt>Zone</dt>
        <dd>{spec.zone}</dd>
        <dt>Pool</dt>
        <dd>{spec.pool}</dd>
        <dt>Address</dt>
        <dd className="mono">{spec.address}</dd>
        <dt>Version</dt>
        <dd>{spec.version}</dd>
        <dt>Last heartbeat</dt>
        <dd>{formatAge(status?.lastHeartbeat, Date.now())}</dd>
        <dt>Config</dt>
        <dd>
          {status?.synced ? <HealthBadge health="Healthy" label="Synced" /> : <HealthBadge health="Degraded" label="Not synced" />} revision {status?.appliedRevision ?? '—'} via {status?.transport ?? 'none'}
        </dd>
      </dl>
      {nack ? (
        <div className="error-box" role="alert" data-testid="gateway-nack">
          <strong>Rejected configuration</strong> (revision {nack.revision}, {nack.time}):
          <ul>
            {nack.errors.map((error, index) => (
              <li key={index}>
                {error.resource}
                {error.field ? ` ${error.field}` : ''}: {error.message}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
      <h2>Traffic (last heartbeat)</h2>
      <div className="stats panel">
        <div className="stat">
          <div className="value">{formatNumber(row?.requestsPerSecond)}</div>
          <div className="label">req/s</div>
        </div>
        <div className="stat">
          <div className="value">{formatMs(row?.p99Ms)}</div>
          <div className="label">p99</div>
        </div>
        <div className="stat">
          <div className="value">
            <HealthBadge health={healthOfErrorRate(row?.serverErrorPercent)} label={formatPercent(row?.serverErrorPercent)} />
          </div>
          <div className="label">5xx</div>
        </div>
        <div className="stat">
          <div className="value">{[stats?.rateLimited, stats?.retries, stats?.timeouts].map((value) => formatNumber(value, 0)).join(' / ')}</div>
          <div className="label">rate-limited / retries / timeouts</div>
        </div>
      </div>
      <div className="grid-2">
        <section>
          <h2>Circuit breakers</h2>
          {!stats ? (
            <p className="empty">No statistics from this gateway yet.</p>
          ) : stats.breakers.length === 0 ? (
            <p className="muted">Every breaker is closed.</p>
          ) : (
            <table className="data" data-testid="breakers">
              <thead>
                <tr>
                  <th>Service</th>
                  <th>State</th>
                </tr>
              </thead>
              <tbody>
                {stats.breakers.map((breaker) => (
                  <tr key={breaker.service}>
                    <td>{breaker.service}</td>
                    <td>
                      <HealthBadge health={breaker.state === 'open' ? 'Failing' : 'Degraded'} label={breaker.state} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
        <section>
          <h2>Ejected endpoints</h2>
          {!stats ? (
            <p className="empty">No statistics from this gateway yet.</p>
          ) : stats.ejectedEndpoints.length === 0 ? (
            <p className="muted">No endpoint is ejected.</p>
          ) : (
            <ul>
              {stats.ejectedEndpoints.map((entry) => (
                <li key={`${entry.service}/${entry.endpoint}`}>
                  {entry.service}: <code>{entry.endpoint}</code>
                </li>
              ))}
            </ul>
          )}
        </section>
      </div>
      <LiveTap gatewayId={node.data.metadata.uid ?? ''} />
      <h2>Effective configuration</h2>
      {config.error ? <ErrorState error={config.error} what="the effective configuration" /> : null}
      {!config.data ? (
        config.error ? null : <Loading what="the effective configuration" />
      ) : (
        <>
          <p className="muted">
            Snapshot {config.data.version} at revision {config.data.revision}
            {config.data.share ? ` · member ${config.data.share.index + 1} of ${config.data.share.size} in pool ${config.data.share.pool}` : ''}
          </p>
          {config.data.routes.map((route) => (
            <section key={route.route} className="panel route-config">
              <h3>Route {route.route}</h3>
              <table className="data">
                <thead>
                  <tr>
                    <th>Field</th>
                    <th>Value</th>
                    <th>Set by</th>
                  </tr>
                </thead>
                <tbody>
                  {route.fields.map((field) => {
                    const setter = parseSetBy(field.setBy);
                    return (
                      <tr key={field.path}>
                        <td className="mono">{field.path}</td>
                        <td>
                          <FieldValue value={field.value} />
                        </td>
                        <td>
                          {setter.href ? <Link to={setter.href}>{setter.label}</Link> : setter.label}
                          {setter.resourceVersion ? <span className="muted"> @{setter.resourceVersion}</span> : null}
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            </section>
          ))}
        </>
      )}
    </>
  );
}
