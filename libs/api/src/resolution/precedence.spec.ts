import { describe, expect, it } from 'vitest';
import type { Resource, TargetRef } from '../meta.js';
import { comparePolicies, specificity } from './precedence.js';

function policy(name: string, targetRef: TargetRef, created: string | undefined, namespace = 'default'): Resource {
  return {
    apiVersion: 'mesh.portolan.dev/v1alpha1',
    kind: 'RetryPolicy',
    metadata: { name, namespace, ...(created ? { creationTimestamp: created } : {}) },
    spec: { targetRef },
  };
}

const ids = (policies: Resource[]) => policies.map((p) => `${p.metadata.namespace}/${p.metadata.name}`);
/** Sorted in merge order from every rotation of the input, so the result cannot depend on it. */
function mergeOrders(policies: Resource[]): string[][] {
  return policies.map((_, i) => ids([...policies.slice(i), ...policies.slice(0, i)].sort(comparePolicies)));
}

const JAN = '2026-01-01T00:00:00Z';
const FEB = '2026-02-01T00:00:00Z';

describe('specificity', () => {
  it.each([
    [{ kind: 'Mesh' }, 0],
    [{ kind: 'Mesh', zone: 'a' }, 1],
    [{ kind: 'Service', name: 's' }, 2],
    [{ kind: 'Service', name: 's', zone: 'a' }, 3],
    [{ kind: 'Route', name: 'r' }, 4],
    [{ kind: 'Route', name: 'r', zone: 'a' }, 5],
  ] as const)('%o -> %i', (ref, expected) => {
    expect(specificity(ref)).toBe(expected);
  });
});

describe('comparePolicies (merge order: the winner last)', () => {
  it('orders by specificity before age or name', () => {
    const policies = [
      policy('a-route', { kind: 'Route', name: 'r' }, JAN),
      policy('b-mesh-zoned', { kind: 'Mesh', zone: 'z' }, FEB),
      policy('c-service', { kind: 'Service', name: 's' }, FEB),
      policy('d-mesh', { kind: 'Mesh' }, JAN),
    ];
    for (const order of mergeOrders(policies)) {
      expect(order).toEqual(['default/d-mesh', 'default/b-mesh-zoned', 'default/c-service', 'default/a-route']);
    }
  });

  it('lets the oldest win a tie even against an earlier name', () => {
    for (const order of mergeOrders([policy('zzz', { kind: 'Mesh' }, JAN), policy('aaa', { kind: 'Mesh' }, FEB)])) {
      expect(order).toEqual(['default/aaa', 'default/zzz']);
    }
  });

  it('compares instants, not text: an offset or a fraction does not change the age', () => {
    // 01:00+01:00 is the same instant as 00:00Z, so the name decides.
    expect(ids([policy('a', { kind: 'Mesh' }, '2026-01-01T01:00:00+01:00'), policy('b', { kind: 'Mesh' }, JAN)].sort(comparePolicies))).toEqual([
      'default/b',
      'default/a',
    ]);
    // As text "…00.5Z" sorts before "…00Z", but it is half a second later.
    expect(ids([policy('a', { kind: 'Mesh' }, '2026-01-01T00:00:00.5Z'), policy('b', { kind: 'Mesh' }, JAN)].sort(comparePolicies))).toEqual([
      'default/a',
      'default/b',
    ]);
  });

  it('treats a policy without creationTimestamp as the newest', () => {
    for (const order of mergeOrders([policy('a', { kind: 'Mesh' }, undefined), policy('b', { kind: 'Mesh' }, FEB)])) {
      expect(order).toEqual(['default/a', 'default/b']);
    }
  });

  it('breaks a tie of age by name, then namespace, alphabetically first winning', () => {
    const policies = [
      policy('beta', { kind: 'Mesh' }, JAN, 'alpha'),
      policy('alpha', { kind: 'Mesh' }, JAN, 'zeta'),
      policy('alpha', { kind: 'Mesh' }, JAN, 'alpha'),
      policy('beta', { kind: 'Mesh' }, JAN, 'zeta'),
    ];
    for (const order of mergeOrders(policies)) {
      expect(order).toEqual(['zeta/beta', 'alpha/beta', 'zeta/alpha', 'alpha/alpha']);
    }
  });
});
