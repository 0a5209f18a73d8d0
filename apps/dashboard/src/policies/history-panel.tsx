/**
 * The policy's history (`GET …/history`: revision, time, actor, change), newest first, with
 * "Roll back to this" per earlier version for editors (`POST …/rollback {revision}`), after a
 * confirmation that shows what the rollback changes. The rollout guard's automatic rollbacks are
 * marked, and its events (RolledBack, RolloutVerified, …) listed with their reasons.
 */
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useEffect, useMemo, useRef, useState } from 'react';
import type { Change, KindDefinition, Resource } from '@portolan/api';
import { ApiStatusError, resourcePath } from '../api/api-client';
import { queryKeys } from '../api/query-keys';
import { useSession } from '../app/session';
import { formatAge, formatClock } from '../components/format';
import { ErrorState, Loading } from '../components/status-views';
import { lineDiff } from './diff';
import { DiffView } from './policy-parts';
import { toEditableYaml } from './policy-yaml';
import { ROLLOUT_GUARD, usePolicyEvents, usePolicyHistory } from './policy-queries';

const ROLLBACK_ACTOR = /\(rollback to revision (\d+)\)$/;

function changeNote(entry: Change): string {
  if (entry.type !== 'MODIFIED' || !entry.before || !entry.after) return '';
  const specChanged = JSON.stringify(entry.before.spec) !== JSON.stringify(entry.after.spec);
  return specChanged ? `spec, generation ${entry.after.metadata.generation ?? '?'}` : 'metadata only';
}

function errorMessage(error: unknown): string {
  if (error instanceof ApiStatusError) {
    const causes = error.status.details?.causes ?? [];
    return [error.status.message, ...causes.map((cause) => `${cause.field}: ${cause.message}`)].join(' — ');
  }
  return error instanceof Error ? error.message : String(error);
}

function ConfirmRollback({
  entry,
  current,
  pending,
  onConfirm,
  onCancel,
}: {
  entry: Change;
  current: Resource | undefined;
  pending: boolean;
  onConfirm(): void;
  onCancel(): void;
}) {
  const confirmRef = useRef<HTMLButtonElement>(null);
  useEffect(() => confirmRef.current?.focus(), []);
  const diff = useMemo(() => lineDiff(current ? toEditableYaml(current) : '', entry.after ? toEditableYaml(entry.after) : ''), [current, entry.after]);
  return (
    <div
      className="pol-confirm"
      role="group"
      aria-label={`Confirm the rollback to revision ${entry.revision}`}
      onKeyDown={(event) => {
        if (event.key === 'Escape') onCancel();
      }}
    >
      <p>
        Roll back to revision <strong>{entry.revision}</strong>? Its spec is written as a new change (a new revision and generation); the gateways get it
        like any change. What changes:
      </p>
      <DiffView lines={diff} emptyText="Revision has the same spec and metadata as the current object: nothing would change." />
      <div className="toolbar">
        <button ref={confirmRef} type="button" className="danger" disabled={pending} onClick={onConfirm}>
          {pending ? 'Rolling back…' : `Roll back to revision ${entry.revision}`}
        </button>
        <button type="button" className="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </div>
  );
}

export function HistoryPanel({
  definition,
  namespace,
  name,
  current,
  writer,
  onRolledBack,
}: {
  definition: KindDefinition;
  namespace: string;
  name: string;
  current: Resource | undefined;
  writer: boolean;
  onRolledBack(object: Resource, revision: number): void;
}) {
  const { api } = useSession();
  const client = useQueryClient();
  const history = usePolicyHistory(definition.kind, namespace, name);
  const [confirming, setConfirming] = useState<number | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const rollback = useMutation({
    mutationFn: (revision: number) => api.request<Resource>('POST', `${resourcePath(definition.kind, namespace, name)}/rollback`, { revision }),
    onSuccess: (object, revision) => {
      client.setQueryData(queryKeys.object(definition.kind, namespace, name), object);
      void client.invalidateQueries({ queryKey: queryKeys.history(definition.kind, namespace, name) });
      void client.invalidateQueries({ queryKey: queryKeys.list(definition.kind) });
      setConfirming(null);
      setDone(`Rolled back to revision ${revision}: now revision ${object.metadata.resourceVersion ?? '?'}.`);
      onRolledBack(object, revision);
    },
  });

  const entries = useMemo(() => [...(history.items ?? [])].sort((a, b) => b.revision - a.revision), [history.items]);
  const latest = entries[0]?.revision;

  if (history.isLoading) return <Loading what="the history" />;
  if (history.error) return <ErrorState error={history.error} what="the history" />;

  return (
    <div className="pol-history">
      {done ? (
        <p className="notice" role="status">
          {done}
        </p>
      ) : null}
      {rollback.error ? (
        <div className="error-box" role="alert">
          <strong>Rollback failed.</strong> {errorMessage(rollback.error)}
        </div>
      ) : null}
      <ol className="pol-history-list">
        {entries.map((entry) => {
          const automatic = entry.actor === ROLLOUT_GUARD;
          const manual = ROLLBACK_ACTOR.exec(entry.actor);
          const isCurrent = entry.revision === latest && entry.type !== 'DELETED';
          const id = `history-${entry.revision}`;
          return (
            <li key={entry.revision} className={automatic ? 'pol-history-automatic' : undefined} data-testid="history-entry">
              <div className="pol-history-row">
                <span id={id} className="mono pol-revision">
                  revision {entry.revision}
                </span>
                <span className="badge">{entry.type}</span>
                <time dateTime={entry.time} title={entry.time}>
                  {formatClock(entry.time)} · {formatAge(entry.time, Date.now())}
                </time>
                <span className="pol-actor">{automatic ? 'rollout guard' : entry.actor}</span>
                {automatic ? <span className="badge pol-tone-bad">automatic rollback</span> : null}
                {manual ? <span className="badge pol-tone-warn">rollback to {manual[1]}</span> : null}
                {isCurrent ? <span className="badge pol-tone-ok">current</span> : null}
                <span className="muted">{changeNote(entry)}</span>
                <span className="spacer" />
                {writer && !isCurrent && entry.after ? (
                  <button type="button" className="secondary" aria-describedby={id} aria-expanded={confirming === entry.revision} onClick={() => setConfirming(entry.revision)}>
                    Roll back to this
                  </button>
                ) : null}
              </div>
              {confirming === entry.revision ? (
                <ConfirmRollback
                  entry={entry}
                  current={current}
                  pending={rollback.isPending}
                  onConfirm={() => rollback.mutate(entry.revision)}
                  onCancel={() => setConfirming(null)}
                />
              ) : null}
            </li>
          );
        })}
      </ol>
    </div>
  );
}

function eventTone(reason: string, type: string): string {
  if (reason === 'RolloutVerified') return 'ok';
  if (reason === 'RolledBack' || reason === 'RollbackFailed') return 'bad';
  return type === 'Warning' ? 'warn' : 'neutral';
}

export function GuardEvents({ definition, namespace, name, guarded }: { definition: KindDefinition; namespace: string; name: string; guarded: boolean }) {
  const { events, isLoading, error } = usePolicyEvents(definition.kind, namespace, name);
  if (isLoading) return <Loading what="the rollout guard's events" />;
  if (error) return <ErrorState error={error} what="the rollout guard's events" />;
  if (events.length === 0) {
    return (
      <p className="muted">
        {guarded
          ? 'The rollout guard has not judged a change of this policy yet.'
          : 'No automatic rollbacks: this policy has no spec.guardedRollout, so its changes are not watched.'}
      </p>
    );
  }
  return (
    <ol className="pol-events">
      {events.map((event) => (
        <li key={event.id} data-testid="guard-event" className={event.reason === 'RolledBack' || event.reason === 'RollbackFailed' ? 'pol-event-bad' : undefined}>
          <time dateTime={event.time} title={event.time}>
            {formatClock(event.time)}
          </time>
          <span className={`badge pol-tone-${eventTone(event.reason, event.type)}`}>{event.reason}</span>
          <span className="pol-event-message">{event.message}</span>
        </li>
      ))}
    </ol>
  );
}
