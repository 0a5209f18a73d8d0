/**
 * /policies/:kind/:namespace/:name and /policies/new?kind=: one policy as YAML, edited the way
 * `kubectl diff` then `kubectl apply` work. The editor completes field names and values from the
 * kind's schema and marks every problem at its line as it is typed (YAML syntax, the schema as the
 * server checks it). "Preview" is a server dry run: its field errors go to their lines too, and
 * on success it shows the blast radius (which gateways change, and which fields from what to what,
 * set by whom) and the line diff against the stored object. "Apply" then writes exactly the
 * previewed text and follows the rollout gateway by gateway. The history lists every revision,
 * with rollback, and the rollout guard's automatic rollbacks.
 *
 * Viewers get the same page read-only: no preview, apply or rollback.
 */
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { EditorView } from '@codemirror/view';
import { useCallback, useMemo, useState } from 'react';
import { Link, useNavigate, useParams, useSearchParams } from 'react-router';
import type { BlastRadius, KindDefinition, Resource, StatusCause } from '@portolan/api';
import { ApiStatusError, resourcePath } from '../api/api-client';
import { queryKeys } from '../api/query-keys';
import { canWrite, useSession } from '../app/session';
import { formatClock } from '../components/format';
import { ErrorState, Loading } from '../components/status-views';
import { lineDiff } from './diff';
import { GuardEvents, HistoryPanel } from './history-panel';
import { BlastRadiusView, ConditionBadges, DiffView } from './policy-parts';
import { policyPath, POLICY_PAGE_KINDS, resolvePolicyKind, rolledBack } from './policy-kinds';
import { usePolicy } from './policy-queries';
import { diagnose, newPolicyYaml, objectIdentity, toEditableYaml, withResourceVersion, type Problem } from './policy-yaml';
import { appliedKey, RolloutPanel, type AppliedChange } from './rollout-panel';
import type { SchemaNode } from './schema-completion';
import { locateField } from './yaml-errors';
import { YamlEditor } from './yaml-editor';

/** How the dashboard's writes appear in an object's metadata.managedFields (`kubectl get -o yaml --show-managed-fields`). */
const DASHBOARD_FIELD_MANAGER = 'portolan-dashboard';

export function PolicyPage() {
  const params = useParams();
  const [search] = useSearchParams();
  const isNew = params.name === undefined;
  const requested = isNew ? search.get('kind') : (params.kind ?? null);
  const definition = resolvePolicyKind(requested);
  if (!definition) {
    return (
      <section className="pol-page" aria-labelledby="policy-title">
        <h1 id="policy-title">{isNew ? 'New policy' : 'Unknown policy kind'}</h1>
        {requested ? (
          <div className="error-box" role="alert">
            {requested} is not a policy kind.
          </div>
        ) : (
          <p>Which kind?</p>
        )}
        <ul className="pol-kind-choice">
          {POLICY_PAGE_KINDS.map((candidate) => (
            <li key={candidate.kind}>
              <Link to={isNew ? `/policies/new?kind=${candidate.kind}` : `/policies?kind=${candidate.kind}`}>{candidate.kind}</Link>
            </li>
          ))}
        </ul>
      </section>
    );
  }
  return (
    <PolicyEditorPage
      key={`${definition.kind}/${params.namespace ?? ''}/${params.name ?? ''}`}
      definition={definition}
      namespace={isNew ? undefined : params.namespace}
      name={isNew ? undefined : params.name}
    />
  );
}

/** What the operator changed: the text, and what it was based on (for the conflict check and the "changed on the server" notice). */
interface Edit {
  text: string;
  baseText: string;
  baseVersion?: string;
}

/** The server's answer to the last preview or apply when it refused. */
interface ServerRefusal {
  action: 'Preview' | 'Apply';
  message: string;
  code: number;
  causes: StatusCause[];
}

interface PreviewResult {
  text: string;
  object: Resource;
  blastRadius?: BlastRadius;
}

function refusalOf(action: ServerRefusal['action'], error: unknown): ServerRefusal {
  if (error instanceof ApiStatusError) {
    return { action, message: error.status.message, code: error.status.code, causes: error.status.details?.causes ?? [] };
  }
  return { action, message: error instanceof Error ? error.message : String(error), code: 0, causes: [] };
}

function PolicyEditorPage({ definition, namespace, name }: { definition: KindDefinition; namespace?: string; name?: string }) {
  const isNew = name === undefined;
  const kind = definition.kind;
  const { api, user } = useSession();
  const writer = canWrite(user.role);
  const client = useQueryClient();
  const navigate = useNavigate();
  const object = usePolicy(kind, namespace, name);
  const stored = object.data;
  const applied = useQuery<AppliedChange | null>({
    queryKey: appliedKey(kind, namespace ?? '', name ?? ''),
    queryFn: () => null,
    enabled: false,
    staleTime: Infinity,
  });

  const storedText = useMemo(() => (stored ? toEditableYaml(stored) : undefined), [stored]);
  const startText = isNew ? newPolicyYaml(kind) : storedText;
  const [edit, setEdit] = useState<Edit | null>(null);
  const dirty = edit !== null && edit.text !== edit.baseText;
  const text = dirty ? edit.text : (startText ?? '');
  const baseVersion = dirty ? edit.baseVersion : stored?.metadata.resourceVersion;
  const movedOnServer = dirty && !isNew && stored !== undefined && edit.baseVersion !== stored.metadata.resourceVersion;

  const [preview, setPreview] = useState<PreviewResult | null>(null);
  const [refusal, setRefusal] = useState<ServerRefusal | null>(null);
  const [view, setView] = useState<EditorView | undefined>(undefined);
  const [applying, setApplying] = useState(false);

  const onChange = useCallback(
    (value: string) =>
      setEdit((previous) => {
        const keep = previous !== null && previous.text !== previous.baseText;
        return {
          text: value,
          baseText: keep ? previous.baseText : (startText ?? ''),
          baseVersion: keep ? previous.baseVersion : stored?.metadata.resourceVersion,
        };
      }),
    [startText, stored],
  );

  const diagnoseOptions = useMemo(() => ({ kind, name, namespace, serverCauses: refusal?.causes }), [kind, name, namespace, refusal]);
  const diagnosis = useMemo(() => diagnose(text, diagnoseOptions), [text, diagnoseOptions]);
  const problemsOf = useCallback((value: string): readonly Problem[] => diagnose(value, diagnoseOptions).problems, [diagnoseOptions]);
  const localProblems = diagnosis.problems.filter((problem) => problem.source !== 'server');
  const serverErrors = useMemo(() => (refusal?.causes ?? []).map((cause) => locateField(text, cause.field, cause.message)), [refusal, text]);

  const identity = objectIdentity(diagnosis.value);
  const send = (body: string, dryRun: boolean) => {
    const path = isNew ? resourcePath(kind, identity.namespace) : resourcePath(kind, namespace, name);
    // The field manager names the dashboard in the object's managedFields, as kubectl names itself.
    const query = `?fieldManager=${DASHBOARD_FIELD_MANAGER}${dryRun ? '&dryRun=All' : ''}`;
    return api.request<Resource>(isNew ? 'POST' : 'PUT', `${path}${query}`, withResourceVersion(body, isNew ? undefined : baseVersion), 'application/yaml');
  };

  const previewMutation = useMutation({
    mutationFn: (body: string) => send(body, true),
    onMutate: () => setRefusal(null),
    onSuccess: (answer, body) => {
      setPreview({ text: body, object: answer, blastRadius: answer.status?.blastRadius as BlastRadius | undefined });
    },
    onError: (error) => {
      setPreview(null);
      setRefusal(refusalOf('Preview', error));
    },
  });

  const applyMutation = useMutation({
    mutationFn: (body: string) => send(body, false),
    onMutate: () => setRefusal(null),
    onSuccess: (answer) => {
      const writtenNamespace = answer.metadata.namespace ?? identity.namespace;
      const writtenName = answer.metadata.name;
      client.setQueryData(queryKeys.object(kind, writtenNamespace, writtenName), answer);
      void client.invalidateQueries({ queryKey: queryKeys.list(kind) });
      void client.invalidateQueries({ queryKey: queryKeys.history(kind, writtenNamespace, writtenName) });
      client.setQueryData<AppliedChange>(appliedKey(kind, writtenNamespace, writtenName), {
        action: `${isNew ? 'Created' : 'Applied'} at ${formatClock(new Date().toISOString())} as revision ${answer.metadata.resourceVersion ?? '?'}`,
      });
      setEdit(null);
      setPreview(null);
      if (isNew) navigate(policyPath(kind, writtenNamespace, writtenName), { replace: true });
    },
    onError: (error) => setRefusal(refusalOf('Apply', error)),
  });

  const previewCurrent = preview !== null && preview.text === text;
  const canPreview = writer && !previewMutation.isPending && !applyMutation.isPending;
  const canApply = writer && previewCurrent && !applyMutation.isPending;
  const runPreview = () => {
    if (canPreview) previewMutation.mutate(text);
  };

  const goToLine = (from: number) => {
    if (!view) return;
    view.dispatch({ selection: { anchor: Math.min(from, view.state.doc.length) }, scrollIntoView: true });
    view.focus();
  };
  const discard = () => {
    setEdit(null);
    setPreview(null);
    setRefusal(null);
  };

  if (!isNew && object.isLoading) return <Loading what={`${kind} ${namespace}/${name}`} />;
  if (!isNew && object.error) {
    // Deleted (perhaps by the rollout guard, rolling back the change that created it): its history and the guard's events say why.
    const gone = object.error instanceof ApiStatusError && object.error.code === 404;
    return (
      <section className="pol-page">
        <Breadcrumb definition={definition} />
        <ErrorState error={object.error} what={`${kind} ${namespace}/${name}`} />
        {gone ? (
          <div className="pol-side pol-gone">
            {definition.isPolicy ? (
              <section aria-labelledby="guard-title">
                <h2 id="guard-title">Automatic rollbacks</h2>
                <GuardEvents definition={definition} namespace={namespace!} name={name!} guarded />
              </section>
            ) : null}
            <section aria-labelledby="history-title">
              <h2 id="history-title">History</h2>
              <HistoryPanel definition={definition} namespace={namespace!} name={name!} current={undefined} writer={writer} onRolledBack={() => undefined} />
            </section>
          </div>
        ) : null}
      </section>
    );
  }

  const degraded = rolledBack(stored);
  const diffLines = preview ? lineDiff(isNew ? '' : (storedText ?? ''), preview.text) : undefined;
  const title = isNew ? `New ${kind}` : `${kind} ${namespace}/${name}`;

  return (
    <section className="pol-page" aria-labelledby="policy-title">
      <Breadcrumb definition={definition} />
      <div className="pol-heading">
        <h1 id="policy-title">{title}</h1>
        {stored ? <ConditionBadges conditions={stored.status?.conditions} /> : null}
      </div>
      {degraded ? (
        <div className="error-box pol-degraded" role="alert" data-testid="degraded">
          <strong>Rolled back automatically</strong> ({degraded.reason}, {formatClock(degraded.lastTransitionTime)}): {degraded.message}
        </div>
      ) : null}
      {stored?.status?.conditions?.length ? (
        <details className="pol-conditions-detail">
          <summary>Conditions</summary>
          <ul>
            {stored.status.conditions.map((entry) => (
              <li key={entry.type}>
                <strong>{entry.type}</strong>={entry.status} ({entry.reason}): {entry.message}
              </li>
            ))}
          </ul>
        </details>
      ) : null}

      <div className="pol-layout">
        <div className="pol-main">
          <h2 id="editor-title">YAML</h2>
          {writer ? null : (
            <p className="notice" id="read-only-note">
              Read-only: your role ({user.role}) can read policies but not change them.
            </p>
          )}
          {movedOnServer ? (
            <div className="warning-box" role="status">
              This {kind} changed on the server since you started editing (now revision {stored?.metadata.resourceVersion}). Applying your edit would be refused
              as a conflict.{' '}
              <button type="button" className="link" onClick={discard}>
                Discard my edit and load the server's version
              </button>
            </div>
          ) : null}
          <div className="pol-editor" role="region" aria-labelledby="editor-title">
            <YamlEditor
              value={text}
              onChange={onChange}
              readOnly={!writer}
              schema={definition.schema as unknown as SchemaNode}
              problems={problemsOf}
              problemsVersion={diagnoseOptions}
              onSubmit={runPreview}
              onView={setView}
              label={`YAML of ${title}`}
              describedBy={writer ? 'editor-help' : 'read-only-note'}
            />
          </div>
          {writer ? (
            <p className="muted pol-help" id="editor-help">
              Ctrl+Space completes field names and values · Ctrl+Enter previews · F8 goes to the next problem · Esc then Tab leaves the editor.
            </p>
          ) : null}

          {localProblems.length > 0 ? (
            <div className="pol-problems">
              <h3>
                {localProblems.length} problem{localProblems.length === 1 ? '' : 's'}
              </h3>
              <ul>
                {localProblems.slice(0, 30).map((problem, index) => (
                  <li key={index} className={`pol-problem-${problem.severity}`} data-testid="problem">
                    <button type="button" className="link" onClick={() => goToLine(problem.from)}>
                      line {problem.line}
                    </button>
                    : {problem.field ? <code>{problem.field}</code> : null}
                    {problem.field ? ': ' : ''}
                    {problem.message}
                  </li>
                ))}
              </ul>
            </div>
          ) : null}

          <div className="toolbar pol-actions">
            <button type="button" onClick={runPreview} disabled={!canPreview} aria-describedby={writer ? undefined : 'read-only-note'}>
              {previewMutation.isPending ? 'Previewing…' : 'Preview'}
            </button>
            {writer ? (
              <>
                <button
                  type="button"
                  onClick={() => {
                    // At once, in the click: the rollout must not show the previous revision's count as this change's.
                    setApplying(true);
                    applyMutation.mutate(text, { onSettled: () => setApplying(false) });
                  }}
                  disabled={!canApply}
                  aria-describedby="apply-note"
                >
                  {applyMutation.isPending ? 'Applying…' : 'Apply'}
                </button>
                <button type="button" className="secondary" onClick={discard} disabled={!dirty && !preview && !refusal}>
                  Discard changes
                </button>
                <span className="muted" id="apply-note">
                  {previewCurrent ? 'Apply writes the previewed YAML.' : preview ? 'The YAML changed since the preview: preview again.' : 'Preview the change first.'}
                </span>
              </>
            ) : null}
          </div>

          {refusal ? (
            <div className="error-box pol-refusal" role="alert">
              <strong>
                {refusal.action} refused{refusal.code ? ` (${refusal.code})` : ''}:
              </strong>{' '}
              {refusal.message}
              {serverErrors.length > 0 ? (
                <ul className="pol-field-errors">
                  {serverErrors.map((error, index) => (
                    <li key={index} data-testid="field-error">
                      <button type="button" className="link" onClick={() => goToLine(error.from)}>
                        line {error.line}
                      </button>
                      : {error.field ? <code>{error.field}</code> : null}
                      {error.field ? ': ' : ''}
                      {error.message}
                    </li>
                  ))}
                </ul>
              ) : null}
            </div>
          ) : null}

          {preview ? (
            <div className="pol-preview" aria-live="polite">
              <h2>Preview{previewCurrent ? '' : ' (of an earlier version of the YAML)'}</h2>
              {preview.blastRadius ? (
                <BlastRadiusView blastRadius={preview.blastRadius} />
              ) : (
                // The server leaves the blast radius out of a dry run that would change nothing.
                <p className="muted">No gateway would change: the server found that this write changes nothing.</p>
              )}
              <h3>Diff against the stored object</h3>
              <DiffView lines={diffLines ?? []} emptyText="No change to the stored object: applying would write nothing." />
            </div>
          ) : null}
        </div>

        {!isNew && stored ? (
          <aside className="pol-side">
            {definition.isPolicy ? (
              <section aria-labelledby="rollout-title">
                <h2 id="rollout-title">Rollout</h2>
                <RolloutPanel definition={definition} policy={stored} applied={applied.data ?? undefined} writing={applying} />
              </section>
            ) : null}
            {definition.isPolicy ? (
              <section aria-labelledby="guard-title">
                <h2 id="guard-title">Automatic rollbacks</h2>
                <GuardEvents definition={definition} namespace={namespace!} name={name!} guarded={!!(stored.spec as { guardedRollout?: unknown }).guardedRollout} />
              </section>
            ) : null}
            <section aria-labelledby="history-title">
              <h2 id="history-title">History</h2>
              <HistoryPanel
                definition={definition}
                namespace={namespace!}
                name={name!}
                current={stored}
                writer={writer}
                onRolledBack={(rolled, revision) => {
                  client.setQueryData<AppliedChange>(appliedKey(kind, namespace!, name!), {
                    action: `Rolled back to revision ${revision} as revision ${rolled.metadata.resourceVersion ?? '?'}`,
                  });
                  setPreview(null);
                }}
              />
            </section>
          </aside>
        ) : null}
      </div>
    </section>
  );
}

function Breadcrumb({ definition }: { definition: KindDefinition }) {
  return (
    <nav aria-label="Breadcrumb" className="pol-breadcrumb">
      <Link to={`/policies?kind=${definition.kind}`}>Policies</Link> / {definition.kind}
    </nav>
  );
}
