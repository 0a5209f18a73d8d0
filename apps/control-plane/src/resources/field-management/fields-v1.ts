/**
 * The FieldsV1 encoding of a field set, as kube-apiserver writes it in metadata.managedFields: a
 * tree keyed by path elements, `{}` for a member without members under it, and `".": {}` beside
 * the children of a path that is a member itself (a list item).
 */
import { canonicalElement, comparePathElements, PathElementError, type FieldPath } from './field-path';
import { FieldSet } from './field-set';

export interface FieldsV1 {
  [element: string]: FieldsV1;
}

interface Node {
  member: boolean;
  children: Map<string, Node>;
}

export function encodeFieldsV1(set: FieldSet): FieldsV1 {
  const root: Node = { member: false, children: new Map() };
  for (const path of set.paths()) {
    let node = root;
    for (const element of path) {
      let child = node.children.get(element);
      if (!child) node.children.set(element, (child = { member: false, children: new Map() }));
      node = child;
    }
    node.member = true;
  }
  const emit = (node: Node): FieldsV1 => {
    const out: FieldsV1 = {};
    if (node.member && node.children.size > 0) out['.'] = {};
    for (const element of [...node.children.keys()].sort(comparePathElements)) out[element] = emit(node.children.get(element)!);
    return out;
  };
  return emit(root);
}

/** Why a client's fieldsV1 cannot be read; `at` is where in the tree, e.g. `f:spec.f:limits`. */
export class FieldsV1Error extends Error {
  constructor(
    readonly at: string,
    readonly reason: string,
  ) {
    super(at ? `at ${at}: ${reason}` : reason);
  }
}

export function decodeFieldsV1(fields: unknown): FieldSet {
  const paths: FieldPath[] = [];
  const visit = (node: unknown, path: string[]) => {
    const at = path.join('.');
    if (node === null || typeof node !== 'object' || Array.isArray(node)) throw new FieldsV1Error(at, 'must be an object');
    const entries = Object.entries(node as Record<string, unknown>);
    if (path.length > 0 && entries.length === 0) paths.push(path);
    for (const [element, child] of entries) {
      if (element === '.') {
        if (path.length === 0) throw new FieldsV1Error(at, '"." marks a list item and cannot be at the top');
        if (child === null || typeof child !== 'object' || Object.keys(child).length > 0) throw new FieldsV1Error(at, '"." must be {}');
        paths.push(path);
        continue;
      }
      let canonical: string;
      try {
        canonical = canonicalElement(element);
      } catch (error) {
        if (error instanceof PathElementError) throw new FieldsV1Error(at, error.message);
        throw error;
      }
      visit(child, [...path, canonical]);
    }
  };
  visit(fields, []);
  return FieldSet.of(paths);
}
