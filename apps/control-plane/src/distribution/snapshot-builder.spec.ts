import { describe, expect, it } from 'vitest';
import { buildResolutionIndex, GROUP_VERSION, type Lifecycle, type Resource } from '@portolan/api';
import type { RegisteredGateway, RegisteredInstance, RegisteredNode } from '../registry/node-registry';
import { buildSnapshots, snapshotFrames } from './snapshot-builder';

const resource = (kind: string, name: string, spec: unknown, resourceVersion = '1'): Resource => ({
  apiVersion: GROUP_VERSION,
  kind,
  metadata: { name, namespace: 'default', resourceVersion, creationTimestamp: '2026-01-01T00:00:00Z' },
  spec,
});

const MESH = [
  resource('Service', 'orders', { ports: [{ port: 80 }], endpoints: [{ address: '10.0.0.1', zone: 'a' }] }),
  resource('Route', 'orders', { backendRef: { name: 'orders' } }),
  resource('Route', 'users', { match: { pathPrefix: '/users' }, backendRef: { name: 'orders' } }),
  resource('RateLimitPolicy', 'limit', { targetRef: { kind: 'Mesh' }, scope: 'mesh', limits: [{ name: 'per-minute', requests: 100, interval: '60s' }] }),
];

const lifecycle = { phase: 'Healthy' as const, remove: false };
const gateway = (name: string, zone: string, extra: Partial<RegisteredGateway> = {}): RegisteredGateway => ({
  id: `id-${name}`,
  role: 'gateway',
  namespace: 'default',
  name,
  spec: { zone, pool: 'edge', address: '127.0.0.1:1', version: 't' },
  registeredAt: 0,
  lastHeartbeat: 0,
  draining: false,
  degradedBecause: [],
  lifecycle,
  ...extra,
});
const instance = (port: number, phase: Lifecycle = 'Healthy'): RegisteredInstance => ({
  id: `instance-${port}`,
  role: 'instance',
  namespace: 'default',
  name: `orders-${port}`,
  spec: { service: 'orders', address: '10.0.1.1', port, zone: 'b' },
  registeredAt: 0,
  lastHeartbeat: 0,
  draining: false,
  degradedBecause: [],
  lifecycle: { phase, remove: false },
});

describe('buildSnapshots', () => {
  it('resolves and serializes once per shape: gateways of one zone share the same bytes', () => {
    const nodes = [gateway('a1', 'a'), gateway('a2', 'a'), gateway('b1', 'b')];
    const { gateways, shapes } = buildSnapshots(buildResolutionIndex(MESH, 4), nodes);
    expect(shapes.size).toBe(2);
    expect(gateways.get('id-a1')!.shape.routesJson).toBe(gateways.get('id-a2')!.shape.routesJson);
    expect(gateways.get('id-a1')!.shape).not.toBe(gateways.get('id-b1')!.shape);
  });

  it('numbers pool members in name order, skipping gateways that are not routable', () => {
    const nodes: RegisteredNode[] = [
      gateway('c', 'a'),
      gateway('a', 'a'),
      gateway('b', 'a', { lifecycle: { phase: 'Draining', remove: false } }),
      gateway('d', 'a', { lifecycle: { phase: 'Degraded', remove: false } }),
    ];
    const { gateways } = buildSnapshots(buildResolutionIndex(MESH, 4), nodes);
    expect(Object.fromEntries([...gateways.values()].map((s) => [s.gateway.name, s.share!.index]))).toEqual({ a: 0, b: -1, c: 1, d: 2 });
    expect(gateways.get('id-a')!.share!.size).toBe(3);
  });

  it('keeps version and revision when a new revision changes nothing for the gateway', () => {
    const nodes = [gateway('a1', 'a')];
    const first = buildSnapshots(buildResolutionIndex(MESH, 4), nodes);
    const unrelated = [...MESH, resource('Service', 'other', { ports: [{ port: 1 }] }, '5')];
    const second = buildSnapshots(buildResolutionIndex(unrelated, 5), nodes, first);
    expect(second.gateways.get('id-a1')).toMatchObject({ version: first.gateways.get('id-a1')!.version, revision: 4 });
    const changed = [...unrelated, resource('TimeoutPolicy', 't', { targetRef: { kind: 'Mesh' }, requestTimeout: '3s' }, '6')];
    const third = buildSnapshots(buildResolutionIndex(changed, 6), nodes, second);
    expect(third.gateways.get('id-a1')!.revision).toBe(6);
    expect(third.gateways.get('id-a1')!.version).not.toBe(first.gateways.get('id-a1')!.version);
  });

  it('sends no pool share where no mesh-scoped limit needs it, so joins do not re-push such gateways', () => {
    const withoutMeshLimit = MESH.filter((r) => r.kind !== 'RateLimitPolicy');
    const first = buildSnapshots(buildResolutionIndex(withoutMeshLimit, 4), [gateway('a1', 'a')]);
    expect(first.gateways.get('id-a1')!.share).toBeNull();
    const joined = buildSnapshots(buildResolutionIndex(withoutMeshLimit, 4), [gateway('a1', 'a'), gateway('a2', 'a')], first);
    expect(joined.gateways.get('id-a1')!.version).toBe(first.gateways.get('id-a1')!.version);
    const withMeshLimit = buildSnapshots(buildResolutionIndex(MESH, 4), [gateway('a1', 'a')]);
    const joinedWithLimit = buildSnapshots(buildResolutionIndex(MESH, 4), [gateway('a1', 'a'), gateway('a2', 'a')], withMeshLimit);
    expect(joinedWithLimit.gateways.get('id-a1')!.version).not.toBe(withMeshLimit.gateways.get('id-a1')!.version);
  });

  it('adds only Healthy registered instances to the service endpoints (Consul\'s passing set)', () => {
    const nodes = [gateway('a1', 'a'), instance(9001), instance(9002, 'Offline'), instance(9003, 'Degraded'), instance(9004, 'Draining')];
    const { gateways } = buildSnapshots(buildResolutionIndex(MESH, 4), nodes);
    expect(gateways.get('id-a1')!.shape.routes[0].backend.endpoints).toEqual([
      { address: '10.0.0.1', port: 80, zone: 'a', weight: 1 },
      { address: '10.0.1.1', port: 9001, zone: 'b', weight: 1 },
    ]);
  });

  it('lists the policies each shape runs, for rollout counts', () => {
    const { gateways } = buildSnapshots(buildResolutionIndex(MESH, 4), [gateway('a1', 'a')]);
    expect([...gateways.get('id-a1')!.shape.policies]).toEqual(['RateLimitPolicy/default/limit']);
  });

  it('frames a snapshot as valid JSON around the shared routes bytes', () => {
    const { gateways } = buildSnapshots(buildResolutionIndex(MESH, 4), [gateway('a1', 'a')]);
    const snapshot = gateways.get('id-a1')!;
    const message = JSON.parse(Buffer.concat(snapshotFrames(snapshot, true)).toString());
    expect(message.type).toBe('snapshot');
    expect(message.snapshot).toMatchObject({ version: snapshot.version, revision: 4, share: { pool: 'edge', size: 1, index: 0 } });
    expect(message.snapshot.routes).toHaveLength(2);
    const body = JSON.parse(Buffer.concat(snapshotFrames(snapshot, false)).toString());
    expect(body).toEqual(message.snapshot);
    expect(snapshotFrames(snapshot, false)[1]).toBe(snapshot.shape.routesJson);
  });
});
