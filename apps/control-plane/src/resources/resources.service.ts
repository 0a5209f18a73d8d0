/**
 * Admission and storage of mesh resources, in Kubernetes semantics: server-set metadata,
 * validation that names every bad field, unknown-field handling per fieldValidation, dry run,
 * optimistic concurrency, generation bumps on spec changes only, no-op writes that publish
 * nothing, and field ownership with server-side apply (field-management/). Every write path
 * (create, replace, patch, apply, rollback) goes through `admit`.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import {
  API_GROUP,
  DEFAULT_NAMESPACE,
  findUnknownFields,
  formatTime,
  GROUP_VERSION,
  isJsonObject,
  kindByPlural,
  KINDS,
  nestingCause,
  pruneUnknownFields,
  validateResource,
  type KindDefinition,
  type ManagedFieldsEntry,
  type PolicyRollout,
  type Resource,
  type StatusCause,
} from '@portolan/api';
import { ApiError, fromStoreError } from '../errors/api-error';
import { singleParameter } from '../errors/query-parameters';
import { EVENT_JOURNAL, type EventJournal } from '../events/event-journal';
import { keyOf, RESOURCE_STORE, StoreAlreadyExistsError, StoreConflictError, type Change, type ObjectKey, type ResourceStore } from '../store/resource-store';
import { APPLY_PATCH, applyPatch, JSON_PATCH, type PatchType } from './patch';
import { applyConfiguration, describeConflicts, recordUpdate, trackedSchemaOf } from './field-management/field-manager';
import { fieldManagerCauses, ManagedFieldsInvalid, updateManagerName } from './field-management/managed-fields';
import { BlastRadiusService } from '../distribution/blast-radius.service';
import { RegistryResourcesService } from '../registry/registry-resources.service';
import { PolicyStatusService } from './policy-status.service';
import { fieldSelector, labelSelector } from './selectors';

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

export interface WriteRequest {
  actor: string;
  dryRun: boolean;
  fieldValidation: FieldValidation;
  /** `?fieldManager=` as sent: the owner of the fields the write sets; required for server-side apply. */
  fieldManager?: string;
  /** Names the manager of a write without fieldManager (the product: `kubectl`, `curl`). */
  userAgent?: string;
  /** `?force=`: server-side apply takes the fields other managers own instead of answering 409. */
  force?: boolean;
}

export interface WriteResult {
  object: Resource;
  /** Kubernetes warnings (unknown fields dropped under Warn), sent as `Warning` headers. */
  warnings: string[];
  created: boolean;
}

/** How often a patch without a resourceVersion is re-applied when another writer got there first. */
const MAX_PATCH_ATTEMPTS = 64;

export function parseFieldValidation(value: unknown): FieldValidation {
  if (value === undefined || value === '') return 'Warn';
  if (value === 'Strict' || value === 'Warn' || value === 'Ignore') return value;
  throw ApiError.badRequest(`fieldValidation must be Strict, Warn or Ignore, not ${JSON.stringify(value)}`);
}

/** `?force=` as Go's strconv.ParseBool reads it; undefined when absent. Given twice, it is a 400. */
export function parseForce(value: unknown): boolean | undefined {
  if (value === undefined) return undefined;
  const text = singleParameter({ force: value as string | string[] }, 'force') ?? '';
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(text)) return false;
  throw ApiError.badRequest(`force must be true or false, not ${JSON.stringify(text)}`);
}

type WriteOptionsKind = 'CreateOptions' | 'UpdateOptions' | 'PatchOptions';

/** A bad query parameter, as kube-apiserver reports it: `PatchOptions.meta.k8s.io "" is invalid: fieldManager: …`. */
function invalidOptions(kind: WriteOptionsKind, causes: StatusCause[]): ApiError {
  const summary = causes.map((cause) => `${cause.field}: ${cause.message}`).join(', ');
  return ApiError.of(422, 'Invalid', `${kind}.meta.k8s.io "" is invalid: ${summary}`, { kind, group: 'meta.k8s.io', name: '', causes });
}

/**
 * The request with its options checked. `?fieldManager=` comes as the query parser gave it: a
 * parameter given twice is an array, refused (400) rather than taken for a manager's name.
 */
function checkWriteOptions(kind: WriteOptionsKind, request: WriteRequest): WriteRequest {
  const fieldManager = singleParameter({ fieldManager: request.fieldManager as string | string[] | undefined }, 'fieldManager');
  const causes = fieldManagerCauses(fieldManager);
  if (causes.length) throw invalidOptions(kind, causes);
  return { ...request, fieldManager };
}

/** The ownership an apply computed, stored as is; without one, admit records the write as an Update. */
interface AppliedOwnership {
  managedFields: ManagedFieldsEntry[] | undefined;
}

/**
 * How deep a request body may nest objects and lists. A mesh object nests about 10 levels (its
 * managedFields the deepest); a few thousand would overflow the recursion of cloning, comparing
 * and encoding it, so a body is measured (without recursion) before anything else reads it.
 */
const MAX_BODY_NESTING = 64;

const WRITE_VERBS: Record<Change['type'], { reason: string; past: string }> = {
  ADDED: { reason: 'Created', past: 'created' },
  MODIFIED: { reason: 'Updated', past: 'updated' },
  DELETED: { reason: 'Deleted', past: 'deleted' },
};

@Injectable()
export class ResourcesService {
  private readonly logger = new Logger('resources');

  constructor(
    @Inject(RESOURCE_STORE) private readonly store: ResourceStore,
    private readonly policyStatus: PolicyStatusService,
    private readonly registryResources: RegistryResourcesService,
    private readonly blastRadius: BlastRadiusService,
    @Inject(EVENT_JOURNAL) private readonly journal: Pick<EventJournal, 'record'>,
  ) {}

  definition(plural: string): KindDefinition {
    const definition = kindByPlural(plural);
    if (!definition) throw ApiError.of(404, 'NotFound', `the server could not find the requested resource: ${plural} is not a resource of ${GROUP_VERSION}`);
    return definition;
  }

  /** Registry kinds (GatewayNode, ServiceInstance) are read-only: nodes manage themselves. */
  writableDefinition(plural: string): KindDefinition {
    const definition = this.definition(plural);
    if (definition.managedBy === 'registry') {
      throw ApiError.of(
        405,
        'MethodNotAllowed',
        `${definition.plural} are read-only: ${definition.kind} objects are written by the registry as nodes register, heartbeat and deregister through the agent protocol (docs/agent-protocol.md)`,
        { kind: definition.plural, group: API_GROUP },
      );
    }
    return definition;
  }

  /** The object as clients see it: with the status derived from the current revision. */
  withStatus(resource: Resource): Promise<Resource> {
    return this.policyStatus.withStatus(resource);
  }

  /** Policies whose derived rollout status changed without a write (for watches). */
  watchRollouts(listener: (changed: ObjectKey[]) => void): () => void {
    return this.policyStatus.watchRollouts(listener);
  }

  async get(plural: string, namespace: string, name: string): Promise<Resource> {
    const definition = this.definition(plural);
    if (definition.managedBy === 'registry') {
      const node = this.registryResources.get(definition.kind, namespace, name);
      if (!node) throw ApiError.notFound(plural, name, API_GROUP);
      return node;
    }
    const found = await this.store.get({ kind: definition.kind, namespace, name });
    if (!found) throw ApiError.notFound(plural, name, API_GROUP);
    return this.policyStatus.withStatus(found);
  }

  async list(plural: string, namespace: string | undefined, selectors: { label?: string; field?: string }) {
    const definition = this.definition(plural);
    const byLabel = labelSelector(selectors.label);
    const byField = fieldSelector(selectors.field);
    const { items, revision } =
      definition.managedBy === 'registry' ? this.registryResources.list(definition.kind, namespace) : await this.store.list({ kind: definition.kind, namespace });
    const selected = items.filter((item) => byLabel(item) && byField(item));
    return { definition, items: await Promise.all(selected.map((item) => this.policyStatus.withStatus(item))), revision };
  }

  async create(plural: string, namespace: string, body: unknown, request: WriteRequest): Promise<WriteResult> {
    const definition = this.writableDefinition(plural);
    return this.createAdmitted(definition, namespace, body, checkWriteOptions('CreateOptions', request));
  }

  private async createAdmitted(definition: KindDefinition, namespace: string, body: unknown, request: WriteRequest, applied?: AppliedOwnership): Promise<WriteResult> {
    const plural = definition.plural;
    const { object, warnings } = this.admit(definition, namespace, undefined, body, undefined, request, applied);
    if (request.dryRun) {
      const existing = await this.store.get({ kind: definition.kind, namespace, name: object.metadata.name });
      if (existing) throw fromStoreError(new StoreAlreadyExistsError(keyOf(object)), plural, API_GROUP);
      return { object: await this.withBlastRadius(object, null, object), warnings, created: true };
    }
    try {
      const stored = await this.store.create(object, { actor: request.actor });
      this.recordWrite(stored, 'ADDED', request.actor);
      return { object: await this.policyStatus.withStatus(stored), warnings, created: true };
    } catch (error) {
      throw fromStoreError(error, plural, API_GROUP);
    }
  }

  async replace(plural: string, namespace: string, name: string, body: unknown, options: WriteRequest): Promise<WriteResult> {
    const definition = this.writableDefinition(plural);
    const request = checkWriteOptions('UpdateOptions', options);
    const key = { kind: definition.kind, namespace, name };
    const current = await this.store.get(key);
    if (!current) throw ApiError.notFound(plural, name, API_GROUP);
    const expected = isJsonObject(body) && isJsonObject(body.metadata) ? (body.metadata.resourceVersion as string | undefined) : undefined;
    return this.commitUpdate(definition, key, current, body, expected, request);
  }

  async patch(plural: string, namespace: string, name: string, type: PatchType, patch: unknown, options: WriteRequest): Promise<WriteResult> {
    const definition = this.writableDefinition(plural);
    const request = checkWriteOptions('PatchOptions', options);
    if (type === APPLY_PATCH) return this.apply(definition, namespace, name, patch, request);
    if (request.force !== undefined) throw invalidOptions('PatchOptions', [{ field: 'force', reason: 'FieldValueForbidden', message: 'Forbidden: may not be specified for non-apply patch' }]);
    // A merge patch has the object's shape; a JSON patch is a list of operations, measured as such.
    refuseDeepNesting(definition, name, patch, type === JSON_PATCH ? undefined : definition.schema);
    const key = { kind: definition.kind, namespace, name };
    for (let attempt = 1; ; attempt++) {
      const current = await this.store.get(key);
      if (!current) throw ApiError.notFound(plural, name, API_GROUP);
      const patched = applyPatch(type, current, patch);
      const requested = isJsonObject(patched) && isJsonObject(patched.metadata) ? (patched.metadata.resourceVersion as string | undefined) : undefined;
      // A patch that names a resourceVersion is a precondition; one that does not is applied to the latest.
      const pinned = requested !== undefined && requested !== current.metadata.resourceVersion;
      try {
        return await this.commitUpdate(definition, key, current, patched, pinned ? requested : current.metadata.resourceVersion, request);
      } catch (error) {
        const conflict = error instanceof ApiError && error.status.reason === 'Conflict';
        if (!conflict || pinned || attempt >= MAX_PATCH_ATTEMPTS) throw error;
      }
    }
  }

  /**
   * Server-side apply (PATCH application/apply-patch+yaml): creates the object, or merges the
   * configuration into it and makes the manager the owner of what it applied; a field another
   * manager owns and the apply would change is a 409 Conflict unless `force` (field-management/).
   */
  private async apply(definition: KindDefinition, namespace: string, name: string, body: unknown, request: WriteRequest): Promise<WriteResult> {
    const manager = request.fieldManager;
    if (!manager) throw invalidOptions('PatchOptions', [{ field: 'fieldManager', reason: 'FieldValueRequired', message: 'Required value: is required for apply patch' }]);
    const { config, warnings } = this.screenApplyConfiguration(definition, namespace, name, body, request);
    const key = { kind: definition.kind, namespace, name };
    // A configuration that names a resourceVersion is a precondition; one that does not applies to the latest.
    const pinned = config.metadata.resourceVersion;
    for (let attempt = 1; ; attempt++) {
      const current = (await this.store.get(key)) ?? undefined;
      const outcome = applyConfiguration({ live: current, config, sent: body, manager, force: request.force === true, schema: trackedSchemaOf(definition.schema), apiVersion: GROUP_VERSION, now: formatTime() });
      if ('conflicts' in outcome) {
        const { message, causes } = describeConflicts(outcome.conflicts);
        throw ApiError.of(409, 'Conflict', message, { causes });
      }
      if ('untyped' in outcome) throw untypedListError(definition, name, outcome.untyped, outcome.in);
      const applied = { managedFields: outcome.managedFields };
      try {
        const result = current
          ? await this.commitUpdate(definition, key, current, outcome.object, pinned ?? current.metadata.resourceVersion, request, applied)
          : await this.createAdmitted(definition, namespace, outcome.object, request, applied);
        return { ...result, warnings: [...warnings, ...result.warnings] };
      } catch (error) {
        const lostRace = error instanceof ApiError && (error.status.reason === 'Conflict' || error.status.reason === 'AlreadyExists');
        if (!lostRace || pinned !== undefined || attempt >= MAX_PATCH_ATTEMPTS) throw error;
      }
    }
  }

  /** The applied configuration, checked like any body before it is merged: identity, apiVersion, unknown fields. */
  private screenApplyConfiguration(definition: KindDefinition, namespace: string, name: string, body: unknown, request: WriteRequest): { config: Resource; warnings: string[] } {
    if (!isJsonObject(body)) throw ApiError.badRequest('an apply patch must be a YAML or JSON object: the configuration to apply');
    // null is nil, as kube-apiserver decodes it: the same as leaving the field out.
    if (isJsonObject(body.metadata) && body.metadata.managedFields !== undefined && body.metadata.managedFields !== null) {
      throw ApiError.badRequest('metadata.managedFields must be nil in an apply patch: the server records who applied which fields; leave it out of the configuration');
    }
    const input = this.identified(definition, namespace, name, body);
    delete input.metadata.managedFields;
    if (input.apiVersion !== GROUP_VERSION) {
      throw ApiError.invalid(definition.kind, name, [{ field: 'apiVersion', reason: 'FieldValueNotSupported', message: `Unsupported value: ${JSON.stringify(input.apiVersion)}: supported values: "${GROUP_VERSION}"` }], API_GROUP);
    }
    const { object, warnings } = this.withoutUnknownFields(definition, input, findUnknownFields(definition.schema, input), request);
    return { config: object, warnings };
  }

  async delete(plural: string, namespace: string, name: string, options: { actor: string; dryRun: boolean; expectedResourceVersion?: string }): Promise<Resource> {
    const definition = this.writableDefinition(plural);
    const key = { kind: definition.kind, namespace, name };
    if (options.dryRun) {
      const current = await this.store.get(key);
      if (!current) throw ApiError.notFound(plural, name, API_GROUP);
      return this.withBlastRadius(current, current, null);
    }
    try {
      const deleted = await this.store.delete(key, { actor: options.actor, expectedResourceVersion: options.expectedResourceVersion });
      this.recordWrite(deleted, 'DELETED', options.actor);
      return deleted;
    } catch (error) {
      throw fromStoreError(error, plural, API_GROUP);
    }
  }

  /** The gateways a policy reaches and what each answered; only policies have a rollout. */
  async rollout(plural: string, namespace: string, name: string): Promise<PolicyRollout> {
    const definition = this.definition(plural);
    if (!definition.isPolicy) throw ApiError.of(404, 'NotFound', `${plural} have no rollout: only policies (${KINDS.filter((kind) => kind.isPolicy).map((kind) => kind.plural).join(', ')}) are pushed to gateways as such`);
    const found = await this.store.get({ kind: definition.kind, namespace, name });
    if (!found) throw ApiError.notFound(plural, name, API_GROUP);
    return this.policyStatus.rolloutOf(found);
  }

  async history(plural: string, namespace: string, name: string): Promise<Change[]> {
    const definition = this.writableDefinition(plural);
    const changes = await this.store.history({ kind: definition.kind, namespace, name });
    if (changes.length === 0) throw ApiError.notFound(plural, name, API_GROUP);
    return changes;
  }

  /** Restores the object as it was right after `revision`; recorded as a new change. */
  async rollback(plural: string, namespace: string, name: string, revision: unknown, options: WriteRequest): Promise<WriteResult> {
    const request = checkWriteOptions('UpdateOptions', options);
    if (!Number.isInteger(revision) || (revision as number) < 1) {
      const cause =
        revision === undefined
          ? { field: 'revision', reason: 'FieldValueRequired' as const, message: 'Required value: the revision to restore, from the object\'s history (GET …/history)' }
          : { field: 'revision', reason: 'FieldValueInvalid' as const, message: `Invalid value: ${JSON.stringify(revision)}: must be a positive integer (a revision from the history)` };
      throw ApiError.invalid('Rollback', name, [cause]);
    }
    const changes = await this.history(plural, namespace, name);
    const target = changes.find((change) => change.revision === revision);
    if (!target) {
      const kept = changes.map((c) => c.revision).join(', ');
      const { compactedRevision, keepPerObject } = await this.store.compaction();
      // The kept changes of an object are its newest ones: an older revision may have been one of its compacted changes.
      const compacted = (revision as number) < changes[0].revision && (revision as number) <= compactedRevision;
      const why = compacted ? `changes up to revision ${compactedRevision} were compacted, keeping the newest ${keepPerObject} of each object (PORTOLAN_HISTORY_LIMIT); ` : '';
      throw ApiError.invalid('Rollback', name, [{ field: 'revision', reason: 'FieldValueNotSupported', message: `Unsupported value: ${revision}: ${why}revisions of this object: ${kept}` }]);
    }
    if (!target.after) {
      throw ApiError.invalid('Rollback', name, [{ field: 'revision', reason: 'FieldValueInvalid', message: `Invalid value: ${revision}: the object was deleted at that revision` }]);
    }
    const { metadata, spec } = target.after;
    const restored = { apiVersion: GROUP_VERSION, kind: target.after.kind, metadata: { name, namespace, labels: metadata.labels, annotations: metadata.annotations }, spec };
    const actor = { ...request, actor: `${request.actor} (rollback to revision ${revision})` };
    const current = await this.store.get(target.key);
    if (!current) return this.create(plural, namespace, restored, actor);
    return this.commitUpdate(this.writableDefinition(plural), target.key, current, restored, current.metadata.resourceVersion, actor);
  }

  private async commitUpdate(
    definition: KindDefinition,
    key: ObjectKey,
    current: Resource,
    body: unknown,
    expectedResourceVersion: string | undefined,
    request: WriteRequest,
    applied?: AppliedOwnership,
  ): Promise<WriteResult> {
    const { object, warnings } = this.admit(definition, key.namespace, key.name, body, current, request, applied);
    if (expectedResourceVersion !== undefined && expectedResourceVersion !== current.metadata.resourceVersion) {
      throw fromStoreError(new StoreConflictError(key, expectedResourceVersion, current.metadata.resourceVersion ?? ''), definition.plural, API_GROUP);
    }
    const unchanged = isDeepStrictEqual(comparable(object), comparable(current));
    if (request.dryRun || unchanged) {
      const answer = await this.policyStatus.withStatus(unchanged ? current : { ...object, metadata: { ...object.metadata, resourceVersion: current.metadata.resourceVersion } });
      // A write that changes nothing answers the stored object as a GET does, so that
      // `kubectl diff` (which compares the two whole, status included) finds no difference.
      return { object: request.dryRun && !unchanged ? await this.withBlastRadius(answer, current, object) : answer, warnings, created: false };
    }
    try {
      const stored = await this.store.update(object, { actor: request.actor, expectedResourceVersion: expectedResourceVersion ?? current.metadata.resourceVersion });
      this.recordWrite(stored, 'MODIFIED', request.actor);
      return { object: await this.policyStatus.withStatus(stored), warnings, created: false };
    } catch (error) {
      throw fromStoreError(error, definition.plural, API_GROUP);
    }
  }

  /** A dry run answers, besides the object, which gateways the change would reach and how. */
  private async withBlastRadius(answer: Resource, before: Resource | null, after: Resource | null): Promise<Resource> {
    const blastRadius = await this.blastRadius.of(before, after);
    return { ...answer, status: { ...answer.status, blastRadius } } as Resource;
  }

  /**
   * Every committed write is logged and becomes an event, so "what changed just before this?" is
   * answered next to the NACKs, scaling and failovers it may have caused (the dashboard's Overview).
   */
  private recordWrite(resource: Resource, change: Change['type'], actor: string): void {
    const { namespace = DEFAULT_NAMESPACE, name, resourceVersion } = resource.metadata;
    this.logger.log({ msg: 'resource written', change, kind: resource.kind, namespace, name, resourceVersion, actor });
    const verb = WRITE_VERBS[change];
    this.journal
      .record({
        type: 'Normal',
        reason: verb.reason,
        regarding: { kind: resource.kind, namespace, name },
        source: 'api',
        message: `${resource.kind} ${namespace}/${name} ${verb.past} by ${actor} (revision ${resourceVersion})`,
        details: { revision: Number(resourceVersion), actor, ...(resource.metadata.generation !== undefined ? { generation: resource.metadata.generation } : {}) },
      })
      .catch((error: Error) => this.logger.warn(`the write of ${resource.kind} ${namespace}/${name} could not be recorded as an event: ${error.message}`));
  }

  /**
   * Turns a request body into the object to store, or throws the Status that explains why not.
   * Server-owned fields (uid, creationTimestamp, generation, status) are never taken from the
   * client; managedFields are the apply's (`applied`) or follow from what this write changed.
   */
  private admit(
    definition: KindDefinition,
    namespace: string,
    urlName: string | undefined,
    body: unknown,
    current: Resource | undefined,
    request: WriteRequest,
    applied?: AppliedOwnership,
  ): { object: Resource; warnings: string[] } {
    const input = this.identified(definition, namespace, urlName, body);
    // `[{}]` is how the Kubernetes documentation tells users to clear managedFields; it means what `[]` means.
    if (isDeepStrictEqual(input.metadata.managedFields, [{}])) input.metadata.managedFields = [];

    const validation = validateResource(input);
    const name = typeof input.metadata.name === 'string' ? input.metadata.name : '';
    if (validation.causes.length) throw ApiError.invalid(definition.kind, name, validation.causes, API_GROUP);
    const { object, warnings } = this.withoutUnknownFields(definition, input, validation.unknownFields, request);
    const managedFields = applied ? applied.managedFields : this.updatedManagedFields(definition, current, object, request);

    const specChanged = !current || !isDeepStrictEqual(current.spec, object.spec);
    const { managedFields: _sent, ...metadata } = object.metadata;
    object.metadata = {
      ...metadata,
      namespace: namespace ?? DEFAULT_NAMESPACE,
      uid: current?.metadata.uid ?? randomUUID(),
      creationTimestamp: current?.metadata.creationTimestamp ?? formatTime(),
      generation: current ? (current.metadata.generation ?? 1) + (specChanged ? 1 : 0) : 1,
      resourceVersion: current?.metadata.resourceVersion,
      ...(managedFields ? { managedFields } : {}),
    };
    if (object.metadata.resourceVersion === undefined) delete object.metadata.resourceVersion;
    // A controller writes this kind's status into the store (the failover controller's zone
    // decisions); a client's write of the spec must not wipe it.
    if (current?.status && CONTROLLER_STATUS_KINDS.has(definition.kind)) object.status = current.status;
    return { object: orderKeys(object), warnings };
  }

  /** A copy of the body with apiVersion, kind, namespace and name checked against the URL and filled in, and without status. */
  private identified(definition: KindDefinition, namespace: string, urlName: string | undefined, body: unknown): Record<string, any> {
    if (!isJsonObject(body)) throw ApiError.badRequest('the request body must be a JSON (or YAML) object');
    refuseDeepNesting(definition, urlName ?? (isJsonObject(body.metadata) && typeof body.metadata.name === 'string' ? body.metadata.name : ''), body, definition.schema);
    const input = structuredClone(body) as Record<string, any>;
    input.apiVersion ??= GROUP_VERSION;
    input.kind ??= definition.kind;
    if (input.kind !== definition.kind) {
      throw ApiError.badRequest(`the kind in the body (${quoted(input.kind)}) does not match the resource in the URL (${definition.plural}, kind ${definition.kind})`);
    }
    const metadata = isJsonObject(input.metadata) ? (input.metadata as Record<string, any>) : {};
    input.metadata = metadata;
    if (metadata.namespace !== undefined && metadata.namespace !== namespace) {
      throw ApiError.badRequest(`the namespace of the provided object (${quoted(metadata.namespace)}) does not match the namespace sent on the request (${namespace})`);
    }
    metadata.namespace = namespace;
    if (urlName !== undefined && metadata.name !== undefined && metadata.name !== urlName) {
      throw ApiError.badRequest(`the name of the object (${quoted(metadata.name)}) does not match the name in the URL (${urlName})`);
    }
    if (urlName !== undefined) metadata.name = urlName;
    delete input.status;
    return input;
  }

  /** fieldValidation: Strict refuses unknown fields, Warn drops them with a warning each, Ignore drops them. */
  private withoutUnknownFields(definition: KindDefinition, input: Record<string, any>, unknownFields: string[], request: WriteRequest): { object: Resource; warnings: string[] } {
    if (unknownFields.length && request.fieldValidation === 'Strict') {
      const list = unknownFields.map((field) => `unknown field "${field}"`).join(', ');
      throw ApiError.badRequest(`${definition.kind} in version "${GROUP_VERSION.split('/')[1]}" cannot be handled as a ${definition.kind}: strict decoding error: ${list}`);
    }
    const warnings = request.fieldValidation === 'Warn' ? unknownFields.map((field) => `unknown field "${field}"`) : [];
    return { object: pruneUnknownFields(definition.schema, input) as unknown as Resource, warnings };
  }

  /** The managedFields after a create, replace, patch or rollback: an Update by the request's manager. */
  private updatedManagedFields(definition: KindDefinition, current: Resource | undefined, object: Resource, request: WriteRequest): ManagedFieldsEntry[] | undefined {
    try {
      return recordUpdate({
        live: current,
        object,
        manager: updateManagerName(request.fieldManager, request.userAgent),
        schema: trackedSchemaOf(definition.schema),
        apiVersion: GROUP_VERSION,
        now: formatTime(),
      });
    } catch (error) {
      if (error instanceof ManagedFieldsInvalid) throw ApiError.invalid(definition.kind, object.metadata.name, error.causes, API_GROUP);
      throw error;
    }
  }
}

/**
 * A body nested deeper than MAX_BODY_NESTING: 422 naming the field where it happens (measured
 * against the kind's schema), or 400 for a body that is not shaped as the object (a JSON patch).
 */
function refuseDeepNesting(definition: KindDefinition, name: string, body: unknown, schema: KindDefinition['schema'] | undefined): void {
  const cause = nestingCause(schema, body, MAX_BODY_NESTING);
  if (!cause) return;
  if (!schema) throw ApiError.badRequest(`the request body nests objects and lists more than ${MAX_BODY_NESTING} levels deep`);
  throw ApiError.invalid(definition.kind, name, [cause], API_GROUP);
}

/**
 * An apply that cannot be merged because a list cannot be told apart item by item: in the
 * configuration, said as validation says it; in the stored object (written before list keys
 * were required), with the way out, since an apply cannot merge into it.
 */
function untypedListError(definition: KindDefinition, name: string, cause: StatusCause, where: 'config' | 'live'): ApiError {
  if (where === 'config') return ApiError.invalid(definition.kind, name, [cause], API_GROUP);
  const message = `${cause.message} (in the stored object, written before this was checked: write the whole object once with kubectl replace, kubectl edit or a client-side kubectl apply, then apply again)`;
  return ApiError.invalid(definition.kind, name, [{ ...cause, message }], API_GROUP);
}

/**
 * A value from a body, as a message quotes it: text as it is, anything else as JSON. String()
 * throws on an object whose toString is not a function (`{"toString": 1}`), which JSON can carry.
 */
function quoted(value: unknown): string {
  return typeof value === 'string' ? value : (JSON.stringify(value) ?? 'undefined');
}

/** Kinds whose status a leader controller stores with the object (rather than one derived when read). */
const CONTROLLER_STATUS_KINDS = new Set(['FailoverPolicy']);

/** What a write may change: everything but the version stamp and the derived status. */
function comparable(resource: Resource) {
  const { status: _status, metadata, ...rest } = resource;
  const { resourceVersion: _version, ...identity } = metadata;
  return { ...rest, metadata: identity };
}

/** apiVersion, kind, metadata, spec: the order kubectl users expect to read. */
function orderKeys(resource: Resource): Resource {
  const { apiVersion, kind, metadata, spec, ...rest } = resource;
  return { apiVersion, kind, metadata, spec, ...rest };
}
