import { RateLimitPolicySchema, RouteSchema, ServiceSchema } from '@portolan/api';
import { describe, expect, it } from 'vitest';
import { trackedSchemaOf } from './field-manager';
import { describePath, fieldElement as f, keyElement as k } from './field-path';
import { FieldSet } from './field-set';
import { compareValues, fieldSetOf, mergeValues, removeFields, UntypedValueError, withNamedParents, type SchemaNode } from './typed-value';

const rateLimit = trackedSchemaOf(RateLimitPolicySchema);
const route = trackedSchemaOf(RouteSchema);
const service = trackedSchemaOf(ServiceSchema);

const printed = (set: FieldSet) => set.paths().map(describePath);

describe('the fields a value sets', () => {
  it.each<[string, SchemaNode, unknown, string[]]>([
    [
      'limits keyed by name: each limit and its fields',
      rateLimit,
      { spec: { limits: [{ name: 'per-second', requests: 10, interval: '1s' }] } },
      ['.spec.limits[name="per-second"]', '.spec.limits[name="per-second"].interval', '.spec.limits[name="per-second"].name', '.spec.limits[name="per-second"].requests'],
    ],
    ['hostnames, a set: each value', route, { spec: { hostnames: ['b.example.com', 'a.example.com'] } }, ['.spec.hostnames[="a.example.com"]', '.spec.hostnames[="b.example.com"]']],
    ['endpoints, atomic: the list', service, { spec: { endpoints: [{ address: '10.0.0.1' }] } }, ['.spec.endpoints']],
    ['ports keyed by port number', service, { spec: { ports: [{ port: 8080 }] } }, ['.spec.ports[port=8080]', '.spec.ports[port=8080].port']],
    ['labels and annotations, key by key', rateLimit, { metadata: { labels: { team: 'payments' }, annotations: { note: 'x' } } }, ['.metadata.annotations.note', '.metadata.labels.team']],
    ['an empty object, owned as such', rateLimit, { spec: { onLimit: {} } }, ['.spec.onLimit']],
    ['a field the schema does not know, as a leaf', rateLimit, { spec: { colour: { r: 1 } } }, ['.spec.colour']],
    ['an empty keyed list: nothing', rateLimit, { spec: { limits: [] } }, []],
  ])('%s', (_name, schema, value, paths) => {
    expect(printed(fieldSetOf(value, schema))).toEqual(paths);
  });
});

describe('a list whose items cannot be told apart', () => {
  const limit = (fields: Record<string, unknown>) => ({ requests: 10, interval: '1s', ...fields });

  // Never merged one way for some data and another way for other data: it is refused, named as validation names it.
  it.each<[string, SchemaNode, unknown, { field: string; reason: string; message: string }]>([
    [
      'a limit without its key',
      rateLimit,
      { spec: { limits: [limit({ name: 'a' }), limit({})] } },
      { field: 'spec.limits[1].name', reason: 'FieldValueRequired', message: 'Required value: name each limit (e.g. per-second); limits are merged by name' },
    ],
    ['two limits with the same key', rateLimit, { spec: { limits: [limit({ name: 'a' }), limit({ name: 'a' })] } }, { field: 'spec.limits[1].name', reason: 'FieldValueDuplicate', message: 'Duplicate value: "a"' }],
    ['an item of a keyed list that is not an object', rateLimit, { spec: { limits: ['a'] } }, { field: 'spec.limits[0]', reason: 'FieldValueTypeInvalid', message: 'Invalid value: must be of type object' }],
    ['a set item that is not a scalar', route, { spec: { hostnames: [{ a: 1 }] } }, { field: 'spec.hostnames[0]', reason: 'FieldValueTypeInvalid', message: 'Invalid value: must be a string, number, boolean or null: the list is a set' }],
    ['a set item twice', route, { spec: { hostnames: ['a.example.com', 'a.example.com'] } }, { field: 'spec.hostnames[1]', reason: 'FieldValueDuplicate', message: 'Duplicate value: "a.example.com"' }],
  ])('%s', (_name, schema, value, problem) => {
    const refusal = (operation: () => unknown) => {
      try {
        operation();
      } catch (error) {
        return error instanceof UntypedValueError ? error.problem : error;
      }
      return 'no error';
    };
    expect(refusal(() => fieldSetOf(value, schema))).toEqual(problem);
    expect(refusal(() => compareValues({}, value, schema))).toEqual(problem);
    expect(() => mergeValues(value, value, schema)).toThrow(UntypedValueError);
  });
});

describe('comparing two values', () => {
  const limits = (...items: Array<Record<string, unknown>>) => ({ spec: { limits: items.map((item) => ({ interval: '1s', requests: 10, ...item })) } });

  it.each<[string, unknown, unknown, { added?: string[]; modified?: string[]; removed?: string[] }]>([
    ['a changed value is modified', limits({ name: 'a' }), limits({ name: 'a', requests: 20 }), { modified: ['.spec.limits[name="a"].requests'] }],
    [
      'a new item is added with its fields',
      limits({ name: 'a' }),
      limits({ name: 'a' }, { name: 'b' }),
      { added: ['.spec.limits[name="b"]', '.spec.limits[name="b"].interval', '.spec.limits[name="b"].name', '.spec.limits[name="b"].requests'] },
    ],
    ['items that only moved are unchanged', limits({ name: 'a' }, { name: 'b' }), limits({ name: 'b' }, { name: 'a' }), {}],
    ['a removed field is removed', { spec: { scope: 'mesh' } }, { spec: {} }, { removed: ['.spec.scope'] }],
  ])('%s', (_name, before, after, expected) => {
    const comparison = compareValues(before, after, rateLimit);
    expect({ added: printed(comparison.added), modified: printed(comparison.modified), removed: printed(comparison.removed) }).toEqual({
      added: expected.added ?? [],
      modified: expected.modified ?? [],
      removed: expected.removed ?? [],
    });
  });
});

describe('merging an applied configuration into the live object', () => {
  it.each<[string, SchemaNode, unknown, unknown, unknown]>([
    [
      'limits merge by name: applied fields win, live-only fields and items stay',
      rateLimit,
      { spec: { scope: 'mesh', limits: [{ name: 'a', requests: 1, interval: '1s', burst: 5 }, { name: 'b', requests: 2, interval: '1m' }] } },
      { spec: { limits: [{ name: 'a', requests: 9 }] } },
      { spec: { scope: 'mesh', limits: [{ name: 'a', requests: 9, interval: '1s', burst: 5 }, { name: 'b', requests: 2, interval: '1m' }] } },
    ],
    [
      'a new item goes where the applied order puts it',
      rateLimit,
      { spec: { limits: [{ name: 'a', requests: 1, interval: '1s' }, { name: 'c', requests: 3, interval: '1s' }] } },
      { spec: { limits: [{ name: 'b', requests: 2, interval: '1s' }, { name: 'c', requests: 3, interval: '1s' }] } },
      { spec: { limits: [{ name: 'a', requests: 1, interval: '1s' }, { name: 'b', requests: 2, interval: '1s' }, { name: 'c', requests: 3, interval: '1s' }] } },
    ],
    ['hostnames merge as a set', route, { spec: { hostnames: ['a.example.com'] } }, { spec: { hostnames: ['b.example.com'] } }, { spec: { hostnames: ['a.example.com', 'b.example.com'] } }],
    ['endpoints are replaced whole', service, { spec: { endpoints: [{ address: '10.0.0.1' }] } }, { spec: { endpoints: [{ address: '10.0.0.2' }] } }, { spec: { endpoints: [{ address: '10.0.0.2' }] } }],
    ['labels merge key by key', rateLimit, { metadata: { labels: { team: 'a', tier: 'x' } } }, { metadata: { labels: { tier: 'y' } } }, { metadata: { labels: { team: 'a', tier: 'y' } } }],
    [
      'a label named __proto__ is a label, not a prototype',
      rateLimit,
      JSON.parse('{"metadata":{"labels":{"team":"a","__proto__":"x"}}}'),
      JSON.parse('{"metadata":{"labels":{"__proto__":"y","tier":"b"}}}'),
      JSON.parse('{"metadata":{"labels":{"team":"a","__proto__":"y","tier":"b"}}}'),
    ],
  ])('%s', (_name, schema, live, config, merged) => {
    // Through JSON: toEqual would take a label named __proto__ for the prototype it must not be.
    expect(JSON.stringify(mergeValues(live, config, schema))).toBe(JSON.stringify(merged));
  });
});

describe('removing fields', () => {
  const live = { spec: { onLimit: { statusCode: 429 }, limits: [{ name: 'a', requests: 1, interval: '1s' }, { name: 'b', requests: 2, interval: '1s' }] } };

  it('removes a list item by its key, with everything in it', () => {
    expect(removeFields(live, FieldSet.of([[f('spec'), f('limits'), k({ name: 'a' })]]), rateLimit)).toEqual({ spec: { onLimit: { statusCode: 429 }, limits: [{ name: 'b', requests: 2, interval: '1s' }] } });
  });

  it('keeps a label named __proto__ it does not remove', () => {
    const labelled = JSON.parse('{"metadata":{"labels":{"__proto__":"x","team":"a"}}}');
    expect(JSON.stringify(removeFields(labelled, FieldSet.of([[f('metadata'), f('labels'), f('team')]]), rateLimit))).toBe('{"metadata":{"labels":{"__proto__":"x"}}}');
  });

  it('drops an object it emptied, as Kubernetes drops the null left behind', () => {
    expect(removeFields(live, FieldSet.of([[f('spec'), f('onLimit'), f('statusCode')]]), rateLimit)).toEqual({ spec: { limits: live.spec.limits } });
  });

  it('counts a named parent as owned, so dropping all of it drops it, not a map key\'s parent', () => {
    const owned = FieldSet.of([[f('spec'), f('onLimit'), f('statusCode')], [f('metadata'), f('labels'), f('team')]]);
    expect(printed(withNamedParents(owned, rateLimit))).toEqual(['.metadata', '.metadata.labels', '.metadata.labels.team', '.spec', '.spec.onLimit', '.spec.onLimit.statusCode']);
  });
});
