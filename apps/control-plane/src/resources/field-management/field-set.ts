/**
 * A set of field paths: what one manager owns, what an applied configuration sets, what a write
 * changed. Only members are kept (structured-merge-diff's "children" are implied by them); a list
 * item is a member of its own, beside its fields, as kube-apiserver records it (`.` in FieldsV1).
 */
import { comparePaths, type FieldPath } from './field-path';

const keyOf = (path: FieldPath) => JSON.stringify(path);

export class FieldSet {
  private constructor(private readonly members: ReadonlyMap<string, FieldPath>) {}

  static readonly EMPTY = new FieldSet(new Map());

  static of(paths: Iterable<FieldPath>): FieldSet {
    const members = new Map<string, FieldPath>();
    for (const path of paths) members.set(keyOf(path), [...path]);
    return new FieldSet(members);
  }

  get size(): number {
    return this.members.size;
  }

  isEmpty(): boolean {
    return this.members.size === 0;
  }

  has(path: FieldPath): boolean {
    return this.members.has(keyOf(path));
  }

  /** Members in structured-merge-diff's order (fields by name, then keys, values, indexes). */
  paths(): FieldPath[] {
    return [...this.members.values()].sort(comparePaths);
  }

  union(other: FieldSet): FieldSet {
    if (other.isEmpty()) return this;
    return FieldSet.of([...this.members.values(), ...other.members.values()]);
  }

  difference(other: FieldSet): FieldSet {
    if (other.isEmpty()) return this;
    return FieldSet.of([...this.members.values()].filter((path) => !other.has(path)));
  }

  intersection(other: FieldSet): FieldSet {
    return FieldSet.of([...this.members.values()].filter((path) => other.has(path)));
  }

  equals(other: FieldSet): boolean {
    return this.size === other.size && [...this.members.keys()].every((key) => other.members.has(key));
  }
}
