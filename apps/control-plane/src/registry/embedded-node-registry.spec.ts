import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddedNodeRegistry } from './embedded-node-registry';
import { NodeNotFoundError, type RegistryChange } from './node-registry';

const settings = { heartbeatIntervalMs: 2_000, ttlMs: 6_000, removeAfterMs: 60_000 };
const gateway = { role: 'gateway' as const, name: 'edge-a-1', zone: 'zone-a', pool: 'edge', address: '127.0.0.1:8080', version: '1' };
const registries: EmbeddedNodeRegistry[] = [];

function open(db: Database.Database, clock: () => number) {
  const registry = new EmbeddedNodeRegistry(db, { settings, clock, sweepIntervalMs: 60_000 });
  registries.push(registry);
  const changes: RegistryChange[] = [];
  registry.onChange((change) => changes.push(change));
  return { registry, changes };
}

afterEach(async () => {
  for (const registry of registries.splice(0)) await registry.close();
});

describe('EmbeddedNodeRegistry', () => {
  it('walks a gateway through Healthy, Offline and removal as heartbeats stop', async () => {
    let now = 0;
    const { registry, changes } = open(new Database(':memory:'), () => now);
    const { node, credential } = await registry.register(gateway);
    expect(registry.authenticate(node.id, credential)?.name).toBe('edge-a-1');
    expect(registry.authenticate(node.id, 'wrong')).toBeUndefined();

    now = 5_000;
    await registry.heartbeat(node.id, {});
    now = 10_999;
    registry.sweep();
    expect(registry.get(node.id)!.lifecycle.phase).toBe('Healthy');
    now = 11_000;
    registry.sweep();
    expect(registry.get(node.id)!.lifecycle).toMatchObject({ phase: 'Offline', offlineSince: 11_000, removalAt: 71_000 });
    now = 71_000;
    registry.sweep();
    expect(registry.get(node.id)).toBeUndefined();
    await expect(registry.heartbeat(node.id, {})).rejects.toBeInstanceOf(NodeNotFoundError);
    expect(changes.map((change) => [change.type, change.node.lifecycle.phase, change.epoch])).toEqual([
      ['ADDED', 'Healthy', 1],
      ['MODIFIED', 'Offline', 2],
      ['DELETED', 'Offline', 3],
    ]);
  });

  it('heartbeats do not count as changes; open breakers and NACKs make a node Degraded', async () => {
    const { registry, changes } = open(new Database(':memory:'), () => 0);
    const { node } = await registry.register(gateway);
    await registry.heartbeat(node.id, {});
    await registry.heartbeat(node.id, {});
    expect(changes).toHaveLength(1);
    const stats = { periodMs: 2000, requests: 1, responses: { '2xx': 1, '3xx': 0, '4xx': 0, '5xx': 0 }, errors: { rateLimited: 0, breakerOpen: 0, timeout: 0, connectFailure: 0, noRoute: 0, noEndpoint: 0 }, retries: 0, latency: null, ejectedEndpoints: [] };
    await registry.heartbeat(node.id, { stats: { ...stats, breakers: [{ service: 'default/orders', state: 'open' }] } });
    expect(registry.get(node.id)!.lifecycle.phase).toBe('Degraded');
    registry.setDegraded(node.id, 'ConfigRejected', true);
    await registry.heartbeat(node.id, { stats: { ...stats, breakers: [] } });
    expect(registry.get(node.id)!.degradedBecause).toEqual(['ConfigRejected']);
    registry.setDegraded(node.id, 'ConfigRejected', false);
    expect(registry.get(node.id)!.lifecycle.phase).toBe('Healthy');
    expect(changes.map((change) => change.node.lifecycle.phase)).toEqual(['Healthy', 'Degraded', 'Healthy']);
  });

  it('replaces a registration of the same name: the old id stops working', async () => {
    const { registry, changes } = open(new Database(':memory:'), () => 0);
    const first = await registry.register(gateway);
    const second = await registry.register(gateway);
    expect(second.node.id).not.toBe(first.node.id);
    expect(registry.authenticate(first.node.id, first.credential)).toBeUndefined();
    expect(registry.nodes().map((node) => node.id)).toEqual([second.node.id]);
    expect(changes.map((change) => change.type)).toEqual(['ADDED', 'DELETED', 'ADDED']);
  });

  it('keeps registrations and drains across a restart, with a fresh TTL for every node', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portolan-registry-'));
    try {
      let now = 0;
      const db = new Database(join(dir, 'db'));
      const { registry } = open(db, () => now);
      const { node, credential } = await registry.register(gateway);
      const other = await registry.register({ ...gateway, name: 'edge-a-2' });
      await registry.drain(other.node.id);
      await registry.close();
      db.close();

      now = 1_000_000;
      const { registry: restarted } = open(new Database(join(dir, 'db')), () => now);
      expect(restarted.authenticate(node.id, credential)?.lifecycle.phase).toBe('Healthy');
      expect(restarted.get(other.node.id)!.lifecycle.phase).toBe('Draining');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects an invalid registration naming every bad field, storing nothing', async () => {
    const { registry } = open(new Database(':memory:'), () => 0);
    await expect(registry.register({ ...gateway, zone: 'Zone A', pool: '' })).rejects.toMatchObject({
      code: 'PORTOLAN_INVALID_REGISTRATION',
      causes: expect.arrayContaining([expect.objectContaining({ field: 'spec.zone' }), expect.objectContaining({ field: 'spec.pool' })]),
    });
    expect(registry.nodes()).toEqual([]);
  });
});
