/**
 * What compiling one part of a route's configuration yields: the compiled part, or the problems
 * that stop this gateway from applying it. Problems carry the provenance path of the offending
 * value, so the NACK can name the policy that set it rather than the route that inherited it.
 */
import { parseDuration, type EffectivePolicy, type FieldSource } from '@portolan/api';
import type { NackError } from '@portolan/agent-client';

export interface FieldProblem {
  /** Key of the value in `EffectivePolicy.provenance` (`limits`, `key.header`, `backoff.baseInterval`). */
  provenancePath: string;
  /** Where the value sits in the resource, as reported in the NACK (`spec.limits[0].interval`). */
  field: string;
  message: string;
}

export type Compiled<T> = { ok: true; value: T } | { ok: false; problems: FieldProblem[] };

export function compiled<T>(value: T, problems: readonly FieldProblem[]): Compiled<T> {
  return problems.length === 0 ? { ok: true, value } : { ok: false, problems: [...problems] };
}

/** Milliseconds of a duration string, or NaN with a problem recorded. */
export function durationMs(value: string, provenancePath: string, problems: FieldProblem[], field = `spec.${provenancePath}`): number {
  try {
    return parseDuration(value);
  } catch (error) {
    problems.push({ provenancePath, field, message: (error as Error).message });
    return Number.NaN;
  }
}

export function resourceName(ref: { kind: string; namespace: string; name: string }): string {
  return `${ref.kind}/${ref.namespace}/${ref.name}`;
}

/**
 * A schema default cannot be wrong unless this gateway is, so a problem with a defaulted value is
 * blamed on the policy that won the merge; the route stands in when no policy is known.
 */
export function policyNackErrors(problems: readonly FieldProblem[], policy: EffectivePolicy<unknown>, routeResource: string): NackError[] {
  return problems.map((problem) => {
    const source: FieldSource | undefined = policy.provenance[problem.provenancePath];
    const setter = source && source.kind !== 'Default' ? source : policy.applied.at(-1);
    return { resource: setter ? resourceName(setter) : routeResource, field: problem.field, message: problem.message };
  });
}
