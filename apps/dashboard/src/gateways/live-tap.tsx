/**
 * A live tap of one gateway: the requests passing through it, sampled (at most 20 a second) with
 * the decisions the gateway made: status, latency, tries, rate limiting, the breaker, its own
 * failure reason, and a link to the trace. Runs only while the operator has it on.
 */
import { useState } from 'react';
import { Link } from 'react-router';
import { useLive, useTap } from '../api/live-context';
import { formatClock, formatMs } from '../components/format';
import { HealthBadge } from '../components/status-views';

export function LiveTap({ gatewayId }: { gatewayId: string }) {
  const [on, setOn] = useState(false);
  useTap(gatewayId, on);
  const requests = useLive((state) => state.taps.get(gatewayId)) ?? [];
  return (
    <section aria-labelledby="tap-title">
      <div className="toolbar">
        <h2 id="tap-title">Live tap</h2>
        <button type="button" className={on ? 'secondary' : undefined} onClick={() => setOn(!on)} aria-pressed={on}>
          {on ? 'Stop tap' : 'Start tap'}
        </button>
        {on ? <span className="muted">Sampled requests appear within one heartbeat interval; at most 20 a second.</span> : null}
      </div>
      {on && requests.length === 0 ? <p className="empty">Waiting for requests through this gateway…</p> : null}
      {requests.length > 0 ? (
        <table className="data" data-testid="tap-table">
          <thead>
            <tr>
              <th>Time</th>
              <th>Method</th>
              <th>Path</th>
              <th className="num">Status</th>
              <th className="num">Latency</th>
              <th className="num">Tries</th>
              <th>Decisions</th>
              <th>Trace</th>
            </tr>
          </thead>
          <tbody>
            {requests.map((request) => (
              <tr key={`${request.traceId}-${request.time}`} data-testid="tapped-request">
                <td>{formatClock(request.time)}</td>
                <td>{request.method}</td>
                <td className="mono">{request.path}</td>
                <td className="num">
                  <HealthBadge health={request.status >= 500 ? 'Failing' : request.status >= 400 ? 'Degraded' : 'Healthy'} label={String(request.status)} />
                </td>
                <td className="num">{formatMs(request.latencyMs)}</td>
                <td className="num">{request.tries}</td>
                <td>
                  {request.rateLimited ? <span className="badge health-Degraded">rate limited</span> : null}
                  {request.breaker && request.breaker !== 'closed' ? <span className="badge health-Failing">breaker {request.breaker}</span> : null}
                  {request.failure ? <span className="badge health-Failing">{request.failure}</span> : null}
                  {request.tries > 1 ? <span className="badge">retried</span> : null}
                  {request.route ? <span className="muted"> {request.route}</span> : <span className="muted"> no route</span>}
                </td>
                <td>
                  <Link to={`/traces/${request.traceId}`}>trace</Link>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </section>
  );
}
