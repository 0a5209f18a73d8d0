import { describe, expect, it } from 'vitest';
import type { Resource } from '@portolan/api';
import { ApiError } from '../errors/api-error';
import { fieldSelector, labelSelector, parseFieldSelector, type FieldRequirement } from './selectors';

const object = (name: string, labels?: Record<string, string>, namespace = 'default'): Resource => ({
  apiVersion: 'mesh.portolan.dev/v1alpha1',
  kind: 'Service',
  metadata: { name, namespace, labels },
  spec: {},
});

const gold = object('a', { team: 'payments', tier: 'gold' });
const plain = object('b', { team: 'search' });
const bare = object('c');

describe('labelSelector', () => {
  it.each([
    ['', [true, true, true]],
    ['team=payments', [true, false, false]],
    ['team==payments', [true, false, false]],
    ['team!=payments', [false, true, true]],
    ['tier', [true, false, false]],
    ['!tier', [false, true, true]],
    ['team in (payments, search)', [true, true, false]],
    ['team notin (payments)', [false, true, true]],
    ['team=payments,tier=gold', [true, false, false]],
    ['team in (payments,search),!tier', [false, true, false]],
    ['team=', [false, false, false]],
  ])('%j selects %j', (selector, expected) => {
    const matches = labelSelector(selector);
    expect([gold, plain, bare].map(matches)).toEqual(expected);
  });

  it.each(['team in payments', '=x', 'team in (a', 'bad key!=x'])('rejects %j with a 400 naming the grammar', (selector) => {
    expect(() => labelSelector(selector)).toThrow(/expected key, !key, key=value|invalid label key/);
  });
});

describe('parseFieldSelector: apimachinery\'s fields grammar', () => {
  const term = (field: string, operator: FieldRequirement['operator'], value: string): FieldRequirement => ({ field, operator, value });

  it.each<[string, FieldRequirement[]]>([
    ['', []],
    ['metadata.name=a', [term('metadata.name', '=', 'a')]],
    ['metadata.name==a', [term('metadata.name', '==', 'a')]],
    ['metadata.name!=a', [term('metadata.name', '!=', 'a')]],
    ['metadata.name=', [term('metadata.name', '=', '')]],
    // Terms are sorted, as apimachinery sorts them; empty terms are skipped.
    ['metadata.namespace=shop,,metadata.name=a,', [term('metadata.name', '=', 'a'), term('metadata.namespace', '=', 'shop')]],
    // `\` escapes `\`, `,` and `=` in a value; an escaped comma does not split.
    ['metadata.name=a\\,b', [term('metadata.name', '=', 'a,b')]],
    ['metadata.name=a\\=b\\\\', [term('metadata.name', '=', 'a=b\\')]],
    // The first operator splits the term, `!=` and `==` before `=`; no spaces are trimmed.
    ['metadata.name = a', [term('metadata.name ', '=', ' a')]],
    ['a!b=c', [term('a!b', '=', 'c')]],
    // The attack on authorization: commas inside parentheses split too, so the middle term is
    // metadata.name=x, and the others are equalities on fields that do not exist.
    [
      'metadata.name notin (q=,metadata.name=x,r=)',
      [term('metadata.name notin (q', '=', ''), term('metadata.name', '=', 'x'), term('r', '=', ')')],
    ],
  ])('%j', (selector, expected) => {
    expect(parseFieldSelector(selector)).toEqual(expected);
  });

  it.each<[string, string]>([
    ['nonsense', "invalid fieldSelector 'nonsense': cannot understand 'nonsense': a term is field=value, field==value or field!=value"],
    ['metadata.name in (a)', "cannot understand 'metadata.name in (a)': a term is field=value"],
    ['metadata.name notin (a)', 'in, notin and exists are label-selector operators'],
    ['metadata.name=a=b', "cannot understand 'metadata.name=a=b': its value has an unescaped \"=\": write it as \\="],
    ['metadata.name=a\\x', "cannot understand 'metadata.name=a\\x': its value has the escape \\x, which is none"],
    ['metadata.name=a\\', "cannot understand 'metadata.name=a\\': its value ends in a lone \\"],
  ])('refuses %j with a 400 naming the term', (selector, message) => {
    let thrown: unknown;
    try {
      parseFieldSelector(selector);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ApiError);
    expect((thrown as ApiError).status.code).toBe(400);
    expect((thrown as ApiError).status.message).toContain(message);
  });
});

describe('fieldSelector', () => {
  const shop = object('b', undefined, 'shop');

  it.each([
    ['metadata.name=a', [true, false]],
    ['metadata.name==a', [true, false]],
    ['metadata.name!=a', [false, true]],
    ['metadata.namespace=shop', [false, true]],
    ['metadata.namespace=shop,metadata.name=b', [false, true]],
    ['metadata.namespace=shop,metadata.name=a', [false, false]],
  ])('%j selects %j', (selector, expected) => {
    const matches = fieldSelector(selector);
    expect([gold, shop].map(matches)).toEqual(expected);
  });

  it('counts a repeated parameter by its first value, as delegated authorization does', () => {
    expect([gold, shop].map(fieldSelector(['metadata.name=a', 'metadata.name=b']))).toEqual([true, false]);
  });

  it('rejects fields it cannot select on, naming them', () => {
    expect(() => fieldSelector('spec.ports=1')).toThrow(/field label not supported: "spec.ports".*use metadata.name or metadata.namespace/);
    expect(() => fieldSelector('constructor=x')).toThrow(/field label not supported: "constructor"/);
  });

  it('never widens the attack string into a list of everything: it is refused', () => {
    expect(() => fieldSelector('metadata.name notin (q=,metadata.name=x,r=)')).toThrow(/field label not supported: "metadata.name notin \(q"/);
  });
});
