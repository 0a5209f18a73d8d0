/** Small views shared by the policy list and the policy page: rollout bar, condition badges, blast radius, diff. */
import type { BlastRadius, Condition, FieldChange, Resource } from '@portolan/api';
import { diffHunks, hasChanges, type DiffLine } from './diff';
import { conditionBadge } from './policy-kinds';

type Rollout = NonNullable<NonNullable<Resource['status']>['rollout']>;

/** `acked/gateways` with a bar: ACKed green, NACKed red, the rest pending. */
export function RolloutBar({ rollout, label, showCount = true }: { rollout: Rollout; label: string; showCount?: boolean }) {
  const total = rollout.gateways;
  const percent = (count: number) => (total === 0 ? 0 : (100 * count) / total);
  return (
    <span className="pol-rollout">
      <span
        className="pol-bar"
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={total}
        aria-valuenow={rollout.acked}
        aria-valuetext={`${rollout.acked} of ${total} gateways ACKed${rollout.nacked ? `, ${rollout.nacked} NACKed` : ''}`}
      >
        <span className="pol-bar-acked" style={{ width: `${percent(rollout.acked)}%` }} />
        <span className="pol-bar-nacked" style={{ width: `${percent(rollout.nacked)}%` }} />
      </span>
      {showCount ? (
        <span className="mono">
          {rollout.acked}/{total}
        </span>
      ) : null}
      {showCount && rollout.nacked > 0 ? <span className="pol-text-bad"> {rollout.nacked} NACKed</span> : null}
    </span>
  );
}

export function ConditionBadges({ conditions, withMessages = false }: { conditions: readonly Condition[] | undefined; withMessages?: boolean }) {
  const shown = (conditions ?? []).map((entry) => ({ entry, badge: conditionBadge(entry) })).filter((item) => item.badge);
  if (shown.length === 0) return null;
  return (
    <span className="pol-badges">
      {shown.map(({ entry, badge }) => (
        <span key={entry.type} className="pol-badge-wrap">
          <span className={`badge pol-tone-${badge!.tone}`} title={`${entry.type}=${entry.status} (${entry.reason}): ${entry.message}`}>
            {badge!.label}
          </span>
          {withMessages && badge!.tone === 'bad' ? <span className="pol-condition-message">{entry.message}</span> : null}
        </span>
      ))}
    </span>
  );
}

function showValue(value: unknown): string {
  if (value === undefined) return '—';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function ChangesTable({ changes }: { changes: readonly FieldChange[] }) {
  return (
    <table className="data pol-changes">
      <thead>
        <tr>
          <th scope="col">Route</th>
          <th scope="col">Field</th>
          <th scope="col">Before</th>
          <th scope="col">After</th>
          <th scope="col">Set by</th>
        </tr>
      </thead>
      <tbody>
        {changes.map((change, index) => (
          <tr key={`${change.route}/${change.path}/${index}`}>
            <td className="mono">{change.route}</td>
            <td className="mono">{change.path}</td>
            <td className="mono pol-before">{showValue(change.before)}</td>
            <td className="mono pol-after">{showValue(change.after)}</td>
            <td className="mono">{change.setBy}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** What a dry run says the change would do to the gateways: how many, and per zone which fields from what to what. */
export function BlastRadiusView({ blastRadius }: { blastRadius: BlastRadius }) {
  return (
    <div className="pol-blast" data-testid="blast-radius">
      <p>
        <strong>
          {blastRadius.affected} of {blastRadius.gateways} gateway{blastRadius.gateways === 1 ? '' : 's'}
        </strong>{' '}
        would get a new configuration.
        {blastRadius.affected === 0 ? ' No gateway configuration changes (a change of labels, of guardedRollout, or of a policy that applies nowhere).' : ''}
      </p>
      {blastRadius.shapes.map((shape, index) => (
        <details key={`${shape.zone}/${index}`} open={blastRadius.shapes.length <= 3}>
          <summary>
            Zone <strong>{shape.zone}</strong>: {shape.gateways.length} gateway{shape.gateways.length === 1 ? '' : 's'} ({shape.gateways.join(', ')}), {shape.changes.length + (shape.moreChanges ?? 0)} field
            {shape.changes.length + (shape.moreChanges ?? 0) === 1 ? '' : 's'}
          </summary>
          <ChangesTable changes={shape.changes} />
          {shape.moreChanges ? <p className="muted">…and {shape.moreChanges} more changes not listed.</p> : null}
        </details>
      ))}
    </div>
  );
}

function marker(line: DiffLine): string {
  return line.op === 'insert' ? '+' : line.op === 'delete' ? '-' : ' ';
}

/** A unified diff with old and new line numbers. */
export function DiffView({ lines, emptyText }: { lines: readonly DiffLine[]; emptyText: string }) {
  if (!hasChanges(lines)) return <p className="muted">{emptyText}</p>;
  const hunks = diffHunks(lines, 3);
  return (
    <div className="pol-diff" role="region" aria-label="Line diff" tabIndex={0}>
      {hunks.map((hunk, index) => (
        <div key={index} className="pol-hunk">
          <div className="pol-hunk-header mono">
            @@ -{hunk.oldStart},{hunk.oldLines} +{hunk.newStart},{hunk.newLines} @@
          </div>
          {hunk.lines.map((line, lineIndex) => (
            <div key={lineIndex} className={`pol-diff-line pol-diff-${line.op} mono`}>
              <span className="pol-diff-number" aria-hidden="true">
                {line.oldLine ?? ''}
              </span>
              <span className="pol-diff-number" aria-hidden="true">
                {line.newLine ?? ''}
              </span>
              <span className="pol-diff-text">
                <span className="pol-diff-marker">{marker(line)}</span>
                {line.op === 'insert' ? <span className="pol-sr-only">added: </span> : line.op === 'delete' ? <span className="pol-sr-only">removed: </span> : null}
                {line.text}
              </span>
            </div>
          ))}
        </div>
      ))}
    </div>
  );
}
