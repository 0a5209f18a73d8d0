/**
 * RFC 7386 merge patch that also records, for every leaf it writes, who wrote it. Kept apart from
 * merge-patch.ts because provenance needs to see each leaf as it is written, which a function
 * returning only the merged document cannot report.
 */
import { POLICY_HANDLING_FIELDS } from '../kinds/guarded-rollout.js';
import { Type, type TObject } from '@sinclair/typebox';
import { schemaDefaults } from '../defaults.js';
import { kindDefinition, POLICY_KINDS, type PolicyKind } from '../kinds/index.js';
import { isJsonObject, setOwn, type JsonObject } from '../merge-patch.js';

export interface PolicySource {
  kind: PolicyKind;
  namespace: string;
  name: string;
  resourceVersion: string;
  generation: number;
}

export type FieldSource = PolicySource | { kind: 'Default' };

/** `Kind/namespace/name`: how a policy is named in status, rollouts, NACKs and explain. */
export function policyRef(source: Pick<PolicySource, 'kind' | 'namespace' | 'name'>): string {
  return `${source.kind}/${source.namespace}/${source.name}`;
}

/** Dotted leaf path (`backoff.baseInterval`) -> the layer that set it. */
export type Provenance = Map<string, FieldSource>;

/** Drops `path` and everything below it: the value there was deleted or replaced whole. */
function forget(provenance: Provenance, path: string): void {
  provenance.delete(path);
  const below = `${path}.`;
  for (const key of provenance.keys()) if (key.startsWith(below)) provenance.delete(key);
}

/**
 * Applies `patch` to `target` in place with RFC 7386 semantics; arrays and scalars are leaves.
 * Leaves are cloned, so `target` never shares objects with `patch`, and set as own properties
 * (setOwn), so a key named `__proto__` stays a field. A key whose value is
 * `undefined` is treated as absent, as JSON has no undefined and typed callers use it for
 * "not set".
 */
export function mergeWithProvenance(target: JsonObject, patch: Readonly<Record<string, unknown>>, source: FieldSource, provenance: Provenance, prefix = ''): void {
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    const path = prefix ? `${prefix}.${key}` : key;
    if (value === null) {
      delete target[key];
      forget(provenance, path);
    } else if (isJsonObject(value)) {
      let child = Object.hasOwn(target, key) ? target[key] : undefined;
      if (!isJsonObject(child)) {
        forget(provenance, path);
        child = {};
        setOwn(target, key, child);
      }
      mergeWithProvenance(child, value, source, provenance, path);
    } else {
      if (Object.hasOwn(target, key) && isJsonObject(target[key])) forget(provenance, path);
      setOwn(target, key, structuredClone(value));
      provenance.set(path, source);
    }
  }
}

/** The defaults of a policy's configuration: every default its spec schema declares outside the handling fields (targetRef, guardedRollout). */
export function configDefaults(specSchema: TObject): JsonObject {
  const config = Object.fromEntries(Object.entries(specSchema.properties).filter(([field]) => !(POLICY_HANDLING_FIELDS as readonly string[]).includes(field)));
  return (schemaDefaults(Type.Object(config)) as JsonObject | undefined) ?? {};
}

/**
 * Schema defaults of each policy kind's configuration (spec without targetRef), computed once.
 * Only ever read as a patch, whose leaves mergeWithProvenance clones.
 */
export const CONFIG_DEFAULTS: ReadonlyMap<PolicyKind, JsonObject> = new Map(
  POLICY_KINDS.map((kind) => [kind as PolicyKind, configDefaults(kindDefinition(kind)!.schema.properties.spec as TObject)]),
);
