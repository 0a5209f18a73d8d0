/**
 * structured-merge-diff's operations on an object, driven by its kind's schema: which fields a
 * value sets, what changed between two values, how an applied configuration merges into the live
 * object, and removing fields. How a list merges comes from `x-kubernetes-list-type` on its schema
 * (libs/api field-schemas.ts): `map` lists by item key, `set` lists by value, `atomic` lists (the
 * default, as for Kubernetes custom resources) as one value.
 *
 * A `map` list's keys are required and its items unique, and a `set`'s items scalars and unique
 * (admission refuses anything else), so a list is merged one way whatever its data. A value that
 * breaks those rules cannot be handled at all, as in structured-merge-diff: UntypedValueError.
 * Only an apply configuration (validated once merged) or an object stored before the rules were
 * enforced can hold one.
 */
import { isDeepStrictEqual } from 'node:util';
import { isJsonObject, LIST_MAP_KEYS, LIST_TYPE, REQUIRED_HINT, setOwn, type ListType, type StatusCause } from '@portolan/api';
import { describePath, fieldElement, fieldNameOf, isScalar, keyElement, valueElement, type FieldPath, type PathElement, type Scalar } from './field-path';
import { FieldSet, type FieldTrie } from './field-set';

/** A node of a JSON schema, as TypeBox builds them. */
export type SchemaNode = Record<string, unknown>;

type Shape =
  | { kind: 'struct'; fields: Record<string, SchemaNode> }
  | { kind: 'map'; values: SchemaNode }
  | { kind: 'list'; listType: ListType; keys: string[]; items: SchemaNode }
  | { kind: 'leaf' };

const LEAF: Shape = { kind: 'leaf' };

function shapeOf(schema: SchemaNode | undefined): Shape {
  if (!schema) return LEAF;
  if (schema.type === 'array') {
    return { kind: 'list', listType: (schema[LIST_TYPE] as ListType | undefined) ?? 'atomic', keys: (schema[LIST_MAP_KEYS] as string[] | undefined) ?? [], items: (schema.items ?? {}) as SchemaNode };
  }
  if (schema.type === 'object') {
    if (isJsonObject(schema.properties)) return { kind: 'struct', fields: schema.properties as Record<string, SchemaNode> };
    const values = isJsonObject(schema.patternProperties) ? Object.values(schema.patternProperties)[0] : schema.additionalProperties;
    if (isJsonObject(values)) return { kind: 'map', values: values as SchemaNode };
  }
  return LEAF;
}

/** The schema of a field of an object (undefined for a field the schema does not know: a leaf). */
function fieldSchema(shape: Shape, name: string): SchemaNode | undefined {
  if (shape.kind === 'struct') return Object.hasOwn(shape.fields, name) ? shape.fields[name] : undefined;
  return shape.kind === 'map' ? shape.values : undefined;
}

/** The schema under one path element. */
function childSchema(shape: Shape, element: PathElement): SchemaNode | undefined {
  const name = fieldNameOf(element);
  if (name !== undefined) return fieldSchema(shape, name);
  return shape.kind === 'list' ? shape.items : undefined;
}

/**
 * A list whose items cannot be told apart as its type requires: an item of a `map` list without
 * a key, an item of a `set` that is not a scalar, or the same item twice. `problem` says which, in
 * the words validation uses (`spec.limits[0].name: Required value: name each limit …`).
 */
export class UntypedValueError extends Error {
  constructor(readonly problem: StatusCause) {
    super(`${problem.field}: ${problem.message}`);
  }
}

/**
 * The path element of each item of a list merged item by item; undefined for an atomic list. `at`
 * is the list's path, only to name an item in an error.
 */
function itemElements(items: unknown[], shape: Extract<Shape, { kind: 'list' }>, at: FieldPath = []): PathElement[] | undefined {
  if (shape.listType === 'atomic') return undefined;
  const untyped = (index: number, field: string, reason: StatusCause['reason'], message: string) =>
    new UntypedValueError({ field: `${describePath(at).slice(1)}[${index}]${field}`, reason, message });
  const elements: PathElement[] = [];
  const seen = new Set<PathElement>();
  items.forEach((item, index) => {
    let element: PathElement;
    if (shape.listType === 'set') {
      if (!isScalar(item)) throw untyped(index, '', 'FieldValueTypeInvalid', 'Invalid value: must be a string, number, boolean or null: the list is a set');
      element = valueElement(item);
    } else {
      if (!isJsonObject(item)) throw untyped(index, '', 'FieldValueTypeInvalid', 'Invalid value: must be of type object');
      const key: Record<string, Scalar> = {};
      for (const name of shape.keys) {
        if (!isScalar(item[name])) {
          const hint = (shape.items.properties as Record<string, SchemaNode> | undefined)?.[name]?.[REQUIRED_HINT];
          throw untyped(index, `.${name}`, 'FieldValueRequired', `Required value: ${typeof hint === 'string' ? hint : `the list's items are merged by ${shape.keys.join(', ')}`}`);
        }
        setOwn(key, name, item[name]);
      }
      element = keyElement(key);
    }
    if (seen.has(element)) {
      // Named as validation names a duplicate: at its key when there is one key.
      const [field, value] = shape.listType === 'map' && shape.keys.length === 1 ? [`.${shape.keys[0]}`, JSON.stringify((item as Record<string, unknown>)[shape.keys[0]])] : ['', element.slice(2)];
      throw untyped(index, field, 'FieldValueDuplicate', `Duplicate value: ${value}`);
    }
    seen.add(element);
    elements.push(element);
  });
  return elements;
}

const isEmptyObject = (value: unknown) => isJsonObject(value) && Object.keys(value).length === 0;

interface Member {
  path: FieldPath;
  value: unknown;
  /** An item of a list merged by key or value: it is owned, but its value is its fields'. */
  item: boolean;
}

/** Every member path of `value` with the value there (ToFieldSet of structured-merge-diff). */
function membersOf(value: unknown, schema: SchemaNode): Map<string, Member> {
  const members = new Map<string, Member>();
  const add = (path: FieldPath, at: unknown, item: boolean) => members.set(JSON.stringify(path), { path, value: at, item });
  const visit = (at: unknown, node: SchemaNode | undefined, path: PathElement[]) => {
    const shape = shapeOf(node);
    if (shape.kind === 'list' && Array.isArray(at)) {
      const elements = itemElements(at, shape, path);
      if (!elements) return add(path, at, false);
      at.forEach((item, index) => {
        const itemPath = [...path, elements[index]];
        visit(item, shape.items, itemPath);
        add(itemPath, item, true);
      });
      return;
    }
    if ((shape.kind === 'struct' || shape.kind === 'map') && isJsonObject(at)) {
      for (const [name, child] of Object.entries(at)) {
        if (child === undefined) continue;
        const childPath = [...path, fieldElement(name)];
        visit(child, fieldSchema(shape, name), childPath);
        // An empty object or a null is owned as such, or setting it would leave no trace.
        if (child === null || isEmptyObject(child)) add(childPath, child, false);
      }
      return;
    }
    if (path.length > 0) add(path, at, false);
  };
  visit(value, schema, []);
  return members;
}

/** Every path that has members under it. */
function parentsOf(members: Map<string, Member>): Set<string> {
  const parents = new Set<string>();
  for (const { path } of members.values()) for (let depth = 1; depth < path.length; depth++) parents.add(JSON.stringify(path.slice(0, depth)));
  return parents;
}

/** The fields `value` sets: what an applier owns after applying it. Throws UntypedValueError for a value its schema cannot type. */
export function fieldSetOf(value: unknown, schema: SchemaNode): FieldSet {
  return FieldSet.of([...membersOf(value, schema).values()].map((member) => member.path));
}

export interface Comparison {
  added: FieldSet;
  modified: FieldSet;
  removed: FieldSet;
}

/** What changed from `before` to `after`: fields added, fields whose value changed, fields removed. */
export function compareValues(before: unknown, after: unknown, schema: SchemaNode): Comparison {
  const left = membersOf(before, schema);
  const right = membersOf(after, schema);
  // An object that only became empty, or stopped being empty, is neither added nor removed.
  const appears = (members: Map<string, Member>, other: Map<string, Member>, otherParents: Set<string>) =>
    [...members].filter(([key, member]) => !other.has(key) && !(isEmptyObject(member.value) && otherParents.has(key))).map(([, member]) => member.path);
  const added = appears(right, left, parentsOf(left));
  const removed = appears(left, right, parentsOf(right));
  const modified = [...right]
    .filter(([key, member]) => {
      const old = left.get(key);
      return old !== undefined && !old.item && !member.item && !isDeepStrictEqual(old.value, member.value);
    })
    .map(([, member]) => member.path);
  return { added: FieldSet.of(added), modified: FieldSet.of(modified), removed: FieldSet.of(removed) };
}

/**
 * `config` applied over `live`: its values win; objects merge field by field, keyed lists item by
 * item (live items keep their place, as structured-merge-diff orders them), atomic lists and
 * scalars are replaced.
 */
export function mergeValues(live: unknown, config: unknown, schema: SchemaNode | undefined): unknown {
  if (config === undefined) return structuredClone(live);
  if (live === undefined) return structuredClone(config);
  const shape = shapeOf(schema);
  if (shape.kind === 'list' && Array.isArray(live) && Array.isArray(config)) {
    const liveElements = itemElements(live, shape);
    const configElements = itemElements(config, shape);
    if (liveElements && configElements) return mergeKeyedLists(live, liveElements, config, configElements, shape.items);
    return structuredClone(config);
  }
  if ((shape.kind === 'struct' || shape.kind === 'map') && isJsonObject(live) && isJsonObject(config)) {
    const merged: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(live)) setOwn(merged, name, Object.hasOwn(config, name) ? mergeValues(value, config[name], fieldSchema(shape, name)) : structuredClone(value));
    for (const [name, value] of Object.entries(config)) if (!Object.hasOwn(live, name)) setOwn(merged, name, structuredClone(value));
    return merged;
  }
  return structuredClone(config);
}

/** structured-merge-diff's list merge: live items keep their order, applied items follow the applied order. */
function mergeKeyedLists(live: unknown[], liveElements: PathElement[], config: unknown[], configElements: PathElement[], itemSchema: SchemaNode): unknown[] {
  const liveIndex = new Map(liveElements.map((element, index) => [element, index]));
  const configIndex = new Map(configElements.map((element, index) => [element, index]));
  const sharedOrder = configElements.filter((element) => liveIndex.has(element));
  let nextShared = 0;
  const taken = new Set<PathElement>();
  const merged: unknown[] = [];
  let l = 0;
  let c = 0;
  while (l < live.length || c < config.length) {
    if (l < live.length && c < config.length) {
      if (liveElements[l] === configElements[c]) {
        taken.add(liveElements[l]);
        merged.push(mergeValues(live[l], config[c], itemSchema));
        l++;
        c++;
        nextShared++;
        continue;
      }
      // A shared item, but not the next one in the applied order: it comes later.
      if (configIndex.has(liveElements[l]) && nextShared < sharedOrder.length && sharedOrder[nextShared] !== liveElements[l]) {
        l++;
        continue;
      }
    }
    if (l < live.length) {
      if (!configIndex.has(liveElements[l])) {
        merged.push(structuredClone(live[l]));
        l++;
        continue;
      }
      if (taken.has(liveElements[l])) {
        l++;
        continue;
      }
    }
    if (c < config.length) {
      const element = configElements[c];
      taken.add(element);
      const match = liveIndex.get(element);
      merged.push(mergeValues(match === undefined ? undefined : live[match], config[c], itemSchema));
      c++;
      if (sharedOrder[nextShared] === element) nextShared++;
    }
  }
  return merged;
}

const isEmptyContainer = (value: unknown) => isEmptyObject(value) || (Array.isArray(value) && value.length === 0);

/**
 * `value` without the members of `set` (a member takes everything under it). An object or list
 * emptied that way goes too, as Kubernetes drops the null structured-merge-diff leaves there.
 */
export function removeFields(value: unknown, set: FieldSet, schema: SchemaNode): unknown {
  const remove = (at: unknown, node: SchemaNode | undefined, trie: FieldTrie): unknown => {
    const shape = shapeOf(node);
    const keep = (original: unknown, pruned: unknown) => !(isEmptyContainer(pruned) && !isEmptyContainer(original));
    if (shape.kind === 'list' && Array.isArray(at)) {
      const elements = itemElements(at, shape);
      if (!elements) return structuredClone(at);
      const kept: unknown[] = [];
      at.forEach((item, index) => {
        const child = trie.children.get(elements[index]);
        if (child?.member) return;
        const pruned = child ? remove(item, shape.items, child) : structuredClone(item);
        if (keep(item, pruned)) kept.push(pruned);
      });
      return kept;
    }
    if ((shape.kind === 'struct' || shape.kind === 'map') && isJsonObject(at)) {
      const kept: Record<string, unknown> = {};
      for (const [name, item] of Object.entries(at)) {
        const child = trie.children.get(fieldElement(name));
        if (child?.member) continue;
        const pruned = child ? remove(item, fieldSchema(shape, name), child) : structuredClone(item);
        if (keep(item, pruned)) setOwn(kept, name, pruned);
      }
      return kept;
    }
    return structuredClone(at);
  };
  return remove(value, schema, set.trie());
}

/**
 * `set` plus every named field (a property of an object schema, not a key of a map) that has
 * members under it, as structured-merge-diff's EnsureNamedFieldsAreMembers: so that dropping all
 * of `spec.onLimit` from an applied configuration removes `onLimit` itself, not just its fields.
 */
export function withNamedParents(set: FieldSet, schema: SchemaNode): FieldSet {
  const parents: FieldPath[] = [];
  for (const path of set.paths()) {
    let shape = shapeOf(schema);
    for (let depth = 0; depth < path.length - 1; depth++) {
      const name = fieldNameOf(path[depth]);
      if (name !== undefined && shape.kind === 'struct' && Object.hasOwn(shape.fields, name)) parents.push(path.slice(0, depth + 1));
      shape = shapeOf(childSchema(shape, path[depth]));
    }
  }
  return set.union(FieldSet.of(parents));
}
