/** Loading, error, empty and health display shared by every page. */
import type { ReactNode } from 'react';
import { ApiStatusError } from '../api/api-client';
import type { Health } from '../health/health';

export function Loading({ what }: { what: string }) {
  return (
    <p className="muted" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}

export function ErrorState({ error, what }: { error: unknown; what: string }) {
  const message = error instanceof ApiStatusError ? error.status.message : error instanceof Error ? error.message : String(error);
  return (
    <div className="error-box" role="alert">
      <strong>Could not load {what}.</strong> {message}
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

const HEALTH_LABEL: Record<Health, string> = { Healthy: 'Healthy', Degraded: 'Degraded', Failing: 'Failing', NoData: 'No data' };

export function HealthBadge({ health, label }: { health: Health; label?: string }) {
  return (
    <span className={`badge health-${health}`} title={HEALTH_LABEL[health]}>
      {label ?? HEALTH_LABEL[health]}
    </span>
  );
}
