/**
 * Which of two policies of one kind is merged first. The winner of a comparison is the one merged
 * last, so that its fields overwrite the other's (docs/policies.md, "Precedence").
 */
import { DEFAULT_NAMESPACE, type Resource, type TargetRef } from '../meta.js';

const TARGET_RANK = { Mesh: 0, Service: 2, Route: 4 } as const;

/** Mesh 0, Mesh+zone 1, Service 2, Service+zone 3, Route 4, Route+zone 5. */
export function specificity(ref: TargetRef): number {
  return TARGET_RANK[ref.kind] + (ref.zone ? 1 : 0);
}

/** What comparePolicies looks at, computed once per policy so that sorting does not re-parse timestamps. */
export interface PrecedenceKey {
  specificity: number;
  /**
   * creationTimestamp in epoch milliseconds. Parsed rather than compared as text because RFC 3339
   * allows offsets and fractions that do not sort lexically. A missing or unparsable timestamp
   * counts as the newest: such an object was never stored by the server, so it must not displace
   * policies that were.
   */
  created: number;
  name: string;
  namespace: string;
}

export function precedenceKey(policy: Resource): PrecedenceKey {
  const created = Date.parse(policy.metadata.creationTimestamp ?? '');
  return {
    specificity: specificity((policy.spec as { targetRef: TargetRef }).targetRef),
    created: Number.isNaN(created) ? Number.POSITIVE_INFINITY : created,
    name: policy.metadata.name,
    namespace: policy.metadata.namespace ?? DEFAULT_NAMESPACE,
  };
}

function compareAscending<T extends string | number>(a: T, b: T): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Merge order of two keys: less specific first; at equal specificity the newer first (the oldest
 * wins), then the alphabetically later name and namespace first (the first ones win). Kind,
 * namespace and name identify a policy, so this is a total order within a kind.
 */
export function comparePrecedence(a: PrecedenceKey, b: PrecedenceKey): number {
  return (
    compareAscending(a.specificity, b.specificity) ||
    compareAscending(b.created, a.created) ||
    compareAscending(b.name, a.name) ||
    compareAscending(b.namespace, a.namespace)
  );
}

/** Merge order of two policies of the same kind; `policies.sort(comparePolicies)` puts the winner last. */
export function comparePolicies(a: Resource, b: Resource): number {
  return comparePrecedence(precedenceKey(a), precedenceKey(b));
}
