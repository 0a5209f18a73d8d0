/**
 * Properties of admission validation, over objects generated from the kinds' own schemas: a valid
 * object passes, one field of a wrong type fails naming that field, and no input at all makes
 * validation throw or name a field that is neither in the input nor in the schema.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration.js';
import { DURATION_BOUNDS, LIST_MAP_KEYS, LIST_TYPE, type DurationBounds } from './field-schemas.js';
import { KINDS, type KindDefinition } from './kinds/index.js';
import { GROUP_VERSION } from './meta.js';
import { isJsonObject } from './merge-patch.js';
import { findUnknownFields, pointerToFieldPath, pruneUnknownFields, validateResource } from './validation.js';

type SchemaNode = Record<string, any>;
type JsonRecord = Record<string, any>;

const escape = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

/** Label keys and values as Kubernetes allows them, prefixed keys included. */
const labelName = fc.stringMatching(/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,8}[A-Za-z0-9])?$/);
const labelKey = fc.oneof(labelName, fc.tuple(fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,6}[a-z0-9])?(\.[a-z0-9]{1,5})?$/), labelName).map(([prefix, name]) => `${prefix}/${name}`));
const labelValue = fc.oneof(fc.constant(''), labelName);

function stringOf(schema: SchemaNode): fc.Arbitrary<string> {
  const bounds = schema[DURATION_BOUNDS] as DurationBounds | undefined;
  if (bounds) return fc.integer({ min: bounds.minimum, max: bounds.maximum }).map(formatDuration);
  const minLength = schema.minLength ?? 0;
  const maxLength = schema.maxLength ?? 24;
  if (typeof schema.pattern === 'string') {
    return fc.stringMatching(new RegExp(schema.pattern)).filter((text) => text.length >= minLength && text.length <= maxLength);
  }
  return fc.string({ minLength, maxLength: Math.min(maxLength, 24) });
}

/** Values the schema accepts, as far as its keywords say (relations between fields are repaired by `repaired`). */
function arbitraryOf(schema: SchemaNode, path: string): fc.Arbitrary<unknown> {
  if ('const' in schema) return fc.constant(schema.const);
  if (Array.isArray(schema.anyOf)) return fc.constantFrom(...schema.anyOf.map((member: SchemaNode) => member.const));
  switch (schema.type) {
    case 'string':
      return stringOf(schema);
    case 'integer':
      return fc.integer({ min: schema.minimum ?? -1_000_000, max: schema.maximum ?? 1_000_000 });
    case 'number':
      return fc.double({ min: schema.minimum ?? -1e9, max: schema.maximum ?? 1e9, noNaN: true, noDefaultInfinity: true });
    case 'boolean':
      return fc.boolean();
    case 'array': {
      const items = arbitraryOf(schema.items, `${path}[0]`);
      const size = { minLength: schema.minItems ?? 0, maxLength: Math.min(schema.maxItems ?? 3, 3) };
      if (schema[LIST_TYPE] === 'map') {
        const keys = schema[LIST_MAP_KEYS] as string[];
        return fc.uniqueArray(items as fc.Arbitrary<JsonRecord>, { ...size, selector: (item) => JSON.stringify(keys.map((key) => item[key])) });
      }
      if (schema[LIST_TYPE] === 'set') return fc.uniqueArray(items, { ...size, selector: (item) => JSON.stringify(item) });
      return fc.array(items, size);
    }
    case 'object': {
      if (isJsonObject(schema.patternProperties)) {
        const values = Object.values(schema.patternProperties)[0] as SchemaNode;
        if (path === 'metadata.labels') return fc.dictionary(labelKey, labelValue, { maxKeys: 3 });
        return fc.dictionary(fc.string({ maxLength: 12 }), arbitraryOf(values, `${path}[*]`), { maxKeys: 3 });
      }
      const properties = Object.entries((schema.properties ?? {}) as Record<string, SchemaNode>);
      return fc.record(Object.fromEntries(properties.map(([key, child]) => [key, arbitraryOf(child, path ? `${path}.${key}` : key)])), {
        requiredKeys: schema.required ?? [],
      });
    }
    default:
      // Type.Unknown: any JSON.
      return fc.jsonValue({ maxDepth: 2 });
  }
}

const atLeast = (duration: string, floor: string) => formatDuration(Math.max(parseDuration(duration), parseDuration(floor)));

/** The relations between fields that semantic-checks.ts enforces, made to hold. */
function repaired(kind: string, object: JsonRecord): JsonRecord {
  const spec = object.spec;
  const definition = KINDS.find((candidate) => candidate.kind === kind)!;
  if ((definition.isPolicy || kind === 'FailoverPolicy') && isJsonObject(spec.targetRef)) {
    if (spec.targetRef.kind === 'Mesh') delete spec.targetRef.name;
    else spec.targetRef.name ??= 'checkout';
  }
  switch (kind) {
    case 'RateLimitPolicy':
      if (spec.key?.type === 'header') spec.key.header ??= 'x-user';
      else if (spec.key) delete spec.key.header;
      for (const limit of spec.limits) if (limit.burst !== undefined) limit.burst = Math.max(limit.burst, limit.requests);
      break;
    case 'RetryPolicy':
      if (spec.backoff?.maxInterval && spec.backoff.baseInterval) spec.backoff.maxInterval = atLeast(spec.backoff.maxInterval, spec.backoff.baseInterval);
      if (spec.retriableStatusCodes?.length && !spec.retryOn?.includes('retriable-status-codes')) spec.retryOn = [...(spec.retryOn ?? []).slice(0, 4), 'retriable-status-codes'];
      break;
    case 'CircuitBreakerPolicy': {
      const outlier = spec.outlierDetection;
      if (outlier?.maxEjectionTime && outlier.baseEjectionTime) outlier.maxEjectionTime = atLeast(outlier.maxEjectionTime, outlier.baseEjectionTime);
      break;
    }
    case 'AutoscalePolicy': {
      if (spec.metric.latency) delete spec.metric.requestsPerSecond;
      else if (!spec.metric.requestsPerSecond) spec.metric.latency = { target: '30ms' };
      if (spec.scaler.type === 'Kubernetes') spec.scaler.kubernetes ??= { name: 'edge' };
      else delete spec.scaler.kubernetes;
      const min = spec.minReplicas ?? 1;
      spec.maxReplicas = Math.max(spec.maxReplicas, min);
      if (spec.fallback) spec.fallback.replicas = Math.min(Math.max(spec.fallback.replicas, min), spec.maxReplicas);
      break;
    }
    case 'Service': {
      const names = new Set<string>();
      for (const port of spec.ports) {
        if (port.name !== undefined && names.has(port.name)) delete port.name;
        else if (port.name !== undefined) names.add(port.name);
      }
      break;
    }
  }
  return object;
}

/** Built once per kind: building takes longer than the runs of a property. */
const validObjects = new Map<string, fc.Arbitrary<JsonRecord>>();
function validObject(definition: KindDefinition): fc.Arbitrary<JsonRecord> {
  let arbitrary = validObjects.get(definition.kind);
  if (!arbitrary) validObjects.set(definition.kind, (arbitrary = arbitraryOf(definition.schema, '').map((object) => repaired(definition.kind, object as JsonRecord))));
  return arbitrary;
}

/** Every node of `value` with the schema describing it (undefined past what the schema knows), by JSON pointer. */
function nodesOf(schema: SchemaNode | undefined, value: unknown, pointer = ''): Array<{ pointer: string; schema: SchemaNode | undefined; value: unknown }> {
  const nodes = [{ pointer, schema, value }];
  if (Array.isArray(value)) {
    value.forEach((item, index) => nodes.push(...nodesOf(isJsonObject(schema?.items) ? schema.items : undefined, item, `${pointer}/${index}`)));
  } else if (isJsonObject(value)) {
    for (const [key, child] of Object.entries(value)) {
      const childSchema = isJsonObject(schema?.properties) ? (Object.hasOwn(schema.properties, key) ? schema.properties[key] : undefined) : isJsonObject(schema?.patternProperties) ? Object.values(schema.patternProperties)[0] : undefined;
      nodes.push(...nodesOf(childSchema as SchemaNode | undefined, child, `${pointer}/${escape(key)}`));
    }
  }
  return nodes;
}

/** Field paths the schema declares, list items written `[#]`. */
function schemaPaths(schema: SchemaNode, path = '', paths = new Set<string>()): Set<string> {
  paths.add(path);
  if (isJsonObject(schema.items)) schemaPaths(schema.items, `${path}[#]`, paths);
  for (const [key, child] of Object.entries((schema.properties ?? {}) as Record<string, SchemaNode>)) schemaPaths(child, path ? `${path}.${key}` : key, paths);
  return paths;
}

/** Whether `field` names something in `input`, or a field of the kind's schema. */
function namesAField(field: string, input: unknown, definition: KindDefinition | undefined): boolean {
  if (nodesOf(undefined, input).some((node) => pointerToFieldPath(node.pointer) === field)) return true;
  return definition !== undefined && schemaPaths(definition.schema).has(field.replace(/\[\d+\]/g, '[#]'));
}

/** A value of a type the schema node does not allow, or undefined when it allows every type. */
function wrongTypeFor(schema: SchemaNode): unknown {
  if ('const' in schema || Array.isArray(schema.anyOf) || schema.type === 'string') return 42;
  if (schema.type === 'integer' || schema.type === 'number') return 'forty-two';
  if (schema.type === 'boolean') return 'yes';
  if (schema.type === 'object') return ['not', 'an', 'object'];
  if (schema.type === 'array') return { not: 'a list' };
  return undefined;
}

function setAt(object: JsonRecord, pointer: string, value: unknown): void {
  const keys = pointer.split('/').slice(1).map((key) => key.replace(/~1/g, '/').replace(/~0/g, '~'));
  const parent = keys.slice(0, -1).reduce((node, key) => node[key], object);
  Object.defineProperty(parent, keys[keys.length - 1], { value, writable: true, enumerable: true, configurable: true });
}

/** Eleven kinds, each its own property: fewer runs apiece keep the file at a few seconds. */
const PER_KIND = { numRuns: 30 };
const resourceKinds = KINDS.map((definition) => [definition.kind, definition] as const);

describe('validateResource', () => {
  it('never throws, and answers a list of causes, for any value at all, one of a known kind or not', () => {
    const anything = fc.anything({ withNullPrototype: true, withObjectString: true, withBoxedValues: true, withSparseArray: true });
    const ofAKind = fc.record({ apiVersion: fc.constant(GROUP_VERSION), kind: fc.constantFrom(...KINDS.map((definition) => definition.kind)), metadata: anything, spec: anything, status: anything });
    fc.assert(
      fc.property(fc.oneof(anything, ofAKind), (value) => {
        const result = validateResource(value);
        expect(Array.isArray(result.causes)).toBe(true);
      }),
    );
  });

  it.each(resourceKinds)('accepts every %s generated from its schema, with no unknown fields', (_kind, definition) => {
    fc.assert(
      fc.property(validObject(definition), (object) => {
        const result = validateResource(object);
        expect(result.causes).toEqual([]);
        expect(result.unknownFields).toEqual([]);
      }),
      PER_KIND,
    );
  });

  it.each(resourceKinds)('refuses a %s with one field of a wrong type, naming that field', (_kind, definition) => {
    fc.assert(
      fc.property(validObject(definition), fc.nat(), (generated, pick) => {
        const object = structuredClone(generated);
        const candidates = nodesOf(definition.schema, object).filter((node) => node.pointer !== '' && node.schema && wrongTypeFor(node.schema) !== undefined);
        const { pointer, schema } = candidates[pick % candidates.length];
        setAt(object as JsonRecord, pointer, wrongTypeFor(schema!));
        expect(validateResource(object).causes.map((cause) => cause.field)).toContain(pointerToFieldPath(pointer));
      }),
      PER_KIND,
    );
  });

  it.each(resourceKinds)('names, in every cause about a damaged %s, a field of the input or of the schema', (_kind, definition) => {
    const damage = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom(null, '', -1, 1e300, '\u0000', '\ud800', 'a\nb', '🙂'));
    fc.assert(
      fc.property(validObject(definition), fc.nat(), damage, (generated, pick, value) => {
        const object = structuredClone(generated);
        const nodes = nodesOf(definition.schema, object).filter((node) => node.pointer !== '');
        setAt(object as JsonRecord, nodes[pick % nodes.length].pointer, value);
        const result = validateResource(object);
        for (const cause of result.causes) expect(namesAField(cause.field, object, result.definition), `${cause.field}: ${cause.message}`).toBe(true);
        for (const field of result.unknownFields) expect(namesAField(field, object, undefined), field).toBe(true);
      }),
      PER_KIND,
    );
  });
});

describe('findUnknownFields and pruneUnknownFields', () => {
  const oddKeys = fc.oneof(fc.constantFrom('constructor', '__proto__', 'toString', 'hasOwnProperty', 'a/b', 'a~1b', 'colour'), fc.string({ minLength: 1, maxLength: 8 }));

  it.each(resourceKinds)('report a field a %s does not have, whatever its name, and prune exactly it', (_kind, definition) => {
    fc.assert(
      fc.property(validObject(definition), fc.nat(), oddKeys, (generated, pick, key) => {
        const object = structuredClone(generated);
        const objects = nodesOf(definition.schema, object).filter((node) => isJsonObject(node.schema?.properties) && isJsonObject(node.value) && !Object.hasOwn(node.schema!.properties, key));
        const { pointer, value } = objects[pick % objects.length];
        Object.defineProperty(value, key, { value: 'extra', writable: true, enumerable: true, configurable: true });
        expect(findUnknownFields(definition.schema, object)).toEqual([pointerToFieldPath(`${pointer}/${escape(key)}`)]);
        expect(findUnknownFields(definition.schema, pruneUnknownFields(definition.schema, object))).toEqual([]);
      }),
      PER_KIND,
    );
  });
});

describe('regressions found by the properties above', () => {
  const limits = (metadata: unknown, spec: Record<string, unknown> = {}) => ({
    apiVersion: GROUP_VERSION,
    kind: 'RateLimitPolicy',
    metadata,
    spec: { targetRef: { kind: 'Mesh' }, limits: [{ name: 'per-second', requests: 10, interval: '1s' }], ...spec },
  });

  it('checks the value of an annotation whose key has a line break', () => {
    const result = validateResource(limits(JSON.parse('{"name":"a","annotations":{"x\\ny":5}}')));
    expect(result.causes).toContainEqual(expect.objectContaining({ field: 'metadata.annotations[x\ny]', reason: 'FieldValueTypeInvalid' }));
  });

  it('reports unknown fields named like Object.prototype members', () => {
    const result = validateResource(limits({ name: 'a' }, JSON.parse('{"constructor":1,"__proto__":{"x":1}}')));
    expect(result.unknownFields).toEqual(['spec.constructor', 'spec.__proto__']);
  });

  it('names an unknown field with a "/" in its name as one field', () => {
    expect(validateResource(limits({ name: 'a' }, { 'a/b': 1 })).unknownFields).toEqual(['spec[a/b]']);
  });

  it('refuses a duration too long to count in milliseconds as past the maximum', () => {
    const result = validateResource(limits({ name: 'a' }, { limits: [{ name: 'x', requests: 1, interval: `${'9'.repeat(400)}h` }] }));
    expect(result.causes).toEqual([expect.objectContaining({ field: 'spec.limits[0].interval', message: expect.stringContaining('must be at most 24h') })]);
  });

  it.each([
    ['a right-to-left mark', 'team\u200f'],
    ['a zero-width joiner', 'a\u200db'],
    ['a NUL', 'a\u0000b'],
    ['a lone surrogate', 'a\ud800'],
    ['an emoji', 'team🙂'],
    ['a space', 'two words'],
    ['64 characters', 'a'.repeat(64)],
    ['a leading dash', '-team'],
  ])('refuses a label value with %s, as Kubernetes does', (_name, value) => {
    const result = validateResource(limits({ name: 'a', labels: { team: value } }));
    expect(result.causes).toEqual([expect.objectContaining({ field: 'metadata.labels', reason: 'FieldValueInvalid', message: expect.stringContaining(JSON.stringify(value)) })]);
  });

  it.each(['', 'a b', 'a/b/c', 'Example.com/name', '/name', `${'a'.repeat(64)}`, 'team🙂', '__proto__'])('refuses the label key %j', (key) => {
    const labels = JSON.parse(`{${JSON.stringify(key)}:"x"}`);
    expect(validateResource(limits({ name: 'a', labels })).causes).toEqual([expect.objectContaining({ field: 'metadata.labels', message: expect.stringContaining(JSON.stringify(key)) })]);
  });

  it.each(['team', 'app.kubernetes.io/name', 'a_b.c-d', 'A1'])('accepts the label key %j, with an empty value too', (key) => {
    expect(validateResource(limits({ name: 'a', labels: { [key]: 'v', other: '' } })).causes).toEqual([]);
  });
});
