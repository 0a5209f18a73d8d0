/**
 * The store contract. The embedded SQLite store implements it today and a Consul store will later;
 * both must pass `resource-store.contract.ts`. Every write bumps the mesh-wide revision by one and
 * stamps the written object's `metadata.resourceVersion` with it, so "newer" is a plain number
 * comparison for gateways and watchers alike.
 */
import type { Resource } from '@portolan/api';

export interface ObjectKey {
  kind: string;
  namespace: string;
  name: string;
}

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One committed change. `after` is null for a deletion, `before` null for a creation. */
export interface Change {
  revision: number;
  type: ChangeType;
  key: ObjectKey;
  actor: string;
  time: string;
  before: Resource | null;
  after: Resource | null;
}

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
  /** Every change of one object, oldest first. */
  history(key: ObjectKey): Promise<Change[]>;
  /**
   * Calls `listener` for every change after `fromRevision`, first those already committed (in
   * order), then new ones as they commit. StoreRevisionCompactedError if the history no longer
   * reaches back that far.
   */
  watch(fromRevision: number, listener: (change: Change) => void): Promise<Unsubscribe>;
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

export class StoreRevisionCompactedError extends Error {
  readonly code = 'PORTOLAN_STORE_COMPACTED';
  constructor(readonly requested: number, readonly oldest: number) {
    super(`revision ${requested} is older than the oldest kept change (${oldest})`);
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
