/**
 * How far the policy's current version has reached the gateways: `acked/gateways` from its status,
 * per zone, the NACKs with their reasons, and every gateway running it as ACKed, pending, NACKed
 * or disconnected (`GET …/rollout` with the live gateway rows). The live feed's STATUS changes
 * refetch both; nothing polls.
 */
import type { KindDefinition, Resource } from '@portolan/api';
import { useLive } from '../api/live-context';
import { RolloutBar } from './policy-parts';
import { useLiveFeedUp, usePolicyRollout } from './policy-queries';
import { gatewayProgress, type GatewayOutcome } from './rollout';

/** What an apply (or rollback) from this page wrote, kept in the query cache across the page's remount. */
export interface AppliedChange {
  /** What was done, for the heading. */
  action: string;
}

export const appliedKey = (kind: string, namespace: string, name: string) => ['policy-applied', kind, namespace, name] as const;

const OUTCOME_LABEL: Record<GatewayOutcome, string> = { acked: 'ACKed', nacked: 'NACKed', pending: 'Pending', disconnected: 'Disconnected' };
const OUTCOME_TONE: Record<GatewayOutcome, string> = { acked: 'ok', nacked: 'bad', pending: 'warn', disconnected: 'neutral' };

export function RolloutPanel({ definition, policy, applied, writing = false }: { definition: KindDefinition; policy: Resource; applied?: AppliedChange; writing?: boolean }) {
  const namespace = policy.metadata.namespace ?? 'default';
  const name = policy.metadata.name;
  const rollout = policy.status?.rollout;
  const inProgress = !!rollout && rollout.acked + rollout.nacked < rollout.gateways;
  const perGateway = usePolicyRollout(definition.kind, namespace, name, policy.metadata.resourceVersion);
  const rows = useLive((state) => state.gateways);
  const live = useLiveFeedUp();

  if (writing) {
    return (
      <p className="pol-rollout-summary" data-testid="rollout" aria-live="polite">
        Applying the change…
      </p>
    );
  }
  if (!rollout) return <p className="muted">No rollout status yet.</p>;
  const progress = perGateway.data?.gateways.length ? gatewayProgress(perGateway.data.gateways, rows) : undefined;

  return (
    <div className="pol-rollout-panel">
      <p className="pol-rollout-summary" data-testid="rollout" aria-live="polite">
        <RolloutBar rollout={rollout} label={`Rollout of revision ${policy.metadata.resourceVersion ?? '?'}`} showCount={false} />{' '}
        <strong className="mono">
          {rollout.acked}/{rollout.gateways}
        </strong>{' '}
        gateways ACKed revision {policy.metadata.resourceVersion ?? '?'}
        {rollout.nacked ? <span className="pol-text-bad"> · {rollout.nacked} NACKed</span> : null}
        {rollout.pending ? <span className="pol-text-warn"> · {rollout.pending} pending</span> : null}
        {rollout.gateways === 0 ? <span className="muted"> · no routable gateway runs a route this policy applies to</span> : null}
      </p>
      {!live && inProgress ? <p className="muted">The live feed is down: the rollout shown is as of the last update; it catches up when the feed reconnects.</p> : null}

      {rollout.zones && rollout.zones.length > 0 ? (
        <table className="data pol-zones" aria-label="Rollout per zone">
          <thead>
            <tr>
              <th scope="col">Zone</th>
              <th scope="col" className="num">
                ACKed
              </th>
              <th scope="col" className="num">
                NACKed
              </th>
              <th scope="col" className="num">
                Pending
              </th>
            </tr>
          </thead>
          <tbody>
            {rollout.zones.map((zone) => (
              <tr key={zone.zone}>
                <td>{zone.zone}</td>
                <td className="num">
                  {zone.acked}/{zone.gateways}
                </td>
                <td className={`num${zone.nacked ? ' pol-text-bad' : ''}`}>{zone.nacked}</td>
                <td className="num">{zone.pending}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}

      {rollout.rejections && rollout.rejections.length > 0 ? (
        <div className="error-box pol-rejections">
          <strong>Rejected by {rollout.nacked} gateway{rollout.nacked === 1 ? '' : 's'}:</strong>
          <ul>
            {rollout.rejections.map((rejection) => (
              <li key={rejection.gateway}>
                <span className="mono">{rejection.gateway}</span> ({rejection.zone}):{' '}
                {rejection.errors.map((error) => `${error.field ? `${error.field}: ` : ''}${error.message}`).join('; ') || 'rejected without a reason'}
              </li>
            ))}
          </ul>
        </div>
      ) : null}

      {progress ? (
        <>
          <h3>{applied ? `${applied.action}: gateways` : 'Gateways'} running revision {policy.metadata.resourceVersion ?? '?'}</h3>
          <table className="data pol-gateways" aria-label="Gateways running the policy">
            <thead>
              <tr>
                <th scope="col">Gateway</th>
                <th scope="col">Zone</th>
                <th scope="col">State</th>
                <th scope="col" className="num" title="Mesh revision of the configuration it last ACKed">
                  Revision
                </th>
                <th scope="col">NACK reason</th>
              </tr>
            </thead>
            <tbody>
              {progress.map((gateway) => (
                <tr key={gateway.name} data-testid="gateway-rollout">
                  <td className="mono">{gateway.name}</td>
                  <td>{gateway.zone || '—'}</td>
                  <td>
                    <span className={`badge pol-tone-${OUTCOME_TONE[gateway.outcome]}`}>{OUTCOME_LABEL[gateway.outcome]}</span>
                  </td>
                  <td className="num">{gateway.appliedRevision ?? '—'}</td>
                  <td className="pol-nack-reason">{gateway.reason ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
    </div>
  );
}
