/**
 * /policies: the policies of one kind (`?kind=`, tabs) across namespaces, as `kubectl get
 * ratelimitpolicies -A` with the rollout: name, namespace, target, what the spec does, how many
 * gateways ACKed it, conditions (an automatic rollback in red with its reason), age. `?q=` filters
 * by name, namespace or target.
 */
import { Link, useSearchParams } from 'react-router';
import type { KindDefinition, Resource } from '@portolan/api';
import { canWrite, useSession } from '../app/session';
import { formatAge } from '../components/format';
import { useNow } from '../components/use-now';
import { Empty, ErrorState, Loading } from '../components/status-views';
import { ConditionBadges, RolloutBar } from './policy-parts';
import { policyPath, POLICY_PAGE_KINDS, resolvePolicyKind, rolledBack, specSummary, targetOf } from './policy-kinds';
import { usePolicyList } from './policy-queries';

function KindTab({ definition, selected, search }: { definition: KindDefinition; selected: boolean; search: URLSearchParams }) {
  const { items } = usePolicyList(definition.kind);
  const degraded = items?.filter((item) => rolledBack(item)).length ?? 0;
  const next = new URLSearchParams(search);
  next.set('kind', definition.kind);
  return (
    <Link to={`?${next.toString()}`} className={selected ? 'pol-tab active' : 'pol-tab'} aria-current={selected ? 'page' : undefined}>
      {definition.kind}
      {items === undefined ? null : <span className="pol-tab-count"> {items.length}</span>}
      {degraded > 0 ? (
        <span className="badge pol-tone-bad" title={`${degraded} rolled back automatically`}>
          {' '}
          {degraded} rolled back
        </span>
      ) : null}
    </Link>
  );
}

function matches(definition: KindDefinition, item: Resource, filter: string): boolean {
  if (!filter) return true;
  const needle = filter.toLowerCase();
  return [item.metadata.name, item.metadata.namespace ?? '', targetOf(definition, item)].some((value) => value.toLowerCase().includes(needle));
}

function PolicyTable({ definition, filter }: { definition: KindDefinition; filter: string }) {
  const { items, error, isLoading } = usePolicyList(definition.kind);
  const { user } = useSession();
  // Ages only: re-rendered every 10 s.
  const now = useNow(10_000);
  if (isLoading) return <Loading what={`${definition.plural}`} />;
  if (error) return <ErrorState error={error} what={definition.plural} />;
  const all = items ?? [];
  if (all.length === 0) {
    return (
      <Empty>
        No {definition.kind} yet.{' '}
        {canWrite(user.role) ? <Link to={`/policies/new?kind=${definition.kind}`}>Create one</Link> : 'An editor can create one.'}
      </Empty>
    );
  }
  const shown = all
    .filter((item) => matches(definition, item, filter))
    .sort((a, b) => (a.metadata.namespace ?? '').localeCompare(b.metadata.namespace ?? '') || a.metadata.name.localeCompare(b.metadata.name));
  if (shown.length === 0) return <Empty>No {definition.kind} matches “{filter}”.</Empty>;
  return (
    <div className="table-scroller">
      <table className="data pol-table" aria-label={`${definition.kind} objects`}>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Namespace</th>
            <th scope="col">Target</th>
            <th scope="col">Spec</th>
            {definition.isPolicy ? <th scope="col">Rollout</th> : null}
            <th scope="col">Conditions</th>
            <th scope="col">Age</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((item) => {
            const namespace = item.metadata.namespace ?? 'default';
            const rollout = item.status?.rollout;
            const degraded = rolledBack(item);
            return (
              <tr key={`${namespace}/${item.metadata.name}`} className={degraded ? 'pol-row-degraded' : undefined}>
                <td>
                  <Link to={policyPath(definition.kind, namespace, item.metadata.name)}>{item.metadata.name}</Link>
                </td>
                <td>{namespace}</td>
                <td className="mono">{targetOf(definition, item) || '—'}</td>
                <td className="pol-summary">{specSummary(definition, item) || '—'}</td>
                {definition.isPolicy ? (
                  <td data-testid="rollout-cell">{rollout ? <RolloutBar rollout={rollout} label={`Rollout of ${item.metadata.name}`} /> : '—'}</td>
                ) : null}
                <td className="pol-conditions">
                  <ConditionBadges conditions={item.status?.conditions} withMessages />
                </td>
                <td title={item.metadata.creationTimestamp}>{formatAge(item.metadata.creationTimestamp, now)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

export function PoliciesPage() {
  const [search, setSearch] = useSearchParams();
  const { user } = useSession();
  const definition = resolvePolicyKind(search.get('kind')) ?? POLICY_PAGE_KINDS[0];
  const filter = search.get('q') ?? '';
  const setFilter = (value: string) => {
    const next = new URLSearchParams(search);
    if (value) next.set('q', value);
    else next.delete('q');
    setSearch(next, { replace: true });
  };
  return (
    <section className="pol-page" aria-labelledby="policies-title">
      <h1 id="policies-title">Policies</h1>
      <nav className="pol-tabs" aria-label="Policy kinds">
        {POLICY_PAGE_KINDS.map((candidate) => (
          <KindTab key={candidate.kind} definition={candidate} selected={candidate === definition} search={search} />
        ))}
      </nav>
      <div className="toolbar">
        <label>
          Filter
          <input type="search" value={filter} placeholder="name, namespace or target" onChange={(event) => setFilter(event.target.value)} />
        </label>
        <span className="spacer" />
        {canWrite(user.role) ? (
          <Link className="pol-button-link" to={`/policies/new?kind=${definition.kind}`} title={`Create a ${definition.kind}`}>
            New policy
          </Link>
        ) : null}
      </div>
      {definition.isPolicy ? null : (
        <p className="muted">
          {definition.kind} acts through a controller ({definition.kind === 'AutoscalePolicy' ? 'the autoscaler' : 'the failover controller'}), not by gateway
          configuration: it has no rollout. See the {definition.kind === 'AutoscalePolicy' ? <Link to="/autoscaling">Autoscaling</Link> : <Link to="/failover">Failover</Link>} page for what it decided.
        </p>
      )}
      <PolicyTable definition={definition} filter={filter} />
    </section>
  );
}
