/**
 * Who set a field of a gateway's effective configuration, as the explain API writes it
 * (`RetryPolicy/default/checkout-retries@42`, `Route/default/checkout@7`, `Default`,
 * `Service/default/checkout + registered instances`), turned into a link target when it names an
 * object the dashboard shows.
 */
import { POLICY_PAGE_KINDS, policyPath } from '../policies/policy-kinds';

export interface FieldSetter {
  label: string;
  /** Dashboard path of the policy that set the field, when it is a policy. */
  href?: string;
  resourceVersion?: string;
}

const POLICY_KINDS = new Set(POLICY_PAGE_KINDS.map((definition) => definition.kind));

export function parseSetBy(setBy: string): FieldSetter {
  const match = /^([A-Za-z]+)\/([^/@\s]+)\/([^/@\s]+)(?:@(\S+))?$/.exec(setBy);
  if (!match) return { label: setBy };
  const [, kind, namespace, name, resourceVersion] = match;
  const label = `${kind}/${namespace}/${name}`;
  const href = POLICY_KINDS.has(kind) ? policyPath(kind, namespace, name) : undefined;
  return { label, ...(href ? { href } : {}), ...(resourceVersion ? { resourceVersion } : {}) };
}
