/**
 * Builders for schema fields. Each one writes the unit, default, minimum and maximum into the
 * field's description, so the OpenAPI document (and `kubectl explain`) always says them, and
 * stores the same numbers as schema keywords so validation enforces exactly what is documented.
 */
import { Kind, Type, TypeRegistry, type ArrayOptions, type TLiteral, type TObject, type TSchema, type TUnion } from '@sinclair/typebox';
import { DURATION_PATTERN, formatDuration, parseDuration } from './duration.js';

/** Schema keyword carrying duration bounds in milliseconds; checked by validation.ts. */
export const DURATION_BOUNDS = 'x-portolan-duration';

/**
 * Schema keyword: what a user should set when a required field is missing, added to validation's
 * "Required value" (`spec.limits[0].name: Required value: name each limit …`).
 */
export const REQUIRED_HINT = 'x-portolan-required-hint';

export interface DurationBounds {
  minimum: number;
  maximum: number;
}

interface FieldDoc<T> {
  description: string;
  /** Applied when the effective configuration is resolved (not at admission; see docs/policies.md). */
  default?: T;
}

function describe(text: string, parts: Array<string | undefined>): string {
  return [text, ...parts.filter(Boolean)].join(' ');
}

export function Duration(doc: FieldDoc<string> & { minimum: string; maximum: string }) {
  const bounds: DurationBounds = { minimum: parseDuration(doc.minimum), maximum: parseDuration(doc.maximum) };
  return Type.String({
    pattern: DURATION_PATTERN,
    description: describe(doc.description, [
      'Unit: a duration string such as 250ms, 2s or 5m.',
      doc.default !== undefined ? `Default: ${doc.default}.` : undefined,
      `Minimum: ${formatDuration(bounds.minimum)}.`,
      `Maximum: ${formatDuration(bounds.maximum)}.`,
    ]),
    ...(doc.default !== undefined ? { default: doc.default } : {}),
    [DURATION_BOUNDS]: bounds,
  });
}

export function Integer(doc: FieldDoc<number> & { minimum: number; maximum: number; unit: string }) {
  return Type.Integer({
    minimum: doc.minimum,
    maximum: doc.maximum,
    description: describe(doc.description, [
      `Unit: ${doc.unit}.`,
      doc.default !== undefined ? `Default: ${doc.default}.` : undefined,
      `Minimum: ${doc.minimum}.`,
      `Maximum: ${doc.maximum}.`,
    ]),
    ...(doc.default !== undefined ? { default: doc.default } : {}),
  });
}

export function Percent(doc: FieldDoc<number> & { minimum?: number }) {
  return Integer({ ...doc, minimum: doc.minimum ?? 0, maximum: 100, unit: 'percent' });
}

export function Bool(doc: FieldDoc<boolean>) {
  return Type.Boolean({
    description: describe(doc.description, [doc.default !== undefined ? `Default: ${doc.default}.` : undefined]),
    ...(doc.default !== undefined ? { default: doc.default } : {}),
  });
}

const NULLABLE_NUMBER = 'PortolanNullableNumber';
TypeRegistry.Set(NULLABLE_NUMBER, (_schema, value) => value === null || (typeof value === 'number' && Number.isFinite(value)));

/**
 * A number or null, written for OpenAPI 3.0 as `nullable: true`. Its own kind, registered above,
 * because TypeBox's checks throw on a Type.Unsafe schema of a kind they do not know.
 */
export function NullableNumber(description: string) {
  return Type.Unsafe<number | null>({ [Kind]: NULLABLE_NUMBER, type: 'number', nullable: true, description });
}

/** A closed set of strings. Emitted to OpenAPI as `type: string` + `enum` (see openapi.ts). */
export function StringEnum<const V extends readonly [string, ...string[]]>(
  values: V,
  doc: FieldDoc<V[number]>,
): TUnion<TLiteral<V[number]>[]> {
  return Type.Union(
    values.map((value) => Type.Literal(value)),
    {
      description: describe(doc.description, [
        `One of: ${values.join(', ')}.`,
        doc.default !== undefined ? `Default: ${doc.default}.` : undefined,
      ]),
      ...(doc.default !== undefined ? { default: doc.default } : {}),
    },
  );
}

/** DNS-1123 label (Service, Route and zone names). */
export const DNS_LABEL_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';

export function Name(description: string) {
  return Type.String({ pattern: DNS_LABEL_PATTERN, minLength: 1, maxLength: 63, description });
}

/**
 * How server-side apply merges a list, as Kubernetes spells it for custom resources: `map` lists
 * merge item by item (items told apart by `x-kubernetes-list-map-keys`), `set` lists hold each
 * scalar once and merge value by value, `atomic` lists are one value replaced whole. Validation
 * rejects two items with the same keys (map) or the same value (set).
 */
export const LIST_TYPE = 'x-kubernetes-list-type';
export const LIST_MAP_KEYS = 'x-kubernetes-list-map-keys';
export type ListType = 'atomic' | 'set' | 'map';

/**
 * A list of objects keyed by `keys`. Every key must be required in the items, as Kubernetes'
 * structural schemas require of list-map keys: a list whose items could lack their key would merge
 * item by item or as one value depending on the data, and an apply could then replace items other
 * managers own without a conflict. Give the key a REQUIRED_HINT that tells users what to set.
 */
export function ListMap<T extends TObject>(items: T, keys: readonly [keyof T['properties'] & string, ...Array<keyof T['properties'] & string>], options: ArrayOptions) {
  for (const key of keys) {
    if (!(key in items.properties)) throw new Error(`list map key ${key} is not a property of the list's items`);
    if (!(items.required ?? []).includes(key)) throw new Error(`list map key ${key} must be required: server-side apply merges the list's items by it`);
  }
  return Type.Array(items, { ...options, [LIST_TYPE]: 'map', [LIST_MAP_KEYS]: [...keys] });
}

/** A list of scalars, each at most once; order carries no meaning. */
export function ListSet<T extends TSchema>(items: T, options: ArrayOptions) {
  return Type.Array(items, { ...options, [LIST_TYPE]: 'set' });
}

/** A list that is one value: whoever writes it sets all of it. */
export function AtomicList<T extends TSchema>(items: T, options: ArrayOptions) {
  return Type.Array(items, { ...options, [LIST_TYPE]: 'atomic' });
}
