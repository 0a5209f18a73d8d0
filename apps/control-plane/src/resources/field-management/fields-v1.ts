/**
 * The FieldsV1 encoding of a field set, as kube-apiserver writes it in metadata.managedFields: a
 * tree keyed by path elements, `{}` for a member without members under it, and `".": {}` beside
 * the children of a path that is a member itself (a list item).
 */
import { isJsonObject } from '@portolan/api';
import { canonicalElement, comparePathElements, PathElementError, type FieldPath, type PathElement } from './field-path';
import { FieldSet, type FieldTrie } from './field-set';

export interface FieldsV1 {
  [element: string]: FieldsV1;
}

/**
 * The longest field path a client's FieldsV1 may hold. No kind's tracked fields come near it (the
 * deepest, a Route's `spec.match.headers[name=…].name`, is 5 elements), and decoding stops there
 * rather than following a tree nested thousands of levels deep.
 */
export const MAX_FIELD_PATH_LENGTH = 32;

export function encodeFieldsV1(set: FieldSet): FieldsV1 {
  const emit = (node: FieldTrie): FieldsV1 => {
    const out: FieldsV1 = {};
    if (node.member && node.children.size > 0) out['.'] = {};
    // Elements start with f:, k:, v: or i:, so none is "__proto__" and assignment is safe.
    for (const element of [...node.children.keys()].sort(comparePathElements)) out[element] = emit(node.children.get(element)!);
    return out;
  };
  return emit(set.trie());
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
  // One path, grown and shrunk as the walk goes: copied only for a member, printed only for an error.
  const path: PathElement[] = [];
  const fail = (reason: string): never => {
    throw new FieldsV1Error(path.join('.'), reason);
  };
  const visit = (node: unknown) => {
    if (!isJsonObject(node)) fail('must be an object');
    if (path.length > MAX_FIELD_PATH_LENGTH) fail(`nested deeper than ${MAX_FIELD_PATH_LENGTH} fields, deeper than any field of a mesh object`);
    const entries = Object.entries(node as Record<string, unknown>);
    if (path.length > 0 && entries.length === 0) paths.push([...path]);
    for (const [element, child] of entries) {
      if (element === '.') {
        if (path.length === 0) fail('"." marks a list item and cannot be at the top');
        if (!isJsonObject(child) || Object.keys(child).length > 0) fail('"." must be {}');
        paths.push([...path]);
        continue;
      }
      let canonical: PathElement;
      try {
        canonical = canonicalElement(element);
      } catch (error) {
        if (error instanceof PathElementError) fail(error.message);
        throw error;
      }
      path.push(canonical!);
      visit(child);
      path.pop();
    }
  };
  visit(fields);
  return FieldSet.of(paths);
}
