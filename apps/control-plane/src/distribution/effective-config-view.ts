/**
 * Effective configuration as operators read it: every field of every route as a flat path with
 * its value and the policy that set it ("explain"), and the field-by-field difference between two
 * configurations ("blast radius" of a change). Pure functions over resolved routes.
 */
import { type EffectivePolicy, type EffectiveRoute, type ExplainedField, type ExplainedRoute, type FieldChange, type FieldSource, policyRef } from '@portolan/api';

export type { ExplainedField, ExplainedRoute, FieldChange } from '@portolan/api';

const POLICY_FIELDS = ['rateLimit', 'retry', 'circuitBreaker', 'timeout'] as const;

function describeSource(source: FieldSource): string {
  return source.kind === 'Default' ? 'Default' : `${policyRef(source)}@${source.resourceVersion}`;
}

function valueAt(config: unknown, path: string): unknown {
  let node: unknown = config;
  for (const segment of path.split('.')) node = (node as Record<string, unknown> | undefined)?.[segment];
  return node;
}

export function explainRoute(route: EffectiveRoute): ExplainedRoute {
  const name = `${route.route.namespace}/${route.route.name}`;
  const routeSource = `Route/${name}@${route.route.resourceVersion}`;
  const fields: ExplainedField[] = [
    { path: 'match.hostnames', value: route.hostnames, setBy: routeSource },
    { path: 'match.pathPrefix', value: route.pathPrefix, setBy: routeSource },
    { path: 'match.headers', value: route.headers, setBy: routeSource },
    { path: 'backend.service', value: `${route.backend.service.namespace}/${route.backend.service.name}`, setBy: routeSource },
    { path: 'backend.endpoints', value: route.backend.endpoints, setBy: `Service/${route.backend.service.namespace}/${route.backend.service.name} + registered instances` },
  ];
  for (const field of POLICY_FIELDS) {
    const policy = route[field] as EffectivePolicy<unknown> | null;
    if (!policy) continue;
    for (const [path, source] of Object.entries(policy.provenance)) {
      fields.push({ path: `${field}.${path}`, value: valueAt(policy.config, path), setBy: describeSource(source) });
    }
  }
  return { route: name, fields };
}

/** Every field that differs between two route lists (routes added or removed count as a whole). */
export function diffRoutes(before: readonly EffectiveRoute[], after: readonly EffectiveRoute[]): FieldChange[] {
  const index = (routes: readonly EffectiveRoute[]) => new Map(routes.map((route) => [`${route.route.namespace}/${route.route.name}`, explainRoute(route)]));
  const old = index(before);
  const updated = index(after);
  const changes: FieldChange[] = [];
  for (const name of [...new Set([...old.keys(), ...updated.keys()])].sort()) {
    const was = new Map(old.get(name)?.fields.map((field) => [field.path, field]) ?? []);
    const now = new Map(updated.get(name)?.fields.map((field) => [field.path, field]) ?? []);
    for (const path of [...new Set([...was.keys(), ...now.keys()])].sort()) {
      const a = was.get(path);
      const b = now.get(path);
      if (JSON.stringify(a?.value) === JSON.stringify(b?.value) && a?.setBy.split('@')[0] === b?.setBy.split('@')[0]) continue;
      changes.push({ route: name, path, before: a?.value ?? null, after: b?.value ?? null, setBy: b?.setBy ?? '-' });
    }
  }
  return changes;
}
