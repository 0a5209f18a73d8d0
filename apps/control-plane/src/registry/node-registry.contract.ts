/**
 * The behaviour every NodeRegistry must have. Each implementation's spec calls
 * `describeNodeRegistryContract` with a harness; the Consul registry (a later issue) will run the
 * same suite. Time goes through `advance`: a fake clock for the embedded registry, real waiting
 * where the backend keeps its own clock.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { HeartbeatStats } from '@portolan/agent-client';
import type { RegistrySettings } from '../config/boot-config';
import { NodeNotFoundError, type NodeRegistry, type RegistryChange } from './node-registry';

export interface RegistryHarness {
  registry: NodeRegistry;
  settings: RegistrySettings;
  /** Lets `ms` pass for the registry and lets it re-evaluate lifecycles. */
  advance(ms: number): Promise<void>;
  /** Closes the registry and opens it again on the same data, when the implementation is durable. */
  reopen?: () => Promise<NodeRegistry>;
  cleanup(): Promise<void>;
}

const gateway = { role: 'gateway' as const, name: 'edge-a-1', zone: 'zone-a', pool: 'edge', address: '127.0.0.1:8080', version: '1' };
const stats = (breakers: HeartbeatStats['breakers']): HeartbeatStats => ({
  periodMs: 2000,
  requests: 1,
  responses: { '2xx': 1, '3xx': 0, '4xx': 0, '5xx': 0 },
  errors: { rateLimited: 0, breakerOpen: 0, timeout: 0, connectFailure: 0, noRoute: 0, noEndpoint: 0 },
  retries: 0,
  latency: null,
  breakers,
  ejectedEndpoints: [],
});

export function describeNodeRegistryContract(implementation: string, makeHarness: () => Promise<RegistryHarness>): void {
  describe(`NodeRegistry contract: ${implementation}`, () => {
    let harness: RegistryHarness | undefined;
    const open = async () => {
      harness = await makeHarness();
      const changes: RegistryChange[] = [];
      harness.registry.onChange((change) => changes.push(change));
      return { ...harness, changes };
    };
    afterEach(async () => {
      await harness?.cleanup();
      harness = undefined;
    });

    it('registers a node whose credential, and only it, authenticates', async () => {
      const { registry } = await open();
      const { node, credential } = await registry.register(gateway);
      expect(registry.authenticate(node.id, credential)?.name).toBe('edge-a-1');
      expect(registry.authenticate(node.id, `${credential}x`)).toBeUndefined();
      expect(registry.nodes().map((n) => n.name)).toEqual(['edge-a-1']);
    });

    it('walks a silent node through Offline to removal, and a heartbeat in time keeps it Healthy', async () => {
      const { registry, settings, advance, changes } = await open();
      const { node } = await registry.register(gateway);
      await advance(settings.ttlMs - settings.heartbeatIntervalMs);
      await registry.heartbeat(node.id, {});
      await advance(settings.ttlMs - settings.heartbeatIntervalMs);
      expect(registry.get(node.id)!.lifecycle.phase).toBe('Healthy');
      await advance(settings.heartbeatIntervalMs * 2);
      expect(registry.get(node.id)!.lifecycle).toMatchObject({ phase: 'Offline', removalAt: expect.any(Number) });
      await advance(settings.removeAfterMs);
      expect(registry.get(node.id)).toBeUndefined();
      await expect(registry.heartbeat(node.id, {})).rejects.toBeInstanceOf(NodeNotFoundError);
      expect(changes.map((change) => [change.type, change.node.lifecycle.phase])).toEqual([
        ['ADDED', 'Healthy'],
        ['MODIFIED', 'Offline'],
        ['DELETED', 'Offline'],
      ]);
      expect(changes.map((change) => change.epoch)).toEqual([...changes.map((change) => change.epoch)].sort((a, b) => a - b));
    });

    it('does not count heartbeats as changes; open breakers and a degraded reason make a node Degraded', async () => {
      const { registry, changes } = await open();
      const { node } = await registry.register(gateway);
      await registry.heartbeat(node.id, {});
      await registry.heartbeat(node.id, {});
      expect(changes).toHaveLength(1);
      await registry.heartbeat(node.id, { stats: stats([{ service: 'default/orders', state: 'open' }]) });
      expect(registry.get(node.id)!.lifecycle.phase).toBe('Degraded');
      registry.setDegraded(node.id, 'ConfigRejected', true);
      await registry.heartbeat(node.id, { stats: stats([]) });
      expect(registry.get(node.id)!.degradedBecause).toEqual(['ConfigRejected']);
      registry.setDegraded(node.id, 'ConfigRejected', false);
      expect(registry.get(node.id)!.lifecycle.phase).toBe('Healthy');
      expect(changes.map((change) => change.node.lifecycle.phase)).toEqual(['Healthy', 'Degraded', 'Healthy']);
    });

    it('takes a gateway whose stream was lost Offline at once; a heartbeat or a new stream brings it back', async () => {
      const { registry, settings, changes } = await open();
      const { node } = await registry.register(gateway);
      await registry.heartbeat(node.id, {});
      registry.setStreamLost(node.id, true);
      expect(registry.get(node.id)!.lifecycle).toMatchObject({ phase: 'Offline', streamLost: true, removalAt: expect.any(Number) });
      expect(registry.get(node.id)!.lifecycle.removalAt! - registry.get(node.id)!.lifecycle.offlineSince!).toBe(settings.removeAfterMs);
      await registry.heartbeat(node.id, {});
      expect(registry.get(node.id)!.lifecycle.phase).toBe('Healthy');
      registry.setStreamLost(node.id, true);
      registry.setStreamLost(node.id, true);
      expect(registry.get(node.id)!.lifecycle.phase).toBe('Offline');
      registry.setStreamLost(node.id, false);
      expect(registry.get(node.id)!.lifecycle).toEqual({ phase: 'Healthy', remove: false });
      expect(changes.map((change) => [change.type, change.node.lifecycle.phase])).toEqual([
        ['ADDED', 'Healthy'],
        ['MODIFIED', 'Offline'],
        ['MODIFIED', 'Healthy'],
        ['MODIFIED', 'Offline'],
        ['MODIFIED', 'Healthy'],
      ]);
    });

    it('leaves a node that went silent Offline when a new stream opens: heartbeats decide liveness', async () => {
      const { registry, settings, advance } = await open();
      const { node } = await registry.register(gateway);
      await registry.heartbeat(node.id, {});
      await advance(settings.ttlMs + settings.heartbeatIntervalMs * 2);
      expect(registry.get(node.id)!.lifecycle.phase).toBe('Offline');
      registry.setStreamLost(node.id, true);
      registry.setStreamLost(node.id, false);
      expect(registry.get(node.id)!.lifecycle).toMatchObject({ phase: 'Offline' });
      expect(registry.get(node.id)!.lifecycle.streamLost).toBeUndefined();
    });

    it('drains and deregisters', async () => {
      const { registry, changes } = await open();
      const { node } = await registry.register(gateway);
      expect((await registry.drain(node.id)).lifecycle.phase).toBe('Draining');
      await registry.deregister(node.id);
      expect(registry.get(node.id)).toBeUndefined();
      expect(changes.map((change) => [change.type, change.node.lifecycle.phase])).toEqual([
        ['ADDED', 'Healthy'],
        ['MODIFIED', 'Draining'],
        ['DELETED', 'Draining'],
      ]);
    });

    it('revokes a credential by removing the registration, saying so in the change; the node registers again', async () => {
      const { registry, changes } = await open();
      const { node, credential } = await registry.register(gateway);
      await registry.revokeCredential(node.id);
      expect(registry.authenticate(node.id, credential)).toBeUndefined();
      expect(registry.get(node.id)).toBeUndefined();
      expect(changes.map((change) => [change.type, change.cause])).toEqual([['ADDED', undefined], ['DELETED', 'credential-revoked']]);
      await expect(registry.revokeCredential(node.id)).rejects.toBeInstanceOf(NodeNotFoundError);
      const again = await registry.register(gateway);
      expect(registry.authenticate(again.node.id, again.credential)?.name).toBe('edge-a-1');
    });

    it('replaces a registration of the same name: the old id stops working', async () => {
      const { registry, changes } = await open();
      const first = await registry.register(gateway);
      const second = await registry.register(gateway);
      expect(second.node.id).not.toBe(first.node.id);
      expect(registry.authenticate(first.node.id, first.credential)).toBeUndefined();
      expect(registry.nodes().map((node) => node.id)).toEqual([second.node.id]);
      expect(changes.map((change) => change.type)).toEqual(['ADDED', 'DELETED', 'ADDED']);
    });

    it('registers service instances beside gateways', async () => {
      const { registry } = await open();
      await registry.register(gateway);
      const { node } = await registry.register({ role: 'instance', service: { namespace: 'shop', name: 'orders' }, zone: 'zone-b', address: '10.0.0.5', port: 9000 });
      expect(node).toMatchObject({ role: 'instance', namespace: 'shop', spec: { service: 'orders', address: '10.0.0.5', port: 9000, zone: 'zone-b' } });
      expect(registry.nodes().map((n) => n.role)).toEqual(['gateway', 'instance']);
    });

    it('rejects an invalid registration naming every bad field, storing nothing', async () => {
      const { registry } = await open();
      await expect(registry.register({ ...gateway, zone: 'Zone A', pool: '' })).rejects.toMatchObject({
        code: 'PORTOLAN_INVALID_REGISTRATION',
        causes: expect.arrayContaining([expect.objectContaining({ field: 'spec.zone' }), expect.objectContaining({ field: 'spec.pool' })]),
      });
      expect(registry.nodes()).toEqual([]);
    });

    it('keeps registrations, credentials and drains across a restart, with a fresh TTL for every node', async () => {
      const { registry, reopen, settings, advance } = await open();
      if (!reopen) return;
      const { node, credential } = await registry.register(gateway);
      const other = await registry.register({ ...gateway, name: 'edge-a-2' });
      await registry.drain(other.node.id);
      await advance(settings.ttlMs - 1);
      const restarted = await reopen();
      await advance(settings.ttlMs - 1);
      expect(restarted.authenticate(node.id, credential)?.lifecycle.phase).toBe('Healthy');
      expect(restarted.get(other.node.id)!.lifecycle.phase).toBe('Draining');
    });
  });
}
