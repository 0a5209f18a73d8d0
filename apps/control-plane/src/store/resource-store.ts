/**
 * The store contract. The embedded SQLite store implements it today and a Consul store will later;
 * both must pass `resource-store.contract.ts`. Every write bumps the mesh-wide revision by one and
 * stamps the written object's `metadata.resourceVersion` with it, so "newer" is a plain number
 * comparison for gateways and watchers alike.
 */
import type { Change, ChangeType, Resource } from '@portolan/api';

export interface ObjectKey {
  kind: string;
  namespace: string;
  name: string;
}

export type { Change, ChangeType } from '@portolan/api';

export interface WriteOptions {
  /** Conditional write: fails with StoreConflictError unless the stored object has this resourceVersion. */
  expectedResourceVersion?: string;
  /** Who makes the change; recorded in history. */
  actor: string;
}

export interface ListResult {
  items: Resource[];
  /** Mesh revision the list is consistent with; watch from here to miss nothing. */
  revision: number;
}

export type Unsubscribe = () => void;

/** What `compact` did. */
export interface CompactionResult {
  /** Change records removed. */
  removed: number;
  /** The compacted revision after the call: watches must start at it or later. */
  compactedRevision: number;
}

/** What the last compaction recorded, durably. */
export interface CompactionState {
  /** Changes up to this revision may be gone (0: never compacted); watches start here or later. */
  compactedRevision: number;
  /** How many changes of each object it kept, however old (0: never compacted). */
  keepPerObject: number;
}

export interface ResourceStore {
  get(key: ObjectKey): Promise<Resource | undefined>;
  /** Objects of one kind (or every kind), optionally in one namespace, ordered by namespace then name. */
  list(filter: { kind?: string; namespace?: string }): Promise<ListResult>;
  /** Stores a new object; StoreAlreadyExistsError when the key is taken. */
  create(resource: Resource, options: WriteOptions): Promise<Resource>;
  /** Replaces a stored object; StoreNotFoundError or StoreConflictError. */
  update(resource: Resource, options: WriteOptions): Promise<Resource>;
  /** Removes an object and returns it as it was; StoreNotFoundError or StoreConflictError. */
  delete(key: ObjectKey, options: WriteOptions): Promise<Resource>;
  /** The mesh revision: the number of the last committed change. Never goes backwards. */
  revision(): Promise<number>;
  /** The kept changes of one object, oldest first: all of them until a compaction trims them. */
  history(key: ObjectKey): Promise<Change[]>;
  /**
   * Calls `listener` for every change after `fromRevision`, first those already committed (in
   * order), then new ones as they commit. StoreRevisionCompactedError when `fromRevision` is older
   * than the compacted revision (changes after it may be gone).
   *
   * `onExpired`: a store whose change feed can fall behind (Consul: a replica cut off for longer
   * than the retention) may find the changes it had not read yet compacted. It then ends every
   * watch, like kube-apiserver's watch cache answering 410 Gone: it calls `onExpired` once and
   * calls `listener` no more. Without `onExpired` such a watch just ends silently; the caller must
   * list again and watch from the list's revision to miss nothing.
   */
  watch(fromRevision: number, listener: (change: Change) => void, onExpired?: (error: StoreRevisionCompactedError) => void): Promise<Unsubscribe>;
  /**
   * Removes the change records up to `throughRevision` (at most the current revision), except the
   * newest `keepPerObject` changes of each object, so that history and rollback keep working. An
   * object whose deletion is compacted is forgotten with all its changes (otherwise objects
   * created and deleted over the years would keep the log growing); until then it can be restored. Records the compacted revision durably first; compacting to an older revision
   * than the recorded one does nothing. Never touches the objects or the revision counter.
   */
  compact(throughRevision: number, keepPerObject: number): Promise<CompactionResult>;
  /** What the last compaction recorded. */
  compaction(): Promise<CompactionState>;
  close(): Promise<void>;
}

export class StoreNotFoundError extends Error {
  readonly code = 'PORTOLAN_STORE_NOT_FOUND';
  constructor(readonly key: ObjectKey) {
    super(`${key.kind} ${key.namespace}/${key.name} not found`);
  }
}

export class StoreAlreadyExistsError extends Error {
  readonly code = 'PORTOLAN_STORE_ALREADY_EXISTS';
  constructor(readonly key: ObjectKey) {
    super(`${key.kind} ${key.namespace}/${key.name} already exists`);
  }
}

export class StoreConflictError extends Error {
  readonly code = 'PORTOLAN_STORE_CONFLICT';
  constructor(
    readonly key: ObjectKey,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(
      `the object has been modified; please apply your changes to the latest version and try again (${key.kind} ${key.namespace}/${key.name}: resourceVersion ${expected} is stale, current is ${actual})`,
    );
  }
}

/** The changes after `requested` may be gone: changes up to `oldest` were compacted. */
export class StoreRevisionCompactedError extends Error {
  readonly code = 'PORTOLAN_STORE_COMPACTED';
  constructor(readonly requested: number, readonly oldest: number) {
    // kube-apiserver's wording, then what to do about it.
    super(`too old resource version: ${requested} (${oldest}): changes up to revision ${oldest} were compacted; list again and watch from the list's resourceVersion`);
  }
}

/** One create, update or delete, as every store carries it out inside its own transaction. */
export interface WriteIntent {
  key: ObjectKey;
  type: ChangeType;
  /** What to store given the stored object (null deletes); throws when the operation cannot apply. */
  decide(current: Resource | undefined): Resource | null;
}

export const writeIntent = {
  create: (resource: Resource): WriteIntent => ({
    key: keyOf(resource),
    type: 'ADDED',
    decide: (current) => {
      if (current) throw new StoreAlreadyExistsError(keyOf(resource));
      return resource;
    },
  }),
  update: (resource: Resource): WriteIntent => ({
    key: keyOf(resource),
    type: 'MODIFIED',
    decide: (current) => {
      if (!current) throw new StoreNotFoundError(keyOf(resource));
      return resource;
    },
  }),
  delete: (key: ObjectKey): WriteIntent => ({
    key,
    type: 'DELETED',
    decide: (current) => {
      if (!current) throw new StoreNotFoundError(key);
      return null;
    },
  }),
};

/** The resourceVersion precondition: StoreConflictError unless the stored object has the expected one. */
export function checkPrecondition(key: ObjectKey, current: Resource | undefined, options: WriteOptions): void {
  if (options.expectedResourceVersion !== undefined && current && current.metadata.resourceVersion !== options.expectedResourceVersion) {
    throw new StoreConflictError(key, options.expectedResourceVersion, current.metadata.resourceVersion ?? '');
  }
}

export function keyOf(resource: Resource): ObjectKey {
  return { kind: resource.kind, namespace: resource.metadata.namespace ?? 'default', name: resource.metadata.name };
}

/** The injection token of the active ResourceStore. */
export const RESOURCE_STORE = Symbol('ResourceStore');
