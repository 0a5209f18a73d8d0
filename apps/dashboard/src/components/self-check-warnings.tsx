/** The control plane's self-check findings (what would make these numbers lie), shown where they apply. */
import type { SelfCheckFinding } from '@portolan/api';
import { useSelfChecks } from '../api/use-mesh-queries';

export function SelfCheckWarnings({ applies = () => true }: { applies?: (finding: SelfCheckFinding) => boolean }) {
  const { data } = useSelfChecks();
  const findings = (data?.findings ?? []).filter(applies);
  if (findings.length === 0) return null;
  return (
    <div className="warning-box" role="alert" data-testid="self-check-warnings">
      <strong>Self-checks:</strong>
      <ul>
        {findings.map((finding) => (
          <li key={`${finding.check}/${finding.object.kind}/${finding.object.name}`}>
            <span className="badge health-Degraded">{finding.check}</span> {finding.message}
          </li>
        ))}
      </ul>
    </div>
  );
}
