/**
 * A heartbeat as a node sends it (POST …/heartbeat), read once at the edge. The fields the
 * registry acts on must have their types: a `draining` of "false" would otherwise drain the node,
 * and statistics without their counters and lists would break whatever reads them later (the
 * registry's breaker check, the self-checks). Statistics are otherwise taken as sent: the traffic
 * window ignores what is not the protocol's (autoscaling/pool-traffic-window.ts), so a newer agent
 * may send more.
 */
import { isJsonObject, nestingCause, type StatusCause } from '@portolan/api';
import type { HeartbeatRequest, HeartbeatStats } from '@portolan/agent-client';

export class InvalidHeartbeatError extends Error {
  readonly code = 'PORTOLAN_INVALID_HEARTBEAT';
  constructor(readonly causes: StatusCause[]) {
    super(`the heartbeat is invalid: ${causes.map((cause) => `${cause.field}: ${cause.message}`).join(', ')}; see docs/agent-protocol.md`);
  }
}

/** Statistics nest 4 levels (services[0].latencyHistogram.counts); room for more, not for thousands. */
const MAX_HEARTBEAT_NESTING = 16;

/** A value as a message quotes it: bounded, as a body may be megabytes. */
const show = (value: unknown) => {
  const text = JSON.stringify(value) ?? 'undefined';
  return text.length > 100 ? `${text.slice(0, 100)}…` : text;
};

const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value) && value >= 0;

function statsCauses(stats: Record<string, unknown>): StatusCause[] {
  const causes: StatusCause[] = [];
  for (const field of ['periodMs', 'requests'] as const) {
    if (!isCount(stats[field])) causes.push({ field: `stats.${field}`, reason: 'FieldValueInvalid', message: `Invalid value: ${show(stats[field])}: must be a number of at least 0` });
  }
  for (const field of ['breakers', 'ejectedEndpoints'] as const) {
    const list = stats[field];
    if (!Array.isArray(list) || !list.every(isJsonObject)) causes.push({ field: `stats.${field}`, reason: 'FieldValueInvalid', message: 'Invalid value: must be a list of objects' });
  }
  return causes;
}

/** The heartbeat in `body` (none is an empty one), or InvalidHeartbeatError naming every bad field. */
export function readHeartbeatRequest(body: unknown): HeartbeatRequest {
  if (body === undefined) return {};
  if (!isJsonObject(body)) throw new InvalidHeartbeatError([{ field: '', reason: 'FieldValueTypeInvalid', message: 'must be a JSON object: {"draining"?: boolean, "appliedRevision"?: number, "stats"?: {…}}' }]);
  // Statistics are kept as sent and written back in the GatewayNode: JSON.stringify overflows a few thousand levels down.
  if (nestingCause(undefined, body, MAX_HEARTBEAT_NESTING)) {
    throw new InvalidHeartbeatError([{ field: '', reason: 'FieldValueInvalid', message: `Invalid value: nested more than ${MAX_HEARTBEAT_NESTING} levels deep, deeper than any heartbeat` }]);
  }
  const causes: StatusCause[] = [];
  const { draining, appliedRevision, stats } = body;
  if (draining !== undefined && typeof draining !== 'boolean') causes.push({ field: 'draining', reason: 'FieldValueTypeInvalid', message: `Invalid value: ${show(draining)}: must be true or false` });
  if (appliedRevision !== undefined && !(Number.isSafeInteger(appliedRevision) && (appliedRevision as number) >= 0)) {
    causes.push({ field: 'appliedRevision', reason: 'FieldValueInvalid', message: `Invalid value: ${show(appliedRevision)}: must be a whole number of at least 0` });
  }
  if (stats !== undefined) {
    if (isJsonObject(stats)) causes.push(...statsCauses(stats));
    else causes.push({ field: 'stats', reason: 'FieldValueTypeInvalid', message: `Invalid value: ${show(stats)}: must be an object` });
  }
  if (causes.length) throw new InvalidHeartbeatError(causes);
  return {
    ...(draining !== undefined ? { draining: draining as boolean } : {}),
    ...(appliedRevision !== undefined ? { appliedRevision: appliedRevision as number } : {}),
    ...(stats !== undefined ? { stats: stats as unknown as HeartbeatStats } : {}),
  };
}
