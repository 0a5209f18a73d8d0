/**
 * Admission validation of a resource against its kind's schema. Reports every violation with its
 * field path (`spec.limits[0].interval`), in the Kubernetes cause format, instead of stopping at
 * the first one. Unknown fields are reported separately, because the API treats them according to
 * kubectl's fieldValidation (Strict: error, Warn: warning, Ignore: silently dropped).
 */
import type { TSchema } from '@sinclair/typebox';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { Value } from '@sinclair/typebox/value';
import { DURATION_PATTERN, formatDuration, isDuration, parseDuration } from './duration.js';
import { DURATION_BOUNDS, LIST_MAP_KEYS, LIST_TYPE, REQUIRED_HINT, type DurationBounds } from './field-schemas.js';
import { kindDefinition, type KindDefinition } from './kinds/index.js';
import { GROUP_VERSION, OBJECT_NAME_PATTERN, type Resource } from './meta.js';
import { isJsonObject } from './merge-patch.js';
import type { StatusCause } from './status.js';
import { semanticChecks } from './semantic-checks.js';

export interface ValidationResult {
  definition?: KindDefinition;
  causes: StatusCause[];
  /** Paths of fields the schema does not know, e.g. `spec.colour`. */
  unknownFields: string[];
}

/** `/spec/limits/0/interval` -> `spec.limits[0].interval` (the notation kubectl prints). */
export function pointerToFieldPath(pointer: string): string {
  let path = '';
  for (const raw of pointer.split('/').slice(1)) {
    const segment = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(segment)) path += `[${segment}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(segment)) path += path ? `.${segment}` : segment;
    else path += `[${segment}]`;
  }
  return path;
}

/** A key as one segment of a JSON pointer (RFC 6901). */
const escapePointer = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

const show = (value: unknown) => JSON.stringify(value) ?? 'undefined';

function causeFromError(error: ValueError): StatusCause {
  const field = pointerToFieldPath(error.path);
  const schema = error.schema as Record<string, unknown>;
  switch (error.type) {
    case ValueErrorType.ObjectRequiredProperty:
      // The schema is the missing property's.
      return { field, reason: 'FieldValueRequired', message: typeof schema[REQUIRED_HINT] === 'string' ? `Required value: ${schema[REQUIRED_HINT]}` : 'Required value' };
    case ValueErrorType.Union: {
      const allowed = ((schema.anyOf as Array<{ const?: unknown }>) ?? []).map((member) => show(member.const));
      return { field, reason: 'FieldValueNotSupported', message: `Unsupported value: ${show(error.value)}: supported values: ${allowed.join(', ')}` };
    }
    case ValueErrorType.StringPattern:
      return {
        field,
        reason: 'FieldValueInvalid',
        message:
          schema.pattern === DURATION_PATTERN
            ? `Invalid value: ${show(error.value)}: must be a duration such as 250ms, 2s or 5m`
            : `Invalid value: ${show(error.value)}: must match ${String(schema.pattern)}`,
      };
    case ValueErrorType.StringMaxLength:
      return { field, reason: 'FieldValueTooLong', message: `Too long: may not be more than ${String(schema.maxLength)} characters` };
    case ValueErrorType.StringMinLength:
      return { field, reason: 'FieldValueInvalid', message: `Invalid value: ${show(error.value)}: must be at least ${String(schema.minLength)} characters` };
    case ValueErrorType.NumberMinimum:
    case ValueErrorType.IntegerMinimum:
      return { field, reason: 'FieldValueInvalid', message: `Invalid value: ${show(error.value)}: must be greater than or equal to ${String(schema.minimum)}` };
    case ValueErrorType.NumberMaximum:
    case ValueErrorType.IntegerMaximum:
      return { field, reason: 'FieldValueInvalid', message: `Invalid value: ${show(error.value)}: must be less than or equal to ${String(schema.maximum)}` };
    case ValueErrorType.ArrayMinItems:
      return { field, reason: 'FieldValueRequired', message: `Required value: must have at least ${String(schema.minItems)} item(s)` };
    case ValueErrorType.ArrayMaxItems:
      return { field, reason: 'FieldValueTooLong', message: `Too many: must have at most ${String(schema.maxItems)} item(s)` };
    case ValueErrorType.ArrayUniqueItems:
      return { field, reason: 'FieldValueDuplicate', message: 'Duplicate value: items must be unique' };
    case ValueErrorType.String:
    case ValueErrorType.Integer:
    case ValueErrorType.Number:
    case ValueErrorType.Boolean:
    case ValueErrorType.Object:
    case ValueErrorType.Array: {
      const expected = String(schema.type ?? ValueErrorType[error.type].toLowerCase());
      return { field, reason: 'FieldValueTypeInvalid', message: `Invalid value: ${show(error.value)}: must be of type ${expected}` };
    }
    default:
      return { field, reason: 'FieldValueInvalid', message: `Invalid value: ${show(error.value)}: ${error.message}` };
  }
}

function schemaErrors(schema: TSchema, value: unknown): StatusCause[] {
  const errors = [...Value.Errors(schema, value)];
  const missing = new Set(errors.filter((e) => e.type === ValueErrorType.ObjectRequiredProperty).map((e) => e.path));
  const seen = new Set<string>();
  const causes: StatusCause[] = [];
  for (const error of errors) {
    if (missing.has(error.path) && error.type !== ValueErrorType.ObjectRequiredProperty) continue;
    const cause = causeFromError(error);
    const key = `${cause.field}\u0000${cause.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      causes.push(cause);
    }
  }
  return causes;
}

type SchemaVisitor = (schema: Record<string, unknown>, value: unknown, pointer: string) => void;

/** Walks a value along its schema (objects and arrays), calling `visit` on every schema node reached. */
function walk(schema: Record<string, unknown>, value: unknown, pointer: string, visit: SchemaVisitor): void {
  visit(schema, value, pointer);
  if (schema.type === 'object' && isJsonObject(value) && isJsonObject(schema.properties)) {
    for (const [key, child] of Object.entries(schema.properties)) {
      if (Object.hasOwn(value, key)) walk(child as Record<string, unknown>, value[key], `${pointer}/${escapePointer(key)}`, visit);
    }
  } else if (schema.type === 'array' && Array.isArray(value) && isJsonObject(schema.items)) {
    value.forEach((item, index) => walk(schema.items as Record<string, unknown>, item, `${pointer}/${index}`, visit));
  }
}

const DURATION_RE = new RegExp(DURATION_PATTERN);

function durationBoundCauses(schema: TSchema, value: unknown): StatusCause[] {
  const causes: StatusCause[] = [];
  walk(schema as Record<string, unknown>, value, '', (node, current, pointer) => {
    const bounds = node[DURATION_BOUNDS] as DurationBounds | undefined;
    // A value not matching the pattern is reported by the schema.
    if (!bounds || typeof current !== 'string' || !DURATION_RE.test(current)) return;
    // One that matches but is too long to count in milliseconds is past every maximum.
    const ms = isDuration(current) ? parseDuration(current) : Number.POSITIVE_INFINITY;
    const field = pointerToFieldPath(pointer);
    if (ms < bounds.minimum) {
      causes.push({ field, reason: 'FieldValueInvalid', message: `Invalid value: "${current}": must be at least ${formatDuration(bounds.minimum)}` });
    } else if (ms > bounds.maximum) {
      causes.push({ field, reason: 'FieldValueInvalid', message: `Invalid value: "${current}": must be at most ${formatDuration(bounds.maximum)}` });
    }
  });
  return causes;
}

/**
 * Items a list's type says must be unique: the same keys twice in a `map` list (reported at the
 * key, `spec.limits[1].name: Duplicate value: "per-second"`), the same value twice in a `set`.
 * An item that lacks a key is not compared: the schema already reports the key as required.
 */
function listTypeCauses(schema: TSchema, value: unknown): StatusCause[] {
  const causes: StatusCause[] = [];
  walk(schema as Record<string, unknown>, value, '', (node, current, pointer) => {
    if (!Array.isArray(current)) return;
    const seen = new Set<string>();
    if (node[LIST_TYPE] === 'set') {
      current.forEach((item, index) => {
        const identity = JSON.stringify(item);
        if (seen.has(identity)) causes.push({ field: pointerToFieldPath(`${pointer}/${index}`), reason: 'FieldValueDuplicate', message: `Duplicate value: ${identity}` });
        seen.add(identity);
      });
    } else if (node[LIST_TYPE] === 'map') {
      const keys = node[LIST_MAP_KEYS] as string[];
      current.forEach((item, index) => {
        if (!isJsonObject(item) || keys.some((key) => item[key] === undefined)) return;
        const identity = JSON.stringify(keys.map((key) => item[key]));
        if (seen.has(identity)) {
          const [field, duplicate] = keys.length === 1 ? [`${pointer}/${index}/${keys[0]}`, show(item[keys[0]])] : [`${pointer}/${index}`, show(Object.fromEntries(keys.map((key) => [key, item[key]])))];
          causes.push({ field: pointerToFieldPath(field), reason: 'FieldValueDuplicate', message: `Duplicate value: ${duplicate}` });
        }
        seen.add(identity);
      });
    }
  });
  return causes;
}

const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_PREFIX = new RegExp(OBJECT_NAME_PATTERN);
const LABEL_CHARACTERS = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

/**
 * Label keys and values as kube-apiserver checks them (apimachinery's ValidateLabels): a key is a
 * name of at most 63 characters, optionally after a DNS subdomain prefix and "/"; a value is empty
 * or such a name. Selectors can only name labels of this shape, and clients (kubectl, the
 * dashboard) assume it. Both are reported at `metadata.labels`, as Kubernetes reports them.
 */
function labelCauses(metadata: unknown): StatusCause[] {
  if (!isJsonObject(metadata) || !isJsonObject(metadata.labels)) return [];
  const causes: StatusCause[] = [];
  const invalid = (value: string, why: string) => causes.push({ field: 'metadata.labels', reason: 'FieldValueInvalid', message: `Invalid value: ${show(value)}: ${why}` });
  for (const [key, value] of Object.entries(metadata.labels)) {
    const parts = key.split('/');
    const name = parts[parts.length - 1];
    if (parts.length > 2) invalid(key, 'a qualified name must be a name with an optional DNS subdomain prefix and "/" (e.g. example.com/MyName)');
    else if (parts.length === 2 && (parts[0].length > 253 || !LABEL_PREFIX.test(parts[0]))) invalid(key, 'prefix part must be a lowercase DNS subdomain of at most 253 characters');
    else if (name.length > 63) invalid(key, 'name part must be no more than 63 characters');
    else if (!LABEL_NAME.test(name)) invalid(key, `name part ${LABEL_CHARACTERS}`);
    // A value that is not a string is the schema's to report.
    if (typeof value !== 'string') continue;
    if (value.length > 63) invalid(value, 'must be no more than 63 characters');
    else if (value !== '' && !LABEL_NAME.test(value)) invalid(value, `a valid label must be an empty string or ${LABEL_CHARACTERS}`);
  }
  return causes;
}

/**
 * Where `value` nests objects and lists more than `maxDepth` levels deep: a cause naming the
 * field there, or the last field on the way whose values the schema still describes — for a
 * free-form value such as managedFields' `fieldsV1`, that value (`metadata.managedFields[0].fieldsV1`);
 * for a field the schema does not know, that field. Undefined when it is not that deep. Walks
 * without recursion, so it is safe on any parsed JSON: a server runs it before anything recursive
 * (cloning, validating, comparing) reads a body, which a few thousand levels would overflow.
 */
export function nestingCause(schema: TSchema | undefined, value: unknown, maxDepth: number): StatusCause | undefined {
  type Step = { value: unknown; schema: Record<string, unknown> | undefined; pointer: string; named: string; depth: number };
  const stack: Step[] = [{ value, schema: schema as Record<string, unknown> | undefined, pointer: '', named: '', depth: 0 }];
  while (stack.length > 0) {
    const step = stack.pop()!;
    if (!isJsonObject(step.value) && !Array.isArray(step.value)) continue;
    if (step.depth >= maxDepth) {
      return { field: pointerToFieldPath(step.named), reason: 'FieldValueInvalid', message: `Invalid value: nested more than ${maxDepth} levels deep, deeper than any field of the kind` };
    }
    for (const [key, child] of Object.entries(step.value)) {
      const pointer = `${step.pointer}/${escapePointer(key)}`;
      const { schema: childSchema, described } = childOf(step.schema, key, Array.isArray(step.value));
      stack.push({ value: child, schema: childSchema, pointer, named: described ? pointer : step.named, depth: step.depth + 1 });
    }
  }
  return undefined;
}

/** The schema of a child, and whether the parent's schema describes it (names it, or types it). */
function childOf(schema: Record<string, unknown> | undefined, key: string, inArray: boolean): { schema: Record<string, unknown> | undefined; described: boolean } {
  if (!schema) return { schema: undefined, described: false };
  if (inArray) return isJsonObject(schema.items) ? { schema: schema.items, described: true } : { schema: undefined, described: false };
  if (isJsonObject(schema.properties)) {
    // A field the schema does not know is still named, as findUnknownFields names it.
    const property = Object.hasOwn(schema.properties, key) ? schema.properties[key] : undefined;
    return { schema: isJsonObject(property) ? property : undefined, described: true };
  }
  const values = isJsonObject(schema.patternProperties) ? Object.values(schema.patternProperties)[0] : schema.additionalProperties;
  // A map of typed values names its keys; a map of anything (Type.Unknown) is one free-form value.
  return isJsonObject(values) && values.type !== undefined ? { schema: values, described: true } : { schema: undefined, described: false };
}

/**
 * Calls `visit` with every field of `value` that `schema` does not declare. Own properties only:
 * `in` (and TypeBox's Value.Clean, which uses it) takes `constructor` or `__proto__` for fields of
 * every object.
 */
function forEachUnknownField(schema: TSchema, value: unknown, visit: (object: Record<string, unknown>, key: string, pointer: string) => void): void {
  walk(schema as Record<string, unknown>, value, '', (node, current, pointer) => {
    if (node.type !== 'object' || !isJsonObject(current) || !isJsonObject(node.properties)) return;
    if (node.patternProperties || node.additionalProperties) return;
    for (const key of Object.keys(current)) {
      if (!Object.hasOwn(node.properties, key)) visit(current, key, `${pointer}/${escapePointer(key)}`);
    }
  });
}

/** Fields present in `value` that `schema` does not declare. */
export function findUnknownFields(schema: TSchema, value: unknown): string[] {
  const unknown: string[] = [];
  forEachUnknownField(schema, value, (_object, _key, pointer) => unknown.push(pointerToFieldPath(pointer)));
  return unknown;
}

/** A copy of `value` without the fields its schema does not declare. */
export function pruneUnknownFields<T>(schema: TSchema, value: T): T {
  const copy = structuredClone(value);
  forEachUnknownField(schema, copy, (object, key) => delete object[key]);
  return copy;
}

export function validateResource(input: unknown): ValidationResult {
  if (!isJsonObject(input)) {
    return { causes: [{ field: '', reason: 'FieldValueTypeInvalid', message: 'the body must be a JSON object' }], unknownFields: [] };
  }
  if (input.apiVersion !== GROUP_VERSION) {
    return {
      causes: [{ field: 'apiVersion', reason: 'FieldValueNotSupported', message: `Unsupported value: ${show(input.apiVersion)}: supported values: "${GROUP_VERSION}"` }],
      unknownFields: [],
    };
  }
  const definition = typeof input.kind === 'string' ? kindDefinition(input.kind) : undefined;
  if (!definition) {
    return { causes: [{ field: 'kind', reason: 'FieldValueNotSupported', message: `Unsupported value: ${show(input.kind)}: not a kind of ${GROUP_VERSION}` }], unknownFields: [] };
  }
  const causes = schemaErrors(definition.schema, input);
  causes.push(...labelCauses(input.metadata));
  causes.push(...durationBoundCauses(definition.schema, input));
  causes.push(...listTypeCauses(definition.schema, input));
  if (causes.length === 0) causes.push(...semanticChecks(definition, input as unknown as Resource));
  return { definition, causes, unknownFields: findUnknownFields(definition.schema, input) };
}
