import { kindDefinition } from '@portolan/api';
import { describe, expect, it } from 'vitest';
import { completionsAt, cursorContext, type SchemaNode } from './schema-completion';

const schema = kindDefinition('RateLimitPolicy')!.schema as unknown as SchemaNode;
const retrySchema = kindDefinition('RetryPolicy')!.schema as unknown as SchemaNode;

/** `¦` marks the cursor. */
function at(textWithCursor: string) {
  const pos = textWithCursor.indexOf('¦');
  return { text: textWithCursor.replace('¦', ''), pos };
}

function labels(textWithCursor: string, root = schema): string[] {
  const { text, pos } = at(textWithCursor);
  const context = cursorContext(text, pos);
  return context ? completionsAt(root, context).map((completion) => completion.label) : [];
}

describe('cursorContext', () => {
  it.each([
    { text: '¦', path: [], mode: 'key', prefix: '' },
    { text: 'apiVersion: x\nki¦', path: [], mode: 'key', prefix: 'ki' },
    { text: 'kind: Ra¦', path: ['kind'], mode: 'value', prefix: 'Ra' },
    { text: 'spec:\n  targetRef:\n    kind: S¦\n', path: ['spec', 'targetRef', 'kind'], mode: 'value', prefix: 'S' },
    { text: 'spec:\n  limits:\n    - ¦', path: ['spec', 'limits', 0], mode: 'key', prefix: '' },
    { text: 'spec:\n  limits:\n    - requests: 1\n      int¦\n', path: ['spec', 'limits', 0], mode: 'key', prefix: 'int' },
    // a sequence at the same indentation as its key
    { text: 'spec:\n  limits:\n  - requests: 1\n    int¦\n', path: ['spec', 'limits', 0], mode: 'key', prefix: 'int' },
    { text: 'spec:\n  retryOn:\n    - gate¦', path: ['spec', 'retryOn', 0], mode: 'key', prefix: 'gate' },
    // comments and blank lines do not count
    { text: 'spec:\n  # the target\n\n  targetRef:\n    ¦', path: ['spec', 'targetRef'], mode: 'key', prefix: '' },
  ])('$text', ({ text, path, mode, prefix }) => {
    const { text: plain, pos } = at(text);
    expect(cursorContext(plain, pos)).toMatchObject({ path, mode, prefix, from: pos - prefix.length });
  });

  it('collects the keys the mapping already has, above and below the cursor', () => {
    const { text, pos } = at('spec:\n  targetRef:\n    kind: Service\n  ¦\n  limits:\n    - requests: 1\n');
    expect(cursorContext(text, pos)?.siblings.sort()).toEqual(['limits', 'targetRef']);
  });

  it.each([
    ['inside a flow mapping', 'spec:\n  targetRef: { kind: ¦ }'],
    ['inside a block scalar', 'metadata:\n  annotations:\n    note: |\n      some text\n      ¦'],
    ['in the middle of a key', 'spec:\n  sc¦ope: mesh\n'],
  ])('offers nothing %s', (_name, text) => {
    const { text: plain, pos } = at(text);
    expect(cursorContext(plain, pos)).toBeNull();
  });
});

describe('completionsAt', () => {
  it('offers the top-level fields, never status', () => {
    expect(labels('¦').sort()).toEqual(['apiVersion', 'kind', 'metadata', 'spec']);
  });

  it('offers only the metadata an operator writes', () => {
    expect(labels('metadata:\n  name: x\n  ¦').sort()).toEqual(['annotations', 'labels', 'namespace']);
  });

  it('offers the spec fields of the kind, required first, without those already there', () => {
    const offered = labels('spec:\n  targetRef:\n    kind: Mesh\n  ¦');
    expect(offered[0]).toBe('limits');
    expect(offered).not.toContain('targetRef');
    expect(offered.sort()).toEqual(['guardedRollout', 'key', 'limits', 'onLimit', 'scope']);
  });

  it('filters by the typed prefix and describes the field', () => {
    const { text, pos } = at('spec:\n  limits:\n    - req¦');
    const [completion] = completionsAt(schema, cursorContext(text, pos)!);
    expect(completion).toMatchObject({ label: 'requests', apply: 'requests: ', required: true, detail: 'required · integer 1–1000000000' });
    expect(completion.info).toContain('Tokens added to the bucket');
  });

  it('inserts a nested object or list on the next line, indented', () => {
    const { text, pos } = at('spec:\n  ¦');
    const completions = completionsAt(schema, cursorContext(text, pos)!);
    expect(completions.find((completion) => completion.label === 'targetRef')).toMatchObject({ apply: 'targetRef:\n    ', reopen: true });
    expect(completions.find((completion) => completion.label === 'limits')).toMatchObject({ apply: 'limits:\n    - ', reopen: true });
  });

  it('offers enum values, the default marked', () => {
    expect(labels('spec:\n  targetRef:\n    kind: ¦')).toEqual(['Mesh', 'Service', 'Route']);
    const { text, pos } = at('spec:\n  scope: ¦');
    expect(completionsAt(schema, cursorContext(text, pos)!).map((completion) => [completion.label, completion.detail])).toEqual([
      ['gateway', 'default'],
      ['mesh', 'one of gateway | mesh'],
    ]);
  });

  it('offers the enum values of a list of scalars', () => {
    expect(labels('spec:\n  retryOn:\n    - ¦', retrySchema)).toEqual(['5xx', 'gateway-error', 'connect-failure', 'reset', 'retriable-status-codes']);
  });

  it('offers booleans', () => {
    expect(labels('spec:\n  retryNonIdempotent: ¦', retrySchema)).toEqual(['true', 'false']);
  });

  it('offers nothing off the schema', () => {
    expect(labels('spec:\n  colour:\n    ¦')).toEqual([]);
  });
});
