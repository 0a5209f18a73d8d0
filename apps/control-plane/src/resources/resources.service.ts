/**
 * Admission and storage of mesh resources, in Kubernetes semantics: server-set metadata,
 * validation that names every bad field, unknown-field handling per fieldValidation, dry run,
 * optimistic concurrency, generation bumps on spec changes only, and no-op writes that publish
 * nothing. Every write path (create, replace, patch, rollback) goes through `admit`.
 */
import { Inject, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import {
  API_GROUP,
  DEFAULT_NAMESPACE,
  formatTime,
  GROUP_VERSION,
  isJsonObject,
  kindByPlural,
  KINDS,
  pruneUnknownFields,
  validateResource,
  type KindDefinition,
  type PolicyRollout,
  type Resource,
} from '@portolan/api';
import { ApiError, fromStoreError } from '../errors/api-error';
import { EVENT_JOURNAL, type EventJournal } from '../events/event-journal';
import { keyOf, RESOURCE_STORE, StoreAlreadyExistsError, StoreConflictError, type Change, type ObjectKey, type ResourceStore } from '../store/resource-store';
import { APPLY_PATCH, applyPatch, type PatchType } from './patch';
import { BlastRadiusService } from '../distribution/blast-radius.service';
import { RegistryResourcesService } from '../registry/registry-resources.service';
import { PolicyStatusService } from './policy-status.service';
import { fieldSelector, labelSelector } from './selectors';

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

export interface WriteRequest {
  actor: string;
  dryRun: boolean;
  fieldValidation: FieldValidation;
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
    const { object, warnings } = this.admit(definition, namespace, undefined, body, undefined, request);
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

  async replace(plural: string, namespace: string, name: string, body: unknown, request: WriteRequest): Promise<WriteResult> {
    const definition = this.writableDefinition(plural);
    const key = { kind: definition.kind, namespace, name };
    const current = await this.store.get(key);
    if (!current) throw ApiError.notFound(plural, name, API_GROUP);
    const expected = isJsonObject(body) && isJsonObject(body.metadata) ? (body.metadata.resourceVersion as string | undefined) : undefined;
    return this.commitUpdate(definition, key, current, body, expected, request);
  }

  async patch(plural: string, namespace: string, name: string, type: PatchType, patch: unknown, request: WriteRequest): Promise<WriteResult> {
    const definition = this.writableDefinition(plural);
    const key = { kind: definition.kind, namespace, name };
    for (let attempt = 1; ; attempt++) {
      const current = await this.store.get(key);
      if (!current) {
        if (type === APPLY_PATCH) return this.create(plural, namespace, withName(patch, name), request);
        throw ApiError.notFound(plural, name, API_GROUP);
      }
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
  async rollback(plural: string, namespace: string, name: string, revision: unknown, request: WriteRequest): Promise<WriteResult> {
    if (!Number.isInteger(revision) || (revision as number) < 1) {
      throw ApiError.invalid('Rollback', name, [{ field: 'revision', reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(revision)}: must be a positive integer (a revision from the history)` }]);
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
  ): Promise<WriteResult> {
    const { object, warnings } = this.admit(definition, key.namespace, key.name, body, current, request);
    if (expectedResourceVersion !== undefined && expectedResourceVersion !== current.metadata.resourceVersion) {
      throw fromStoreError(new StoreConflictError(key, expectedResourceVersion, current.metadata.resourceVersion ?? ''), definition.plural, API_GROUP);
    }
    const unchanged = isDeepStrictEqual(comparable(object), comparable(current));
    if (request.dryRun || unchanged) {
      const answer = await this.policyStatus.withStatus(unchanged ? current : { ...object, metadata: { ...object.metadata, resourceVersion: current.metadata.resourceVersion } });
      return { object: request.dryRun ? await this.withBlastRadius(answer, current, object) : answer, warnings, created: false };
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
   * Server-owned fields (uid, creationTimestamp, generation, status) are never taken from the client.
   */
  private admit(
    definition: KindDefinition,
    namespace: string,
    urlName: string | undefined,
    body: unknown,
    current: Resource | undefined,
    request: WriteRequest,
  ): { object: Resource; warnings: string[] } {
    if (!isJsonObject(body)) throw ApiError.badRequest('the request body must be a JSON (or YAML) object');
    const input = structuredClone(body) as Record<string, any>;
    input.apiVersion ??= GROUP_VERSION;
    input.kind ??= definition.kind;
    if (input.kind !== definition.kind) {
      throw ApiError.badRequest(`the kind in the body (${String(input.kind)}) does not match the resource in the URL (${definition.plural}, kind ${definition.kind})`);
    }
    const metadata = isJsonObject(input.metadata) ? (input.metadata as Record<string, any>) : {};
    input.metadata = metadata;
    if (metadata.namespace !== undefined && metadata.namespace !== namespace) {
      throw ApiError.badRequest(`the namespace of the provided object (${String(metadata.namespace)}) does not match the namespace sent on the request (${namespace})`);
    }
    metadata.namespace = namespace;
    if (urlName !== undefined && metadata.name !== undefined && metadata.name !== urlName) {
      throw ApiError.badRequest(`the name of the object (${String(metadata.name)}) does not match the name in the URL (${urlName})`);
    }
    if (urlName !== undefined) metadata.name = urlName;
    delete input.status;

    const validation = validateResource(input);
    const name = typeof metadata.name === 'string' ? metadata.name : '';
    if (validation.causes.length) throw ApiError.invalid(definition.kind, name, validation.causes, API_GROUP);
    if (validation.unknownFields.length && request.fieldValidation === 'Strict') {
      const list = validation.unknownFields.map((field) => `unknown field "${field}"`).join(', ');
      throw ApiError.badRequest(`${definition.kind} in version "${GROUP_VERSION.split('/')[1]}" cannot be handled as a ${definition.kind}: strict decoding error: ${list}`);
    }
    const warnings = request.fieldValidation === 'Warn' ? validation.unknownFields.map((field) => `unknown field "${field}"`) : [];
    const object = pruneUnknownFields(definition.schema, input) as unknown as Resource;

    const specChanged = !current || !isDeepStrictEqual(current.spec, object.spec);
    object.metadata = {
      ...object.metadata,
      namespace: namespace ?? DEFAULT_NAMESPACE,
      uid: current?.metadata.uid ?? randomUUID(),
      creationTimestamp: current?.metadata.creationTimestamp ?? formatTime(),
      generation: current ? (current.metadata.generation ?? 1) + (specChanged ? 1 : 0) : 1,
      resourceVersion: current?.metadata.resourceVersion,
    };
    if (object.metadata.resourceVersion === undefined) delete object.metadata.resourceVersion;
    // A controller writes this kind's status into the store (the failover controller's zone
    // decisions); a client's write of the spec must not wipe it.
    if (current?.status && CONTROLLER_STATUS_KINDS.has(definition.kind)) object.status = current.status;
    return { object: orderKeys(object), warnings };
  }
}

/** Kinds whose status a leader controller stores with the object (rather than one derived when read). */
const CONTROLLER_STATUS_KINDS = new Set(['FailoverPolicy']);

/** Server-side apply names the object in the URL; the body may leave metadata.name out. */
function withName(body: unknown, name: string): unknown {
  if (!isJsonObject(body)) return body;
  return { ...body, metadata: { ...(isJsonObject(body.metadata) ? body.metadata : {}), name } };
}

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
