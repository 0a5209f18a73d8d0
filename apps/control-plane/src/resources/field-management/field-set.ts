/**
 * A set of field paths: what one manager owns, what an applied configuration sets, what a write
 * changed. Only members are kept (structured-merge-diff's "children" are implied by them); a list
 * item is a member of its own, beside its fields, as kube-apiserver records it (`.` in FieldsV1).
 */
import { comparePaths, type FieldPath, type PathElement } from './field-path';

const keyOf = (path: FieldPath) => JSON.stringify(path);

/** The members as a tree of path elements: `member` where a member ends, `children` below. */
export interface FieldTrie {
  member: boolean;
  children: Map<PathElement, FieldTrie>;
}

export class FieldSet {
  /** Built on first use: FieldsV1 is written from it, removeFields and covers walk it. */
  private tree: FieldTrie | undefined;

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

  /** The members as a tree; children are in no particular order. */
  trie(): FieldTrie {
    if (this.tree) return this.tree;
    const root: FieldTrie = { member: false, children: new Map() };
    for (const path of this.members.values()) {
      let node = root;
      for (const element of path) {
        let child = node.children.get(element);
        if (!child) node.children.set(element, (child = { member: false, children: new Map() }));
        node = child;
      }
      node.member = true;
    }
    return (this.tree = root);
  }

  /** Whether `path` is a member or lies under one: removing a member removes everything under it. */
  covers(path: FieldPath): boolean {
    let node = this.trie();
    for (const element of path) {
      const child = node.children.get(element);
      if (!child) return false;
      if (child.member) return true;
      node = child;
    }
    return false;
  }

  /** The members `other` does not cover. */
  notCoveredBy(other: FieldSet): FieldSet {
    if (other.isEmpty()) return this;
    return FieldSet.of([...this.members.values()].filter((path) => !other.covers(path)));
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
