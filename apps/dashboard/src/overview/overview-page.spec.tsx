import { screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { GatewayRow, MeshEvent, TrafficPoint } from '@portolan/api';
import { renderPage, resetHarness, type ApiRoute } from '../testing/page-harness';
import { OverviewPage } from './overview-page';

const routes = [{ path: 'overview', element: <OverviewPage /> }];
afterEach(resetHarness);

const row = (name: string, zone: string, extra: Partial<GatewayRow> = {}): GatewayRow => ({
  id: name, name, namespace: 'default', zone, pool: 'edge', address: '127.0.0.1:1', version: '1', phase: 'Healthy', lastHeartbeat: new Date().toISOString(),
  synced: true, transport: 'websocket', requestsPerSecond: 2, serverErrorPercent: 0, p99Ms: 12, openBreakers: 0, ejectedEndpoints: 0, ...extra,
});
const point = (zone: string, extra: Partial<TrafficPoint> = {}): TrafficPoint => ({
  time: new Date(Math.floor(Date.now() / 5000) * 5000 - 5000).toISOString(), pool: 'edge', zone, gateways: 2, requestsPerSecond: 12.5, serverErrorPercent: 0.5, p50Ms: 4, p95Ms: 9, p99Ms: 18,
  rateLimited: 0, retries: 0, breakerOpen: 0, timeouts: 0, ...extra,
});
const nack: MeshEvent = {
  id: '0000000000000003', time: '2026-12-02T12:00:00Z', type: 'Warning', reason: 'ConfigRejected', regarding: { kind: 'GatewayNode', namespace: 'default', name: 'edge-b-1' }, source: 'distribution', message: 'gateway edge-b-1 rejected the configuration of revision 9',
};

const api: ApiRoute[] = [
  ['/v1/zones', () => ({ apiVersion: 'v1', kind: 'ZoneList', items: [] })],
  ['/v1/events', () => ({ apiVersion: 'v1', kind: 'EventList', items: [nack] })],
  [
    '/v1/self-checks',
    () => ({ kind: 'SelfCheckReport', checkedAt: 'T', windowSeconds: 60, findings: [{ check: 'ZoneWithoutTrafficData', object: { kind: 'Zone', name: 'zone-b' }, message: 'zone zone-b has routable gateways but no traffic data' }] }),
  ],
];

describe('OverviewPage', () => {
  it('shows a card per zone from the live feed, numbers only where gateways reported, and the revision they run', async () => {
    const { feed } = renderPage(routes, '/overview', { api });
    expect(screen.getByText(/Loading gateways/)).toBeTruthy();
    feed().emit({ type: 'hello', user: 'tester', role: 'viewer', revision: 9, slotMs: 5000 });
    feed().emit({ type: 'gateways', items: [row('edge-a-1', 'zone-a'), row('edge-a-2', 'zone-a', { phase: 'Offline', synced: false }), row('edge-b-1', 'zone-b', { synced: false, nack: 'bad' })] });
    feed().emit({ type: 'traffic', points: [point('zone-a')], services: [] } as never);

    const cardOf = (zone: string) => screen.getAllByTestId('zone-card').find((card) => card.getAttribute('data-zone') === zone)!;
    await waitFor(() => expect(cardOf('zone-a')).toBeTruthy());
    const cardA = cardOf('zone-a');
    await waitFor(() => expect(within(cardA).getByText('12.5')).toBeTruthy());
    expect(cardA.textContent).toContain('1 healthy');
    expect(cardA.textContent).toContain('1 offline');
    expect(within(cardA).getByText('0.50%').className).toContain('health-Degraded');
    const cardB = cardOf('zone-b');
    // No traffic slot from zone-b: no data, never 0.
    expect(within(cardB).getAllByText('—').length).toBeGreaterThanOrEqual(2);
    expect(within(cardB).queryByText('0')).toBeNull();
    expect(screen.getByTestId('mesh-revision').textContent).toContain('1/3');
    expect(screen.getByTestId('mesh-revision').textContent).toContain('9');
  });

  it('lists recent events, NACKs included, and the self-check warnings', async () => {
    const { feed } = renderPage(routes, '/overview', { api });
    feed().emit({ type: 'gateways', items: [] });
    const event = await screen.findByTestId('event');
    expect(event.getAttribute('data-reason')).toBe('ConfigRejected');
    expect((await screen.findByTestId('self-check-warnings')).textContent).toContain('zone zone-b has routable gateways but no traffic data');
    feed().emit({ type: 'event', event: { ...nack, id: '0000000000000004', reason: 'Updated', type: 'Normal', message: 'RateLimitPolicy default/limits updated by alice (revision 10)' } });
    await waitFor(() => expect(screen.getAllByTestId('event').map((item) => item.getAttribute('data-reason'))).toEqual(['Updated', 'ConfigRejected']));
  });
});
