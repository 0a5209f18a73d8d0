import { describe, expect, it } from 'vitest';
import type { GatewayRow } from '@portolan/api';
import { filterGateways, readGatewayView, sortGateways } from './gateway-table';

const row = (name: string, extra: Partial<GatewayRow> = {}): GatewayRow => ({
  id: name, name, namespace: 'default', zone: 'zone-a', pool: 'edge', address: `10.0.0.${name.length}:8080`, version: '0.1.0', phase: 'Healthy',
  lastHeartbeat: '2026-12-02T12:00:00Z', synced: true, transport: 'websocket', requestsPerSecond: 1, serverErrorPercent: 0, p99Ms: 5, openBreakers: 0, ejectedEndpoints: 0, ...extra,
});

describe('the gateways table view', () => {
  it('reads filter and sort from the URL, ignoring unknown sort keys', () => {
    expect(readGatewayView(new URLSearchParams('q=edge&zone=zone-b&sort=p99Ms&dir=desc'))).toEqual({ text: 'edge', zone: 'zone-b', phase: '', sort: 'p99Ms', descending: true });
    expect(readGatewayView(new URLSearchParams('sort=credential')).sort).toBe('name');
  });

  it('filters by zone, state and text in name, address, pool and version', () => {
    const rows = [row('a1'), row('b1', { zone: 'zone-b' }), row('c1', { phase: 'Offline', pool: 'internal' }), row('d1', { version: '0.2.0-rc1' })];
    expect(filterGateways(rows, { text: '', zone: 'zone-b', phase: '' }).map((r) => r.name)).toEqual(['b1']);
    expect(filterGateways(rows, { text: '', zone: '', phase: 'Offline' }).map((r) => r.name)).toEqual(['c1']);
    expect(filterGateways(rows, { text: 'INTERNAL', zone: '', phase: '' }).map((r) => r.name)).toEqual(['c1']);
    expect(filterGateways(rows, { text: 'rc1', zone: '', phase: '' }).map((r) => r.name)).toEqual(['d1']);
  });

  it('sorts numbers numerically both ways and keeps rows without data last', () => {
    const rows = [row('slow', { p99Ms: 250 }), row('none', { p99Ms: null }), row('fast', { p99Ms: 9 }), row('mid', { p99Ms: 30 })];
    expect(sortGateways(rows, 'p99Ms', false).map((r) => r.name)).toEqual(['fast', 'mid', 'slow', 'none']);
    expect(sortGateways(rows, 'p99Ms', true).map((r) => r.name)).toEqual(['slow', 'mid', 'fast', 'none']);
  });

  it('sorts 5,000 rows by zone, ties broken by name', () => {
    const rows = Array.from({ length: 5_000 }, (_, index) => row(`gw-${String(4_999 - index).padStart(4, '0')}`, { zone: `zone-${index % 3}` }));
    const sorted = sortGateways(rows, 'zone', false);
    expect(sorted[0]).toMatchObject({ zone: 'zone-0', name: 'gw-0001' });
    expect(sorted.at(-1)).toMatchObject({ zone: 'zone-2', name: 'gw-4997' });
  });
});
