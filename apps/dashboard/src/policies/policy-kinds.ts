/**
 * Which kinds the policy pages cover, and how one object of them reads in a row: its target, a
 * short spec summary (the kind's kubectl printer columns where they say it), its conditions.
 */
import {
  KINDS,
  kindByPlural,
  kindDefinition,
  type CircuitBreakerPolicySpec,
  type Condition,
  type KindDefinition,
  type Resource,
  type RetryPolicySpec,
} from '@portolan/api';

/**
 * The four policy kinds (isPolicy: targetRef, resolution, rollout to gateways) first, then the
 * two that are policies for an operator but act through controllers (no gateway rollout):
 * AutoscalePolicy and FailoverPolicy.
 */
export const POLICY_PAGE_KINDS: readonly KindDefinition[] = [
  ...KINDS.filter((definition) => definition.isPolicy),
  ...KINDS.filter((definition) => definition.kind === 'AutoscalePolicy' || definition.kind === 'FailoverPolicy'),
];

/** `RateLimitPolicy`, `ratelimitpolicies`, `ratelimitpolicy` or `rlp` (any case) to its definition, if the pages cover it. */
export function resolvePolicyKind(value: string | null | undefined): KindDefinition | undefined {
  if (!value) return undefined;
  const lower = value.toLowerCase();
  const found =
    kindDefinition(value) ??
    kindByPlural(lower) ??
    KINDS.find((definition) => definition.kind.toLowerCase() === lower || definition.singular === lower || definition.shortNames.includes(lower));
  return found && POLICY_PAGE_KINDS.includes(found) ? found : undefined;
}

export function policyPath(kind: string, namespace: string, name: string): string {
  return `/policies/${encodeURIComponent(kind)}/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`;
}

function cell(definition: KindDefinition, column: string, resource: Resource): string {
  const printer = definition.printerColumns.find((candidate) => candidate.name === column);
  if (!printer) return '';
  try {
    return String(printer.cell(resource));
  } catch {
    return '';
  }
}

export function targetOf(definition: KindDefinition, resource: Resource): string {
  return cell(definition, 'Target', resource);
}

/** A few words on what the spec does, e.g. `100/1s (per gateway)`, `3 attempts on gateway-error,reset`. */
export function specSummary(definition: KindDefinition, resource: Resource): string {
  const parts: string[] = [];
  switch (definition.kind) {
    case 'RateLimitPolicy':
      parts.push(`${cell(definition, 'Rate', resource)} per ${cell(definition, 'Scope', resource)}`);
      break;
    case 'RetryPolicy': {
      const spec = resource.spec as RetryPolicySpec;
      parts.push(`${spec.attempts ?? 3} attempts`);
      if (spec.perTryTimeout) parts.push(`${spec.perTryTimeout}/try`);
      if (spec.retryOn?.length) parts.push(`on ${spec.retryOn.join(',')}`);
      break;
    }
    case 'CircuitBreakerPolicy': {
      const spec = resource.spec as CircuitBreakerPolicySpec;
      if (spec.errorRate) parts.push(`opens at ${spec.errorRate.failureRatePercent ?? 50}% errors`);
      if (spec.connectionLimits?.maxConcurrentRequests !== undefined) parts.push(`max ${spec.connectionLimits.maxConcurrentRequests} in flight`);
      if (spec.outlierDetection) parts.push(`ejects after ${spec.outlierDetection.consecutive5xx ?? 5}×5xx`);
      break;
    }
    case 'TimeoutPolicy': {
      const request = cell(definition, 'Request', resource);
      const spec = resource.spec as { idleTimeout?: string; connectTimeout?: string };
      if (request) parts.push(`request ${request}`);
      if (spec.idleTimeout) parts.push(`idle ${spec.idleTimeout}`);
      if (spec.connectTimeout) parts.push(`connect ${spec.connectTimeout}`);
      break;
    }
    default:
      for (const printer of definition.printerColumns) {
        if (printer.name === 'Target' || printer.name === 'Ready') continue;
        const value = cell(definition, printer.name, resource);
        if (value !== '') parts.push(`${printer.name} ${value}`);
      }
  }
  if ((resource.spec as { guardedRollout?: unknown } | undefined)?.guardedRollout) parts.push('guarded rollout');
  return parts.filter(Boolean).join(' · ');
}

export function condition(resource: Resource | undefined, type: string): Condition | undefined {
  return resource?.status?.conditions?.find((candidate) => candidate.type === type);
}

/** The Degraded condition the rollout guard sets after rolling the policy back. */
export function rolledBack(resource: Resource | undefined): Condition | undefined {
  const degraded = condition(resource, 'Degraded');
  return degraded?.status === 'True' ? degraded : undefined;
}

export type Tone = 'ok' | 'warn' | 'bad' | 'neutral';

/** How a condition reads as a badge: its label and colour. Accepted=True is not worth a badge. */
export function conditionBadge(entry: Condition): { label: string; tone: Tone } | undefined {
  switch (entry.type) {
    case 'Accepted':
      return entry.status === 'True' ? undefined : { label: `Not accepted: ${entry.reason}`, tone: 'bad' };
    case 'Programmed':
      if (entry.status === 'True') return { label: 'Programmed', tone: 'ok' };
      if (entry.reason === 'Rejected') return { label: 'Rejected', tone: 'bad' };
      if (entry.reason === 'NoGateways') return { label: 'No gateways', tone: 'neutral' };
      return { label: entry.reason === 'Pending' ? 'Pending' : entry.reason, tone: 'warn' };
    case 'Overridden':
      if (entry.status === 'True') return { label: 'Overridden', tone: 'warn' };
      return entry.reason === 'NoTargets' ? { label: 'No targets', tone: 'neutral' } : undefined;
    case 'Degraded':
      return entry.status === 'True' ? { label: entry.reason === 'RolledBack' ? 'RolledBack' : 'Degraded', tone: 'bad' } : undefined;
    default:
      return entry.status === 'True' ? { label: entry.type, tone: 'neutral' } : undefined;
  }
}
