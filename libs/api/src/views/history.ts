/** An object's committed changes: `GET …/{name}/history` lists them, watches replay them, rollback restores one. */
import type { Resource } from '../meta.js';
import type { ObjectRef } from '../resolution/effective-config.js';

export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** One committed change. `after` is null for a deletion, `before` null for a creation. */
export interface Change {
  revision: number;
  type: ChangeType;
  key: ObjectRef;
  actor: string;
  /** RFC 3339. */
  time: string;
  before: Resource | null;
  after: Resource | null;
}

export interface ChangeList {
  apiVersion: string;
  kind: 'ChangeList';
  metadata: Record<string, never>;
  items: Change[];
}
