import { describe, expect, it } from 'vitest';
import type { Resource } from '@portolan/api';
import { fieldSelector, labelSelector } from './selectors';

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

describe('fieldSelector', () => {
  it.each([
    ['metadata.name=a', [true, false]],
    ['metadata.name!=a', [false, true]],
    ['metadata.namespace=shop', [false, true]],
  ])('%j selects %j', (selector, expected) => {
    const matches = fieldSelector(selector);
    expect([gold, object('b', undefined, 'shop')].map(matches)).toEqual(expected);
  });

  it('rejects fields it cannot select on', () => {
    expect(() => fieldSelector('spec.ports=1')).toThrow(/not supported: use metadata.name or metadata.namespace/);
  });
});
