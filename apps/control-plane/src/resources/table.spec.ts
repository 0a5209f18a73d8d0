import { describe, expect, it } from 'vitest';
import { kindDefinition, type Resource } from '@portolan/api';
import { humanDuration, tableRows, toTable, wantsTable } from './table';

describe('humanDuration (kubectl AGE)', () => {
  const s = 1000;
  it.each([
    [-5 * s, '<invalid>'],
    [-0.5 * s, '0s'],
    [0, '0s'],
    [59 * s, '59s'],
    [119 * s, '119s'],
    [120 * s, '2m'],
    [150 * s, '2m30s'],
    [10 * 60 * s, '10m'],
    [179 * 60 * s, '179m'],
    [3 * 3600 * s, '3h'],
    [3.5 * 3600 * s, '3h30m'],
    [30 * 3600 * s, '30h'],
    [50 * 3600 * s, '2d2h'],
    [9 * 86400 * s, '9d'],
    [800 * 86400 * s, '2y70d'],
    [3000 * 86400 * s, '8y'],
  ])('%i ms is %s', (ms, text) => {
    expect(humanDuration(ms)).toBe(text);
  });
});

describe('toTable', () => {
  const policy: Resource = {
    apiVersion: 'mesh.portolan.dev/v1alpha1',
    kind: 'RateLimitPolicy',
    metadata: { name: 'limits', namespace: 'shop', labels: { a: 'b' }, creationTimestamp: '2026-01-01T00:00:00Z' },
    spec: { targetRef: { kind: 'Service', name: 'checkout', zone: 'eu-1' }, limits: [{ name: 'per-minute', requests: 100, interval: '60s' }, { name: 'per-second', requests: 10, interval: '1000ms' }] },
  };

  it('has the kind\'s columns, and rows with partial metadata by default', () => {
    const table = toTable(kindDefinition('RateLimitPolicy')!, [policy], '7', 'Metadata', Date.parse('2026-01-01T00:05:00Z'));
    expect(table.columnDefinitions.map((c) => c.name)).toEqual(['Name', 'Target', 'Rate', 'Ready', 'Scope', 'Age']);
    // Scope is a -o wide column.
    expect(table.columnDefinitions.map((c) => c.priority)).toEqual([0, 0, 0, 0, 1, 0]);
    // No status yet: the READY cell is empty rather than a made-up 0/0.
    expect(table.rows[0].cells).toEqual(['limits', 'Service/checkout@eu-1', '100/1m,10/1s', '', 'gateway', '5m']);
    expect(table.rows[0].object).toEqual({ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: policy.metadata });
    expect(table.metadata.resourceVersion).toBe('7');
  });

  it('honours includeObject', () => {
    expect(toTable(kindDefinition('RateLimitPolicy')!, [policy], '7', 'None').rows[0]).not.toHaveProperty('object');
    expect(toTable(kindDefinition('RateLimitPolicy')!, [policy], '7', 'Object').rows[0].object).toBe(policy);
  });

  it('recognises the Accept header kubectl sends', () => {
    expect(wantsTable('application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json')).toBe(true);
    expect(wantsTable('application/json')).toBe(false);
    expect(wantsTable(undefined)).toBe(false);
  });

  it('shows READY as acked/gateways once the policy has a rollout', () => {
    const rolledOut = { ...policy, status: { rollout: { gateways: 6, acked: 5, nacked: 0, pending: 1 } } } as Resource;
    const table = toTable(kindDefinition('RateLimitPolicy')!, [rolledOut], '7', 'None');
    expect(table.rows[0].cells[3]).toBe('5/6');
  });

  it('gives a GatewayNode its zone, pool, health and applied revision, with address and sync state for -o wide', () => {
    const node = {
      apiVersion: 'mesh.portolan.dev/v1alpha1',
      kind: 'GatewayNode',
      metadata: { name: 'edge-1', namespace: 'default', creationTimestamp: '2026-01-01T00:00:00Z' },
      spec: { zone: 'zone-a', pool: 'edge', address: '10.0.0.7:8080' },
      status: { phase: 'Degraded', appliedRevision: 41, synced: false },
    } as unknown as Resource;
    const table = toTable(kindDefinition('GatewayNode')!, [node], '41', 'None', Date.parse('2026-01-01T00:00:30Z'));
    expect(table.columnDefinitions.filter((c) => c.priority === 0).map((c) => c.name)).toEqual(['Name', 'Zone', 'Pool', 'Health', 'Revision', 'Age']);
    expect(table.columnDefinitions.filter((c) => c.priority === 1).map((c) => c.name)).toEqual(['Synced', 'Address']);
    expect(table.rows[0].cells).toEqual(['edge-1', 'zone-a', 'edge', 'Degraded', '41', 'False', '10.0.0.7:8080', '30s']);
  });
});

describe('tableRows (watch events for kubectl get -w)', () => {
  it('sends the column definitions with the first event only, so kubectl prints one header', () => {
    const render = tableRows(kindDefinition('Zone')!, 'Metadata', () => Date.parse('2026-01-01T00:01:00Z'));
    const zone = (name: string, resourceVersion: string) =>
      ({ apiVersion: 'mesh.portolan.dev/v1alpha1', kind: 'Zone', metadata: { name, namespace: 'default', resourceVersion, creationTimestamp: '2026-01-01T00:00:00Z' }, spec: { drained: true, reason: 'maintenance' } }) as unknown as Resource;
    const first = render(zone('zone-a', '3'));
    const second = render(zone('zone-b', '4'));
    expect(first.columnDefinitions.map((c) => c.name)).toEqual(['Name', 'Drained', 'Reason', 'Age']);
    expect(second.columnDefinitions).toEqual([]);
    expect(second.rows).toEqual([{ cells: ['zone-b', 'True', 'maintenance', '60s'], object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: zone('zone-b', '4').metadata } }]);
    expect(second.metadata.resourceVersion).toBe('4');
  });
});
