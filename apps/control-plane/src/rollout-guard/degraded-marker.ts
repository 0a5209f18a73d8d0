/**
 * The mark a rollback leaves on a policy, kept in the event journal's controller status (shared by
 * every replica) under its own kind, and read by PolicyStatusService into a `Degraded` condition
 * for as long as the policy stays at the generation the rollback wrote.
 */
import type { EventSubject } from '../events/event-journal';

export const ROLLOUT_GUARD_STATUS_KIND = 'RolloutGuard';

export interface RolloutGuardMarker {
  degraded: true;
  /** CamelCase: RolledBack. */
  reason: string;
  message: string;
  /** RFC 3339 time of the rollback. */
  at: string;
  /** Generation of the policy as the rollback wrote it: the mark holds while the policy is at it. */
  generation: number;
}

/** `{kind: 'RolloutGuard', namespace, name: '<Kind>.<name>'}` */
export function rolloutGuardMarkerKey(policy: { kind: string; namespace: string; name: string }): EventSubject {
  return { kind: ROLLOUT_GUARD_STATUS_KIND, namespace: policy.namespace, name: `${policy.kind}.${policy.name}` };
}

/** The marker if `value` is one (a status written by an older or foreign version is ignored). */
export function asRolloutGuardMarker(value: unknown): RolloutGuardMarker | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const marker = value as Partial<RolloutGuardMarker>;
  return marker.degraded === true && typeof marker.generation === 'number' && typeof marker.message === 'string' && typeof marker.at === 'string'
    ? (marker as RolloutGuardMarker)
    : undefined;
}
