import { describe, expect, it } from 'vitest';
import { locateField, parseFieldPath, yamlSyntaxErrors } from './yaml-errors';

const POLICY = [
  'apiVersion: mesh.portolan.dev/v1alpha1', // 1
  'kind: RateLimitPolicy', // 2
  'metadata:', // 3
  '  name: checkout-limits', // 4
  '  labels:', // 5
  '    app.kubernetes.io/name: checkout', // 6
  'spec:', // 7
  '  targetRef:', // 8
  '    kind: Service', // 9
  '    name: checkout', // 10
  '  limits:', // 11
  '    - name: per-minute', // 12
  '      requests: 0', // 13
  '      interval: 60s', // 14
  '    - interval: 1s', // 15
  '  tags: [a, b]', // 16
  '  onLimit:', // 17
  '', // 18
].join('\n');

/** The text a location covers, to check it is the field and not just the line. */
function covered(text: string, field: string) {
  const location = locateField(text, field, 'message');
  return { line: location.line, text: text.slice(location.from, location.to), exact: location.exact };
}

describe('parseFieldPath', () => {
  it.each([
    ['spec.limits[0].requests', ['spec', 'limits', 0, 'requests']],
    ['metadata.name', ['metadata', 'name']],
    ['metadata.labels[app.kubernetes.io/name]', ['metadata', 'labels', 'app.kubernetes.io/name']],
    ['spec.zones[12]', ['spec', 'zones', 12]],
    ['', []],
  ])('%s', (field, segments) => {
    expect(parseFieldPath(field)).toEqual(segments);
  });
});

describe('locateField', () => {
  it.each([
    // nested maps: the key and its scalar value
    { field: 'kind', line: 2, text: 'kind: RateLimitPolicy', exact: true },
    { field: 'spec.targetRef.kind', line: 9, text: 'kind: Service', exact: true },
    { field: 'metadata.name', line: 4, text: 'name: checkout-limits', exact: true },
    // a key that is not an identifier, as pointerToFieldPath writes it
    { field: 'metadata.labels[app.kubernetes.io/name]', line: 6, text: 'app.kubernetes.io/name: checkout', exact: true },
    // a nested collection marks only its key
    { field: 'spec.targetRef', line: 8, text: 'targetRef', exact: true },
    { field: 'spec.limits', line: 11, text: 'limits', exact: true },
    // arrays: the item's field, the item itself (its first line), a flow sequence's scalar item
    { field: 'spec.limits[0].requests', line: 13, text: 'requests: 0', exact: true },
    { field: 'spec.limits[1].interval', line: 15, text: 'interval: 1s', exact: true },
    { field: 'spec.limits[0]', line: 12, text: 'name: per-minute', exact: true },
    { field: 'spec.tags[1]', line: 16, text: 'b', exact: true },
    // a key without a value
    { field: 'spec.onLimit', line: 17, text: 'onLimit:', exact: true },
    // missing leaf -> its closest existing parent
    { field: 'spec.limits[1].requests', line: 15, text: 'interval: 1s', exact: false },
    { field: 'spec.onLimit.statusCode', line: 17, text: 'onLimit:', exact: false },
    { field: 'spec.key.type', line: 7, text: 'spec', exact: false },
    // an index past the end, and a path through a scalar, stop at what exists
    { field: 'spec.limits[5].requests', line: 11, text: 'limits', exact: false },
    { field: 'spec.targetRef.kind.deeper', line: 9, text: 'kind: Service', exact: false },
    // nothing of the path exists, or the root itself: the first line
    { field: 'status', line: 1, text: 'apiVersion: mesh.portolan.dev/v1alpha1', exact: false },
    { field: '', line: 1, text: 'apiVersion: mesh.portolan.dev/v1alpha1', exact: true },
  ])('$field -> line $line', ({ field, line, text, exact }) => {
    expect(covered(POLICY, field)).toEqual({ line, text, exact });
  });

  it('keeps the message and the field', () => {
    const location = locateField(POLICY, 'spec.limits[0].requests', 'Invalid value: 0: must be greater than or equal to 1');
    expect(location).toMatchObject({ field: 'spec.limits[0].requests', message: 'Invalid value: 0: must be greater than or equal to 1' });
    expect(location.from).toBeLessThan(location.to);
  });

  it('finds sequences written at the same indentation as their key', () => {
    const text = 'spec:\n  limits:\n  - requests: 1\n  - requests: 0\n    interval: 1s\n';
    expect(covered(text, 'spec.limits[1].requests')).toEqual({ line: 4, text: 'requests: 0', exact: true });
    expect(covered(text, 'spec.limits[0].interval')).toEqual({ line: 3, text: 'requests: 1', exact: false });
  });

  it('handles flow mappings', () => {
    const text = 'spec:\n  targetRef: { kind: Mesh, name: x }\n';
    expect(covered(text, 'spec.targetRef.name')).toEqual({ line: 2, text: 'name: x', exact: true });
  });

  it('maps anything to the start of an empty document', () => {
    const location = locateField('', 'spec.limits', 'Required value');
    expect(location).toMatchObject({ from: 0, to: 0, line: 1, exact: false });
  });
});

describe('yamlSyntaxErrors', () => {
  it('is empty for valid YAML', () => {
    expect(yamlSyntaxErrors(POLICY)).toEqual([]);
  });

  it.each([
    { name: 'an unclosed flow sequence', text: 'spec:\n  tags: [a, b\n  other: 1\n', line: 3 },
    { name: 'a duplicate key', text: 'spec:\n  scope: gateway\n  scope: mesh\n', line: 3 },
    { name: 'a bad indentation', text: 'spec:\n  a: 1\n b: 2\n', line: 3 },
    { name: 'a tab as indentation', text: 'spec:\n\tscope: mesh\n', line: 2 },
    { name: 'an unclosed quote at the end', text: 'spec:\n  name: "abc\n', line: 2 },
  ])('places $name at line $line', ({ text, line }) => {
    const errors = yamlSyntaxErrors(text);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0].line).toBe(line);
    expect(errors[0].message).not.toBe('');
    expect(errors[0].from).toBeGreaterThanOrEqual(0);
    expect(errors[0].to).toBeLessThanOrEqual(text.length);
  });

  it('gives the offset of the error, not just the line', () => {
    const text = 'a: 1\nb: 2\nb: 3\n';
    const [error] = yamlSyntaxErrors(text);
    expect(text.slice(error.from, error.to)).toBe('b');
    expect(error.from).toBe(10);
  });
});
