import { describe, expect, it } from 'vitest';
import { describePath, fieldElement as f, keyElement as k, valueElement as v, type FieldPath } from './field-path';
import { FieldSet } from './field-set';
import { decodeFieldsV1, encodeFieldsV1, FieldsV1Error, MAX_FIELD_PATH_LENGTH } from './fields-v1';
import { goJson } from './go-json';

const limit = (name: string) => k({ name });

describe('FieldsV1', () => {
  it.each<[string, FieldPath[], unknown]>([
    ['a field', [[f('spec'), f('scope')]], { 'f:spec': { 'f:scope': {} } }],
    [
      'a list item with its fields, marked "." because it is owned itself',
      [[f('spec'), f('limits'), limit('per-second')], [f('spec'), f('limits'), limit('per-second'), f('requests')]],
      { 'f:spec': { 'f:limits': { 'k:{"name":"per-second"}': { '.': {}, 'f:requests': {} } } } },
    ],
    [
      'fields before keys before values, each in order',
      [[f('spec'), v('b')], [f('spec'), v('a')], [f('spec'), k({ port: 90 })], [f('spec'), k({ port: 8080 })], [f('spec'), f('z')], [f('spec'), f('a')]],
      { 'f:spec': { 'f:a': {}, 'f:z': {}, 'k:{"port":90}': {}, 'k:{"port":8080}': {}, 'v:"a"': {}, 'v:"b"': {} } },
    ],
    ['nothing', [], {}],
  ])('encodes %s', (_name, paths, expected) => {
    const encoded = encodeFieldsV1(FieldSet.of(paths));
    expect(encoded).toEqual(expected);
    // Key order is what a raw API client reads; kubectl sorts, a JSON client does not.
    expect(JSON.stringify(encoded)).toBe(JSON.stringify(expected));
    expect(decodeFieldsV1(encoded).equals(FieldSet.of(paths))).toBe(true);
  });

  it('reads a key spelled with its fields in another order as the same item', () => {
    const decoded = decodeFieldsV1({ 'f:spec': { 'f:ports': { 'k:{"protocol":"http","port":80}': {} } } });
    expect(decoded.has([f('spec'), f('ports'), k({ port: 80, protocol: 'http' })])).toBe(true);
  });

  it.each([
    ['a list', [], 'must be an object'],
    ['an element of no known kind', { 'x:spec': {} }, '"x:spec": must start with f:, k:, v: or i:, or be "."'],
    ['a key that is not JSON', { 'f:spec': { 'k:{name}': {} } }, 'at f:spec: "k:{name}": what follows k: must be JSON'],
    ['a key without fields', { 'k:{}': {} }, 'a key must be a JSON object with at least one field'],
    ['a set item that is an object', { 'v:{"a":1}': {} }, 'a set item must be a string, number, boolean or null'],
    ['"." at the top', { '.': {} }, '"." marks a list item and cannot be at the top'],
    ['"." with fields under it', { 'f:spec': { '.': { 'f:x': {} } } }, 'at f:spec: "." must be {}'],
    ['"." as a list', { 'f:spec': { '.': [] } }, 'at f:spec: "." must be {}'],
    ['a key with a number JSON cannot hold (read as Infinity)', { 'f:spec': { 'f:ports': { 'k:{"port":1e400}': {} } } }, 'at f:spec.f:ports: "k:{"port":1e400}": a number must be finite'],
    ['a set item with a number JSON cannot hold', { 'f:spec': { 'f:codes': { 'v:-1e400': {} } } }, 'at f:spec.f:codes: "v:-1e400": a number must be finite'],
    ['a child that is not an object', { 'f:spec': true }, 'at f:spec: must be an object'],
  ])('refuses %s, saying where and why', (_name, fields, message) => {
    expect(() => decodeFieldsV1(fields)).toThrow(FieldsV1Error);
    expect(() => decodeFieldsV1(fields)).toThrow(message);
  });

  it('stops at a tree nested deeper than any field, wherever it goes (not with a stack overflow)', () => {
    let deep: Record<string, unknown> = {};
    for (let depth = 0; depth < 20_000; depth++) deep = { 'f:a': deep };
    expect(() => decodeFieldsV1(deep)).toThrow(FieldsV1Error);
    expect(() => decodeFieldsV1(deep)).toThrow(`at ${Array(MAX_FIELD_PATH_LENGTH + 1).fill('f:a').join('.')}: nested deeper than ${MAX_FIELD_PATH_LENGTH} fields`);
    // As deep as allowed still reads.
    let allowed: Record<string, unknown> = {};
    for (let depth = 0; depth < MAX_FIELD_PATH_LENGTH; depth++) allowed = { 'f:a': allowed };
    expect(decodeFieldsV1(allowed).size).toBe(1);
  });
});

describe('field paths', () => {
  it.each<[FieldPath, string]>([
    [[f('spec'), f('limits'), limit('per-second'), f('requests')], '.spec.limits[name="per-second"].requests'],
    [[f('spec'), f('ports'), k({ protocol: 'http', port: 80 })], '.spec.ports[port=80,protocol="http"]'],
    [[f('spec'), f('retryOn'), v('reset')], '.spec.retryOn[="reset"]'],
    [[f('metadata'), f('annotations'), f('kubectl.kubernetes.io/last-applied-configuration')], '.metadata.annotations.kubectl.kubernetes.io/last-applied-configuration'],
  ])('prints %j as kube-apiserver does: %s', (path, printed) => {
    expect(describePath(path)).toBe(printed);
  });

  it('spells JSON as Go does: keys sorted, HTML characters escaped', () => {
    expect(goJson({ b: 1, a: { d: '<&>', c: [2, 1] } })).toBe('{"a":{"c":[2,1],"d":"\\u003c\\u0026\\u003e"},"b":1}');
  });
});
