/**
 * Server-side apply and field ownership (metadata.managedFields) for the mesh kinds, as
 * kube-apiserver does it for custom resources: its managedfields package over
 * sigs.k8s.io/structured-merge-diff, reduced to what a kubectl user sees. No JavaScript library
 * implements structured-merge-diff, so its rules are ported here and in typed-value.ts.
 *
 * Tracked: metadata.labels, metadata.annotations and spec. Not tracked, as in Kubernetes: status
 * (the control plane's), name, namespace and the server-set metadata.
 *
 * - An apply makes its manager own exactly the fields it applied (operation Apply). A field
 *   another manager owns conflicts when the apply would change its value or remove it; without
 *   force that is a 409 naming every such field, with force the applier takes it. Fields the
 *   manager applied before and dropped now are removed, unless another manager still owns them;
 *   what goes with them (another updater's field of a list item the applier stops applying) goes
 *   without a conflict, as in kube-apiserver. (structured-merge-diff counts only changed and added
 *   fields as conflicts; counting removals too keeps an apply from ever taking away another
 *   manager's field unasked, whatever shape of value a configuration brings.)
 * - Every other write (create, replace, patches, rollback) is an Update: its manager takes the
 *   fields it changed or added, from whoever owned them; removed fields leave every manager.
 * - An object stored without managedFields (written before field management existed, or reset by
 *   a client) is not tracked by updates; its first apply makes `before-first-apply` the owner of
 *   everything it had, as kube-apiserver does.
 * - kubectl's move from client-side to server-side apply: manager `kubectl` may take fields whose
 *   value still is the one in the last-applied annotation, and keeps that annotation up to date.
 *
 * Everything here is a pure function of its inputs; the time is passed in.
 */
import { isDeepStrictEqual } from 'node:util';
import { BEFORE_FIRST_APPLY_MANAGER, isJsonObject, type ManagedFieldsEntry, type Resource, type StatusCause } from '@portolan/api';
import { describePath, type FieldPath } from './field-path';
import { FieldSet } from './field-set';
import { compareGoStrings, goJson } from './go-json';
import { decodeManagers, encodeManagers, identityOf, type Manager } from './managed-fields';
import { compareValues, fieldSetOf, mergeValues, removeFields, UntypedValueError, withNamedParents, type Comparison, type SchemaNode } from './typed-value';

export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

/** The manager kubectl applies as by default; kube-apiserver treats it specially (see above). */
export const KUBECTL_MANAGER = 'kubectl';

const trackedSchemas = new WeakMap<SchemaNode, SchemaNode>();

/**
 * The part of a kind's schema field management looks at: metadata.labels, metadata.annotations,
 * spec. Built once per kind (every write asks for it).
 */
export function trackedSchemaOf(kindSchema: SchemaNode): SchemaNode {
  let tracked = trackedSchemas.get(kindSchema);
  if (!tracked) {
    const properties = kindSchema.properties as Record<string, SchemaNode>;
    const metadata = properties.metadata.properties as Record<string, SchemaNode>;
    tracked = {
      type: 'object',
      properties: { metadata: { type: 'object', properties: { labels: metadata.labels, annotations: metadata.annotations } }, spec: properties.spec },
    };
    trackedSchemas.set(kindSchema, tracked);
  }
  return tracked;
}

/** `{metadata: {labels, annotations}, spec}` of an object, each only if it has it. */
export function trackedFieldsOf(resource: unknown): Record<string, unknown> {
  if (!isJsonObject(resource)) return {};
  const metadata = isJsonObject(resource.metadata) ? resource.metadata : {};
  const tracked: Record<string, unknown> = {};
  const labelsAndAnnotations = Object.fromEntries(['labels', 'annotations'].filter((name) => metadata[name] !== undefined).map((name) => [name, metadata[name]]));
  if (Object.keys(labelsAndAnnotations).length > 0) tracked.metadata = labelsAndAnnotations;
  if (resource.spec !== undefined) tracked.spec = resource.spec;
  return tracked;
}

function withTrackedFields(resource: Resource, tracked: unknown): Resource {
  const fields = isJsonObject(tracked) ? tracked : {};
  const metadata = isJsonObject(fields.metadata) ? fields.metadata : {};
  const { labels: _labels, annotations: _annotations, ...identity } = resource.metadata;
  const { spec: _spec, ...rest } = resource;
  return {
    ...rest,
    metadata: {
      ...identity,
      ...(metadata.labels !== undefined ? { labels: metadata.labels as Record<string, string> } : {}),
      ...(metadata.annotations !== undefined ? { annotations: metadata.annotations as Record<string, string> } : {}),
    },
    ...(fields.spec !== undefined ? { spec: fields.spec } : {}),
  } as Resource;
}

export interface Conflict {
  owner: Pick<Manager, 'manager' | 'operation' | 'apiVersion'>;
  path: FieldPath;
}

/**
 * Takes what a write changed away from `managers` (structured-merge-diff's update): changed and
 * added fields go to the writer, removed ones go. The conflicts are the `contested` fields each
 * manager owned.
 */
function takeChanges(managers: readonly Manager[], change: Comparison, contested: FieldSet): { managers: Manager[]; conflicts: Conflict[] } {
  const changed = change.modified.union(change.added);
  const conflicts: Conflict[] = [];
  const remaining = managers.map((owner) => {
    for (const path of owner.fields.intersection(contested).paths()) conflicts.push({ owner, path });
    return { ...owner, fields: owner.fields.difference(changed).difference(change.removed) };
  });
  return { managers: remaining, conflicts };
}

export interface ApplyRequest {
  /** The stored object; undefined when the apply creates it. */
  live: Resource | undefined;
  /** The applied configuration, without the fields fieldValidation dropped. */
  config: Resource;
  /** The configuration as the client sent it: the last-applied annotation records it so. */
  sent: unknown;
  manager: string;
  force: boolean;
  /** trackedSchemaOf(the kind's schema). */
  schema: SchemaNode;
  apiVersion: string;
  now: string;
}

export type ApplyOutcome =
  | { conflicts: Conflict[] }
  /** The configuration (`in: 'config'`) or the stored object has a list its type cannot handle (see typed-value.ts). */
  | { untyped: StatusCause; in: 'config' | 'live' }
  | { object: Resource; managedFields: ManagedFieldsEntry[] | undefined };

export function applyConfiguration(request: ApplyRequest): ApplyOutcome {
  const { live, schema } = request;
  const liveFields = trackedFieldsOf(live);
  const configFields = trackedFieldsOf(request.config);
  // Typing both first makes every operation below safe, and names a bad list item exactly.
  let applied: FieldSet;
  let existing: FieldSet;
  try {
    applied = fieldSetOf(configFields, schema);
  } catch (error) {
    if (error instanceof UntypedValueError) return { untyped: error.problem, in: 'config' };
    throw error;
  }
  try {
    existing = fieldSetOf(liveFields, schema);
  } catch (error) {
    if (error instanceof UntypedValueError) return { untyped: error.problem, in: 'live' };
    throw error;
  }
  let managers = decodeManagers(live?.metadata.managedFields);
  if (live && managers.length === 0 && !existing.isEmpty()) {
    managers = [{ manager: BEFORE_FIRST_APPLY_MANAGER, operation: 'Update', apiVersion: request.apiVersion, time: request.now, fields: existing }];
  }
  const applier = { manager: request.manager, operation: 'Apply' as const, apiVersion: request.apiVersion };
  const previous = managers.find((owner) => identityOf(owner) === identityOf(applier));
  const others = managers.filter((owner) => owner !== previous);

  const merged = mergeValues(liveFields, configFields, schema);
  // Fields this manager applied before and dropped now go, unless someone (itself included, through what it applies now) still owns them.
  const stillOwned = withNamedParents(others.reduce((owned, owner) => owned.union(owner.fields), applied), schema);
  const dropped = previous ? withNamedParents(previous.fields, schema).difference(stillOwned) : FieldSet.EMPTY;
  const result = dropped.isEmpty() ? merged : removeFields(merged, dropped, schema);

  const change = compareValues(liveFields, result, schema);
  // What goes with a dropped field goes by right; any other removal is contested like a change.
  const taken = takeChanges(others, change, change.modified.union(change.added).union(change.removed.notCoveredBy(dropped)));
  if (taken.conflicts.length > 0 && !request.force) {
    const asLastApplied = request.manager === KUBECTL_MANAGER && live ? fieldsAsLastApplied(live, liveFields, schema) : undefined;
    const conflicts = asLastApplied ? taken.conflicts.filter((conflict) => !asLastApplied.has(conflict.path)) : taken.conflicts;
    if (conflicts.length > 0) return { conflicts: sortConflicts(conflicts) };
  }

  // The applier's time is when it last changed something, the object or what it owns: an unchanged apply keeps it.
  const changed = !isDeepStrictEqual(liveFields, result) || !previous || !previous.fields.equals(applied);
  const time = changed ? request.now : previous.time;
  const owners = [...taken.managers, { ...applier, fields: applied, ...(time !== undefined ? { time } : {}) }];
  let object = withTrackedFields(live ?? request.config, result);
  if (request.manager === KUBECTL_MANAGER && object.metadata.annotations?.[LAST_APPLIED_ANNOTATION]) object = withLastApplied(object, request.sent);
  return { object, managedFields: encodeManagers(owners) };
}

/**
 * The fields of the last-applied annotation that still have the value it records: client-side
 * apply set them, so the `kubectl` applier may take them without a conflict (kube-apiserver's
 * lastAppliedManager). Undefined when there is no usable annotation.
 */
function fieldsAsLastApplied(live: Resource, liveFields: Record<string, unknown>, schema: SchemaNode): FieldSet | undefined {
  const text = live.metadata.annotations?.[LAST_APPLIED_ANNOTATION];
  if (!text) return undefined;
  let lastApplied: unknown;
  try {
    lastApplied = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isJsonObject(lastApplied) || lastApplied.apiVersion !== live.apiVersion) return undefined;
  const lastFields = trackedFieldsOf(lastApplied);
  try {
    const drift = compareValues(lastFields, liveFields, schema);
    return fieldSetOf(lastFields, schema).difference(drift.modified).difference(drift.added).difference(drift.removed);
  } catch (error) {
    // An annotation written before list keys were required (a limit without a name) is no guide.
    if (error instanceof UntypedValueError) return undefined;
    throw error;
  }
}

/**
 * The annotation as kubectl writes it, from the configuration the client sent (kube-apiserver's
 * lastAppliedUpdater), so that a later client-side apply computes its patch from what was applied.
 */
function withLastApplied(object: Resource, sent: unknown): Resource {
  const config = structuredClone(isJsonObject(sent) ? sent : {}) as Record<string, any>;
  if (isJsonObject(config.metadata) && isJsonObject(config.metadata.annotations)) delete config.metadata.annotations[LAST_APPLIED_ANNOTATION];
  return { ...object, metadata: { ...object.metadata, annotations: { ...object.metadata.annotations, [LAST_APPLIED_ANNOTATION]: `${goJson(config)}\n` } } };
}

/** By owner (manager, operation, API version); each owner's fields stay in path order. */
function sortConflicts(conflicts: Conflict[]): Conflict[] {
  return [...conflicts].sort(
    (a, b) => compareGoStrings(a.owner.manager, b.owner.manager) || compareGoStrings(a.owner.operation, b.owner.operation) || compareGoStrings(a.owner.apiVersion, b.owner.apiVersion),
  );
}

/** A manager as kube-apiserver names it in a conflict: updaters with the API version they wrote in. */
function describeOwner(owner: Conflict['owner']): string {
  return owner.operation === 'Update' ? `${JSON.stringify(owner.manager)} using ${owner.apiVersion}` : JSON.stringify(owner.manager);
}

/** The message and causes of the 409, worded as apimachinery's NewConflictError words them. */
export function describeConflicts(conflicts: readonly Conflict[]): { message: string; causes: StatusCause[] } {
  const causes = conflicts.map((conflict) => ({ reason: 'FieldManagerConflict' as const, message: `conflict with ${describeOwner(conflict.owner)}`, field: describePath(conflict.path) }));
  if (conflicts.length === 1) return { message: `Apply failed with 1 conflict: ${causes[0].message}: ${causes[0].field}`, causes };
  const lines: string[] = [];
  let owner: string | undefined;
  for (const conflict of conflicts) {
    if (describeOwner(conflict.owner) !== owner) {
      owner = describeOwner(conflict.owner);
      lines.push(`conflicts with ${owner}:`);
    }
    lines.push(`- ${describePath(conflict.path)}`);
  }
  return { message: `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`, causes };
}

export interface UpdateRequest {
  /** The stored object; undefined for a create. */
  live: Resource | undefined;
  /** The object to store, with the managedFields its body carried (if any). */
  object: Resource;
  manager: string;
  schema: SchemaNode;
  apiVersion: string;
  now: string;
}

/**
 * The managedFields after a create, replace, patch or a controller's write. A body whose
 * managedFields differ from the stored ones sets them (kubectl rewrites them once to move an
 * object to server-side apply; an empty list resets them); otherwise the stored ones are kept.
 * Either way, the fields this write changed become its manager's. A stored object whose lists
 * cannot be typed (written before list keys were required) loses its managedFields, as
 * kube-apiserver drops what it cannot compute; the next apply starts them afresh.
 */
export function recordUpdate(request: UpdateRequest): ManagedFieldsEntry[] | undefined {
  const requested = request.object.metadata.managedFields;
  const stored = request.live?.metadata.managedFields;
  const explicit = requested !== undefined && !isDeepStrictEqual(requested, stored);
  if (explicit && requested.length === 0) return undefined;
  const managers = decodeManagers(explicit ? requested : stored);
  // kube-apiserver starts tracking an object when it is created or first applied, not in between.
  if (!explicit && request.live && managers.length === 0) return undefined;

  let change: Comparison;
  try {
    change = compareValues(trackedFieldsOf(request.live), trackedFieldsOf(request.object), request.schema);
  } catch (error) {
    if (error instanceof UntypedValueError) return undefined;
    throw error;
  }
  const updater = { manager: request.manager, operation: 'Update' as const, apiVersion: request.apiVersion };
  const previous = managers.find((owner) => identityOf(owner) === identityOf(updater));
  // An update takes what it changes whoever owns it: nothing is contested.
  const others = takeChanges(
    managers.filter((owner) => owner !== previous),
    change,
    FieldSet.EMPTY,
  ).managers;
  const changed = change.modified.union(change.added);
  const own = previous?.fields.difference(change.removed) ?? FieldSet.EMPTY;
  // Only a write that set something stamps the time, so a no-op leaves managedFields as they were.
  const self = changed.isEmpty() ? previous && { ...previous, fields: own } : { ...updater, time: request.now, fields: own.union(changed) };
  return encodeManagers(self ? [...others, self] : others);
}
