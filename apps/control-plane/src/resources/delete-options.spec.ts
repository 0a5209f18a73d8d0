import { describe, expect, it } from 'vitest';
import { ApiError } from '../errors/api-error';
import { parseDeleteOptions } from './delete-options';

describe('parseDeleteOptions', () => {
  it.each([
    ['kubectl delete', { propagationPolicy: 'Background' }, {}, { dryRun: false }],
    ['--dry-run=server', { propagationPolicy: 'Background', dryRun: ['All'] }, {}, { dryRun: true }],
    ['?dryRun=All', undefined, { dryRun: 'All' }, { dryRun: true }],
    ['--grace-period=0 --force', { gracePeriodSeconds: 0, propagationPolicy: 'Background' }, {}, { dryRun: false }],
    ['--cascade=orphan', { propagationPolicy: 'Orphan' }, {}, { dryRun: false }],
    ['preconditions', { preconditions: { uid: 'u-1', resourceVersion: '41' } }, {}, { dryRun: false, expectedUid: 'u-1', expectedResourceVersion: '41' }],
    ['?gracePeriodSeconds=30', undefined, { gracePeriodSeconds: '30' }, { dryRun: false }],
  ])('accepts %s', (_name, body, query, expected) => {
    expect(parseDeleteOptions(body, query as Record<string, string>)).toEqual({ expectedResourceVersion: undefined, expectedUid: undefined, ...expected });
  });

  it.each([
    ['a dry run spelled as a string', { dryRun: 'All' }, {}, 'dryRun', 'must be a list'],
    ['a dry run with a typo', { dryRun: ['Al'] }, {}, 'dryRun', 'Unsupported value: "Al"'],
    ['a dry run query with a typo', undefined, { dryRun: 'all' }, 'dryRun', 'Unsupported value: "all"'],
    ['an unknown propagation policy', { propagationPolicy: 'Sideways' }, {}, 'propagationPolicy', 'supported values: "Orphan", "Background", "Foreground"'],
    ['a negative grace period', { gracePeriodSeconds: -1 }, {}, 'gracePeriodSeconds', 'Invalid value: -1'],
    ['a grace period that is not a number', undefined, { gracePeriodSeconds: 'abc' }, 'gracePeriodSeconds', 'Invalid value: "abc"'],
    ['a numeric resourceVersion precondition', { preconditions: { resourceVersion: 41 } }, {}, 'preconditions.resourceVersion', 'must be a string'],
    ['preconditions that are not an object', { preconditions: 'yes' }, {}, 'preconditions', 'must be an object'],
  ])('refuses %s, naming the field', (_name, body, query, field, message) => {
    let error: unknown;
    try {
      parseDeleteOptions(body, query as Record<string, string>);
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(ApiError);
    const status = (error as ApiError).status;
    expect(status).toMatchObject({ code: 422, reason: 'Invalid', details: { kind: 'DeleteOptions', group: 'meta.k8s.io' } });
    expect(status.details!.causes).toEqual([expect.objectContaining({ field, message: expect.stringContaining(message) })]);
  });

  it('refuses a body that is not an object', () => {
    expect(() => parseDeleteOptions(['All'], {})).toThrow('the body of a DELETE must be DeleteOptions');
  });
});
