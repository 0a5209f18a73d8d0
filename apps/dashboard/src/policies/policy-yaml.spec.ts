import type { Resource } from '@portolan/api';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { diagnose, newPolicyYaml, objectIdentity, toEditableYaml, withResourceVersion } from './policy-yaml';
import { POLICY_PAGE_KINDS } from './policy-kinds';

const stored = {
  apiVersion: 'mesh.portolan.dev/v1alpha1',
  kind: 'RateLimitPolicy',
  metadata: {
    name: 'checkout-limits',
    namespace: 'default',
    labels: { team: 'payments' },
    uid: '1b4e28ba-2fa1-11d2-883f-0016d3cca427',
    resourceVersion: '42',
    generation: 3,
    creationTimestamp: '2026-05-01T12:00:00Z',
  },
  spec: { targetRef: { kind: 'Service', name: 'checkout' }, limits: [{ name: 'per-minute', requests: 100, interval: '60s' }] },
  status: { conditions: [], rollout: { gateways: 6, acked: 6, nacked: 0 } },
} as unknown as Resource;

describe('toEditableYaml', () => {
  it('keeps what an operator writes and drops server-set metadata and status', () => {
    const text = toEditableYaml(stored);
    expect(parse(text)).toEqual({
      apiVersion: 'mesh.portolan.dev/v1alpha1',
      kind: 'RateLimitPolicy',
      metadata: { name: 'checkout-limits', namespace: 'default', labels: { team: 'payments' } },
      spec: stored.spec,
    });
    expect(text.split('\n').slice(0, 3)).toEqual(['apiVersion: mesh.portolan.dev/v1alpha1', 'kind: RateLimitPolicy', 'metadata:']);
  });

  it('never folds a long annotation over several lines', () => {
    const long = 'x'.repeat(300);
    const text = toEditableYaml({ ...stored, metadata: { ...stored.metadata, annotations: { note: `${long} ${long}` } } });
    expect(text.split('\n').find((line) => line.includes('note:'))).toContain(long);
  });
});

describe('newPolicyYaml', () => {
  it.each(POLICY_PAGE_KINDS.map((definition) => definition.kind))('gives a valid %s to start from', (kind) => {
    const { problems, value } = diagnose(newPolicyYaml(kind), { kind });
    expect(problems).toEqual([]);
    expect(value?.kind).toBe(kind);
  });
});

describe('withResourceVersion', () => {
  it('adds the version to metadata and keeps the comments', () => {
    const text = '# mine\napiVersion: v\nkind: K\nmetadata:\n  name: a # the name\nspec: {}\n';
    const result = withResourceVersion(text, '42');
    expect(parse(result).metadata).toEqual({ name: 'a', resourceVersion: '42' });
    expect(result).toContain('# mine');
    expect(result).toContain('# the name');
  });

  it('leaves text it cannot parse, or without a version to add, alone', () => {
    expect(withResourceVersion('a: [', '42')).toBe('a: [');
    expect(withResourceVersion('kind: K\n', undefined)).toBe('kind: K\n');
  });
});

describe('diagnose', () => {
  const valid = toEditableYaml(stored);

  it('finds nothing wrong with the stored object', () => {
    expect(diagnose(valid, { kind: 'RateLimitPolicy', name: 'checkout-limits', namespace: 'default' }).problems).toEqual([]);
  });

  it('puts a schema violation at the line of its field', () => {
    const text = valid.replace('requests: 100', 'requests: 0');
    const line = text.split('\n').findIndex((candidate) => candidate.includes('requests: 0')) + 1;
    const { problems } = diagnose(text, { kind: 'RateLimitPolicy' });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ source: 'schema', severity: 'error', field: 'spec.limits[0].requests', line });
    expect(problems[0].message).toContain('greater than or equal to 1');
  });

  it('reports a syntax error and does not validate the rest', () => {
    const { problems, value } = diagnose(`${valid}  limits: [\n`, { kind: 'RateLimitPolicy' });
    expect(problems.every((problem) => problem.source === 'syntax')).toBe(true);
    expect(problems.length).toBeGreaterThan(0);
    expect(value).toBeUndefined();
  });

  it('warns of unknown fields at their line', () => {
    const text = valid.replace('spec:\n', 'spec:\n  colour: blue\n');
    const { problems } = diagnose(text, { kind: 'RateLimitPolicy' });
    expect(problems).toEqual([expect.objectContaining({ severity: 'warning', field: 'spec.colour', line: text.split('\n').indexOf('  colour: blue') + 1 })]);
  });

  it('refuses a renamed object or another kind', () => {
    const renamed = diagnose(valid.replace('name: checkout-limits', 'name: other'), { kind: 'RateLimitPolicy', name: 'checkout-limits', namespace: 'default' });
    expect(renamed.problems.map((problem) => problem.field)).toEqual(['metadata.name']);
    const otherKind = diagnose(valid.replace('kind: RateLimitPolicy', 'kind: TimeoutPolicy'), { kind: 'RateLimitPolicy' });
    expect(otherKind.problems.some((problem) => problem.field === 'kind')).toBe(true);
  });

  it('places the server causes in the current text, without repeating what the schema already says', () => {
    const text = valid.replace('requests: 100', 'requests: 0');
    const { problems } = diagnose(text, {
      kind: 'RateLimitPolicy',
      serverCauses: [
        { field: 'spec.limits[0].requests', reason: 'FieldValueInvalid', message: 'Invalid value: 0: must be greater than or equal to 1' },
        { field: 'spec.targetRef.name', reason: 'FieldValueNotSupported', message: 'Unsupported value: "checkout": no such Service' },
      ],
    });
    expect(problems.map((problem) => [problem.source, problem.field])).toEqual([
      ['server', 'spec.targetRef.name'],
      ['schema', 'spec.limits[0].requests'],
    ]);
  });
});

describe('objectIdentity', () => {
  it('defaults the namespace', () => {
    expect(objectIdentity({ metadata: { name: 'a' } })).toEqual({ namespace: 'default', name: 'a' });
    expect(objectIdentity({ metadata: { name: 'a', namespace: 'shop' } })).toEqual({ namespace: 'shop', name: 'a' });
    expect(objectIdentity(undefined)).toEqual({ namespace: 'default', name: undefined });
  });
});
