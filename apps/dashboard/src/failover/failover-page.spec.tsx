import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import type { DrainAnswer, MeshEvent, ZoneSummary } from '@portolan/api';
import { jsonResponse, renderPage, resetHarness, type ApiRoute } from '../testing/page-harness';
import { FailoverPage } from './failover-page';

const routes = [{ path: 'failover', element: <FailoverPage /> }];
afterEach(resetHarness);

const zone = (name: string, extra: Partial<ZoneSummary> = {}): ZoneSummary => ({
  zone: name, drained: false, gateways: { total: 2, routable: 2 }, endpoints: { total: 1, healthy: 1 }, failover: [], ...extra,
});
const drained: MeshEvent = {
  id: '0000000000000007', time: '2026-12-02T12:00:00Z', type: 'Normal', reason: 'ZoneDrained', regarding: { kind: 'Zone', namespace: 'default', name: 'zone-c' }, source: 'operator:alice', message: 'zone-c drained by alice',
  details: { requestedAt: '2026-12-02T12:00:00.000Z', trafficMovedAt: '2026-12-02T12:00:00.035Z', pending: [] },
};

function api(zones: ZoneSummary[], extra: ApiRoute[] = []): ApiRoute[] {
  return [
    ...extra,
    ['/v1/zones', () => ({ apiVersion: 'v1', kind: 'ZoneList', items: zones })],
    ['/v1/events', (url) => ({ apiVersion: 'v1', kind: 'EventList', items: url.searchParams.get('reason') === 'ZoneDrained' ? [drained] : [] })],
    ['/v1/self-checks', () => ({ kind: 'SelfCheckReport', checkedAt: 'T', windowSeconds: 60, findings: [] })],
    ['/v1/traffic', () => ({ items: [], services: [] })],
  ];
}

describe('FailoverPage', () => {
  it('states each zone from its decisions and its gateways: drained, failed over, no gateway routes, no gateways, serving', async () => {
    renderPage(routes, '/failover', {
      api: api([
        zone('zone-a'),
        zone('zone-b', { drained: true, reason: 'maintenance' }),
        zone('zone-c', { failover: [{ policy: 'default/checkout', state: 'FailedOver', since: '2026-12-02T12:00:00Z', reason: 'healthy endpoints 0% < 50%' }] }),
        zone('zone-d', { gateways: { total: 2, routable: 0 } }),
        zone('zone-e', { gateways: { total: 0, routable: 0 } }),
      ]),
    });
    const stateOf = async (name: string) => (await screen.findByText(name, { selector: 'td' })).closest('tr')!.cells[1].textContent;
    expect(await stateOf('zone-a')).toBe('Serving');
    expect(await stateOf('zone-b')).toBe('Drained: maintenance');
    expect(await stateOf('zone-c')).toBe('Failed over');
    expect(await stateOf('zone-d')).toBe('No gateway routes');
    expect(await stateOf('zone-e')).toBe('No gateways');
  });

  it('lists drain events with the time until traffic moved, fetched by reason', async () => {
    const { fetchMock } = renderPage(routes, '/failover', { api: api([zone('zone-c')]) });
    const event = await screen.findByTestId('event');
    expect(event.getAttribute('data-reason')).toBe('ZoneDrained');
    expect(within(event).getByTestId('failover-timing').textContent).toBe('traffic moved in 35 ms');
    const reasons = fetchMock.mock.calls.map(([input]) => new URL(String(input), 'https://x').searchParams.get('reason')).filter(Boolean);
    expect(new Set(reasons)).toEqual(new Set(['FailedOver', 'FailedBack', 'ZoneDrained', 'ZoneUndrained', 'DrillCompleted', 'DrillAbandoned']));
  });

  it('offers a viewer no drain or undrain', async () => {
    renderPage(routes, '/failover', { role: 'viewer', api: api([zone('zone-a'), zone('zone-b', { drained: true })]) });
    await screen.findByText('zone-b', { selector: 'td' });
    expect(screen.queryByRole('button', { name: /drain/i })).toBeNull();
  });

  it('drains a zone for an editor with the reason given, and says when traffic moved', async () => {
    const user = userEvent.setup();
    let body: unknown;
    const answer: DrainAnswer = { zone: 'zone-a', drained: true, revision: 12, requestedAt: '2026-12-02T12:00:00.000Z', trafficMovedAt: '2026-12-02T12:00:00.040Z', propagated: true, pending: [] };
    renderPage(routes, '/failover', {
      role: 'editor',
      api: api([zone('zone-a')], [
        ['/v1/zones/zone-a/drain', (_url, init) => {
          body = JSON.parse(String(init?.body));
          return init?.method === 'POST' ? answer : jsonResponse(405, {});
        }],
      ]),
    });
    await user.click(await screen.findByRole('button', { name: 'Drain zone-a…' }));
    await user.type(screen.getByLabelText('Reason'), 'kernel upgrade');
    await user.click(screen.getByRole('button', { name: 'Confirm drain of zone-a' }));
    await waitFor(() => expect(screen.getByTestId('drain-answer').textContent).toContain('every gateway ran it 40 ms after the request'));
    expect(body).toEqual({ reason: 'kernel upgrade' });
  });

  it('shows why an undrain failed', async () => {
    const user = userEvent.setup();
    renderPage(routes, '/failover', {
      role: 'editor',
      api: api([zone('zone-b', { drained: true })], [
        ['/v1/zones/zone-b/drain', () => jsonResponse(503, { apiVersion: 'v1', kind: 'Status', status: 'Failure', code: 503, reason: 'ServiceUnavailable', message: 'the store cannot be written: Consul is unreachable' })],
      ]),
    });
    await user.click(await screen.findByRole('button', { name: 'Undrain zone-b' }));
    expect((await screen.findByRole('alert')).textContent).toContain('Consul is unreachable');
  });
});
