/**
 * The times a failover event carries (docs/failover.md): the failover controller's FailedOver and
 * FailedBack have detectedAt, decidedAt and trafficMovedAt; drains have requestedAt and
 * trafficMovedAt. Read defensively: details are JSON from the journal.
 */
import type { MeshEvent } from '@portolan/api';

export interface FailoverTiming {
  /** Detection (or the drain request) to every gateway running the change; null when they did not in time. */
  toTrafficMovedMs: number | null;
  /** Detection to decision, for the controller's events. */
  toDecisionMs?: number;
  zone?: string;
  pendingGateways: string[];
}

const timeOf = (value: unknown) => (typeof value === 'string' && !Number.isNaN(Date.parse(value)) ? Date.parse(value) : undefined);

export function failoverTiming(event: MeshEvent): FailoverTiming | undefined {
  const details = event.details ?? {};
  const start = timeOf(details.detectedAt) ?? timeOf(details.requestedAt);
  if (start === undefined) return undefined;
  const moved = timeOf(details.trafficMovedAt);
  const decided = timeOf(details.decidedAt);
  const pending = Array.isArray(details.pendingGateways) ? details.pendingGateways : Array.isArray(details.pending) ? details.pending : [];
  return {
    toTrafficMovedMs: moved === undefined ? null : moved - start,
    ...(decided !== undefined ? { toDecisionMs: decided - start } : {}),
    ...(typeof details.zone === 'string' ? { zone: details.zone } : event.regarding.kind === 'Zone' ? { zone: event.regarding.name } : {}),
    pendingGateways: pending.filter((name): name is string => typeof name === 'string'),
  };
}

export const FAILOVER_REASONS = ['FailedOver', 'FailedBack', 'ZoneDrained', 'ZoneUndrained', 'DrillCompleted', 'DrillAbandoned'];
