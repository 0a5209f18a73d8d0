import { describe, expect, it } from 'vitest';
import type { GatewaySnapshot } from '../distribution/snapshot-builder';
import type { GatewaySyncState } from '../distribution/distribution.service';
import { gatewayNode, instanceNode } from '../zones/testing/mesh-objects';
import { gatewayRow, gatewayRows, nackSummary } from './gateway-rows';

const desired = (version: string) => ({ version }) as GatewaySnapshot;
const nack = (revision: number, errors: Array<{ resource: string; field?: string; message: string }>) => ({ version: `${revision}.bad`, revision, time: '2026-01-01T00:00:00Z', errors });
const sources = (sync: GatewaySyncState, listening = true) => ({ syncState: () => sync, isListening: () => listening });

describe('gateway rows', () => {
  it('lists the gateways only, with their registration, lifecycle and sync state as GatewayNode shows them', () => {
    const nodes = [gatewayNode('gw-a', 'zone-a'), instanceNode('orders-1', 'orders', '10.0.0.1', 'zone-a'), gatewayNode('gw-b', 'zone-b', 'Offline')];
    const sync: GatewaySyncState = { desired: desired('7.abc'), applied: { version: '7.abc', revision: 7, at: '' }, transport: { kind: 'websocket', connected: true, lastSeen: 0 } };
    const rows = gatewayRows({ registry: { nodes: () => nodes }, distribution: sources(sync) }, 0);
    expect(rows.map((row) => [row.name, row.phase])).toEqual([['gw-a', 'Healthy'], ['gw-b', 'Offline']]);
    expect(rows[0]).toEqual({
      id: 'id-gw-a',
      name: 'gw-a',
      namespace: 'default',
      zone: 'zone-a',
      pool: 'edge',
      address: '127.0.0.1:1',
      version: 'test',
      phase: 'Healthy',
      lastHeartbeat: '1970-01-01T00:00:00Z',
      appliedRevision: 7,
      synced: true,
      transport: 'websocket',
      requestsPerSecond: null,
      serverErrorPercent: null,
      p99Ms: null,
      openBreakers: 0,
      ejectedEndpoints: 0,
    });
  });

  it('shows a NACK until the gateway ACKs that revision or a later one', () => {
    const node = gatewayNode('gw-a', 'zone-a');
    const errors = [{ resource: 'RateLimitPolicy/default/tight', field: 'spec.limits[0]', message: 'unsupported\ninterval' }, { resource: 'Route/default/x', message: 'no backend' }];
    const rejecting = gatewayRow(node, sources({ desired: desired('8.def'), applied: { version: '7.abc', revision: 7, at: '' }, lastNack: nack(8, errors) }), 0);
    expect(rejecting).toMatchObject({ synced: false, appliedRevision: 7, nack: 'RateLimitPolicy/default/tight spec.limits[0]: unsupported interval (and 1 more)' });
    const recovered = gatewayRow(node, sources({ desired: desired('9.fed'), applied: { version: '9.fed', revision: 9, at: '' }, lastNack: nack(8, errors) }), 0);
    expect(recovered).toMatchObject({ synced: true });
    expect(recovered.nack).toBeUndefined();
  });

  it('says "none" for a gateway that does not listen, whatever it used last', () => {
    const row = gatewayRow(gatewayNode('gw-a', 'zone-a'), sources({ transport: { kind: 'long-poll', connected: false, lastSeen: 0 } }, false), 0);
    expect(row).toMatchObject({ transport: 'none', synced: false });
  });

  it('summarizes a NACK without errors by its revision', () => {
    expect(nackSummary([], 12)).toBe('rejected the configuration of revision 12');
  });
});
