import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import type { ServiceTrafficPoint, TrafficPoint } from '@portolan/api';
import { jsonResponse, renderPage, requestsTo, resetHarness } from '../testing/page-harness';
import { MetricsPage } from './metrics-page';

const routes = [{ path: 'metrics', element: <MetricsPage /> }];

/** A point `slotsAgo` 5-second slots before now. */
function point(slotsAgo: number, fields: Partial<TrafficPoint>): TrafficPoint {
  const slot = Math.floor(Date.now() / 5000) * 5000 - slotsAgo * 5000;
  return {
    time: new Date(slot).toISOString(),
    pool: 'edge',
    zone: 'zone-a',
    gateways: 2,
    requestsPerSecond: 10,
    serverErrorPercent: 0,
    p50Ms: 4,
    p95Ms: 9,
    p99Ms: 20,
    rateLimited: 0,
    retries: 0,
    breakerOpen: 0,
    timeouts: 0,
    ...fields,
  };
}

/** A per-service point `slotsAgo` 5-second slots before now. */
function servicePoint(slotsAgo: number, fields: Partial<ServiceTrafficPoint>): ServiceTrafficPoint {
  const { pool: _pool, ...figures } = point(slotsAgo, {});
  return { ...figures, service: 'default/checkout', ...fields };
}

const history = [
  point(3, { pool: 'edge', zone: 'zone-a' }),
  point(2, { pool: 'edge', zone: 'zone-a', requestsPerSecond: 30, serverErrorPercent: 0, p99Ms: 40 }),
  point(2, { pool: 'internal', zone: 'zone-a', requestsPerSecond: 10, serverErrorPercent: 20, p99Ms: 250 }),
  point(2, { pool: 'edge', zone: 'zone-b', requestsPerSecond: 5, p99Ms: 12 }),
];

const serviceHistory = [
  servicePoint(3, { service: 'default/checkout', zone: 'zone-a' }),
  servicePoint(2, { service: 'default/checkout', zone: 'zone-a', requestsPerSecond: 30, serverErrorPercent: 0, p99Ms: 40 }),
  servicePoint(2, { service: 'default/checkout', zone: 'zone-b', requestsPerSecond: 10, serverErrorPercent: 20, p99Ms: 250, retries: 3 }),
  servicePoint(2, { service: 'shop/users', zone: 'zone-b', requestsPerSecond: 5, p99Ms: 12 }),
];

function page(entry = '/metrics', traffic: () => unknown = () => ({ items: history, services: serviceHistory })) {
  return renderPage(routes, entry, { api: [['/v1/traffic', traffic]] });
}

const panels = () => screen.getAllByTestId('zone-metrics');
const servicePanels = () => screen.getAllByTestId('service-metrics');
const stat = (panel: HTMLElement, label: string | RegExp) => within(panel).getByText(label, { selector: 'dt' }).nextElementSibling!.textContent;

afterEach(resetHarness);

describe('MetricsPage', () => {
  it('says when no gateway has reported yet', async () => {
    page('/metrics', () => ({ items: [], services: [] }));
    expect((await screen.findByText(/No gateway has reported traffic yet/)).className).toBe('empty');
  });

  it('loads the last hour of history and shows a panel per zone, pools combined', async () => {
    const { fetchMock } = page();
    await waitFor(() => expect(panels()).toHaveLength(2));
    const [request] = requestsTo(fetchMock, '/v1/traffic');
    expect(Date.now() - Date.parse(request.searchParams.get('since')!)).toBeGreaterThanOrEqual(3_600_000 - 1000);
    const [zoneA, zoneB] = panels();
    expect(within(zoneA).getByRole('heading', { level: 2 }).textContent).toBe('zone-a');
    expect(within(zoneB).getByRole('heading', { level: 2 }).textContent).toBe('zone-b');
    // zone-a's newest slot: RPS summed, 5xx weighted by requests, p99 the highest of the pools.
    expect(stat(zoneA, 'Requests/s')).toBe('40');
    expect(stat(zoneA, '5xx')).toContain('5.0%');
    expect(stat(zoneA, 'max of p99')).toBe('250 ms');
    expect(within(zoneA).getByText(/percentiles cannot be averaged/)).toBeTruthy();
    expect(within(zoneA).getByText(/pools edge, internal/)).toBeTruthy();
    // One pool: exact percentiles.
    expect(stat(zoneB, 'p99')).toBe('12 ms');
    expect(within(zoneB).queryByText(/percentiles cannot be averaged/)).toBeNull();
    // Charts are labelled for screen readers.
    expect(within(zoneA).getByRole('img', { name: 'Latency percentiles of zone-a, per 5-second slot' })).toBeTruthy();
    expect(screen.queryByTestId('service-metrics')).toBeNull();
  });

  it('filters by pool and zone through the URL', async () => {
    const user = userEvent.setup();
    const { router } = page();
    await waitFor(() => expect(panels()).toHaveLength(2));
    await user.selectOptions(screen.getByLabelText('Pool'), 'internal');
    await waitFor(() => expect(panels()).toHaveLength(1));
    expect(router.state.location.search).toBe('?pool=internal');
    expect(stat(panels()[0], 'p99')).toBe('250 ms');
    await user.selectOptions(screen.getByLabelText('Zone'), 'zone-b');
    expect(await screen.findByText(/No traffic for pool internal in zone zone-b/)).toBeTruthy();
    await user.selectOptions(screen.getByLabelText('Window'), '15m');
    expect(router.state.location.search).toBe('?pool=internal&zone=zone-b&window=15m');
  });

  it('links each chart to the traces of the window, for the keyboard', async () => {
    page('/metrics?pool=edge&zone=zone-a');
    await waitFor(() => expect(panels()).toHaveLength(1));
    const slowest = screen.getByRole('link', { name: 'Slowest traces of zone-a, pool edge in this window' });
    const params = new URLSearchParams(slowest.getAttribute('href')!.split('?')[1]);
    expect(params.get('service')).toBe('portolan-gateway');
    expect(params.get('minDuration')).toBe('40ms');
    expect(params.getAll('attr')).toEqual(['portolan.zone=zone-a', 'portolan.pool=edge']);
    const errors = screen.getByRole('link', { name: 'Error traces of zone-a, pool edge in this window' });
    expect(new URLSearchParams(errors.getAttribute('href')!.split('?')[1]).get('status')).toBe('error');
  });

  it('adds what the live feed sends', async () => {
    const { feed } = page();
    await waitFor(() => expect(panels()).toHaveLength(2));
    feed().emit({ type: 'traffic', points: [point(0, { zone: 'zone-c', pool: 'edge', requestsPerSecond: 7 })], services: [] });
    await waitFor(() => expect(panels()).toHaveLength(3));
    expect(stat(panels()[2], 'Requests/s')).toBe('7');
  });

  it('works from the live feed when the history cannot be read', async () => {
    const { feed } = page('/metrics', () => jsonResponse(404, { apiVersion: 'v1', kind: 'Status', status: 'Failure', message: 'the page was not found', reason: 'NotFound', code: 404 }));
    expect(await screen.findByText(/The traffic history could not be loaded \(the page was not found\)/)).toBeTruthy();
    expect(screen.getByText(/No gateway has reported traffic yet/)).toBeTruthy();
    feed().emit({ type: 'traffic', points: [point(0, {})], services: [] });
    await waitFor(() => expect(panels()).toHaveLength(1));
  });

  describe('by service', () => {
    it('shows a panel per service from the history, its zones combined', async () => {
      page('/metrics?by=service');
      await waitFor(() => expect(servicePanels()).toHaveLength(2));
      expect(screen.queryByTestId('zone-metrics')).toBeNull();
      const [checkout, users] = servicePanels();
      expect(within(checkout).getByRole('heading', { level: 2 }).textContent).toBe('default/checkout');
      expect(within(checkout).getByText(/zones zone-a, zone-b/)).toBeTruthy();
      // The newest slot: RPS summed over the zones, 5xx weighted by requests, p99 the highest of the zones.
      expect(stat(checkout, 'Requests/s')).toBe('40');
      expect(stat(checkout, '5xx')).toContain('5.0%');
      expect(stat(checkout, 'max of p99')).toBe('250 ms');
      expect(stat(checkout, 'Highest max of p99 in window')).toBe('250 ms');
      expect(within(checkout).getByText(/Zones combined: each line is the highest of the zones' percentiles/)).toBeTruthy();
      expect(within(checkout).getByRole('img', { name: 'Latency percentiles of default/checkout, per 5-second slot' })).toBeTruthy();
      expect(within(checkout).getByRole('img', { name: 'Rate-limited requests, retries, breaker opens and timeouts of default/checkout' })).toBeTruthy();
      // One zone: exact percentiles.
      expect(within(users).getByText(/zone zone-b/)).toBeTruthy();
      expect(stat(users, 'p99')).toBe('12 ms');
      expect(within(users).queryByText(/Zones combined/)).toBeNull();
      expect(screen.getByText(/Per service, from the answers the gateways gave for its routes/)).toBeTruthy();
    });

    it('switches to the service view and filters by service and zone through the URL, linking to the service\'s traces', async () => {
      const user = userEvent.setup();
      const { router } = page();
      await waitFor(() => expect(panels()).toHaveLength(2));
      await user.selectOptions(screen.getByLabelText('View'), 'service');
      await waitFor(() => expect(servicePanels()).toHaveLength(2));
      expect(router.state.location.search).toBe('?by=service');
      // The pool filter is the zone view's; the services are listed instead.
      expect(screen.queryByLabelText('Pool')).toBeNull();
      expect(within(screen.getByLabelText('Service')).getAllByRole('option').map((option) => option.textContent)).toEqual(['All services', 'default/checkout', 'shop/users']);
      await user.selectOptions(screen.getByLabelText('Service'), 'default/checkout');
      await waitFor(() => expect(servicePanels()).toHaveLength(1));
      await user.selectOptions(screen.getByLabelText('Zone'), 'zone-b');
      expect(router.state.location.search).toBe('?by=service&service=default%2Fcheckout&zone=zone-b');
      // One zone: its own percentiles.
      await waitFor(() => expect(stat(servicePanels()[0], 'p99')).toBe('250 ms'));
      expect(stat(servicePanels()[0], 'Requests/s')).toBe('10');
      const slowest = screen.getByRole('link', { name: 'Slowest traces of default/checkout in zone-b in this window' });
      const params = new URLSearchParams(slowest.getAttribute('href')!.split('?')[1]);
      expect(params.get('service')).toBe('portolan-gateway');
      expect(params.get('minDuration')).toBe('250ms');
      expect(params.getAll('attr')).toEqual(['portolan.zone=zone-b', 'portolan.service=default/checkout']);
      await user.selectOptions(screen.getByLabelText('Service'), 'shop/users');
      await user.selectOptions(screen.getByLabelText('Zone'), 'zone-a');
      expect(await screen.findByText(/No traffic for service shop\/users in zone zone-a/)).toBeTruthy();
    });

    it('adds the per-service points the live feed sends to the history', async () => {
      const { feed } = page('/metrics?by=service&service=default/checkout');
      await waitFor(() => expect(servicePanels()).toHaveLength(1));
      feed().emit({ type: 'traffic', points: [point(0, {})], services: [servicePoint(1, { zone: 'zone-a', requestsPerSecond: 60, p99Ms: 90 }), servicePoint(1, { service: 'shop/orders', zone: 'zone-c' })] });
      // The live slot is the newest, and only zone-a reported in it; the history's slots stay.
      await waitFor(() => expect(stat(servicePanels()[0], 'Requests/s')).toBe('60'));
      expect(stat(servicePanels()[0], 'max of p99')).toBe('90 ms');
      expect(stat(servicePanels()[0], 'Highest max of p99 in window')).toBe('250 ms');
      expect(within(screen.getByLabelText('Service')).getByRole('option', { name: 'shop/orders' })).toBeTruthy();
    });

    it('charts the busiest services when there are more than a page shows, and says so', async () => {
      const many = Array.from({ length: 8 }, (_, index) => servicePoint(1, { service: `default/service-${index}`, requestsPerSecond: index + 1 }));
      page('/metrics?by=service', () => ({ items: history, services: many }));
      await waitFor(() => expect(servicePanels()).toHaveLength(6));
      expect(servicePanels().map((panel) => within(panel).getByRole('heading', { level: 2 }).textContent)).toEqual([2, 3, 4, 5, 6, 7].map((index) => `default/service-${index}`));
      expect(screen.getByText('The 6 busiest of 8 services in this window; choose a service to see another.')).toBeTruthy();
    });

    it('says when no gateway has reported per service, even with traffic per pool', async () => {
      page('/metrics?by=service', () => ({ items: history, services: [] }));
      expect((await screen.findByText(/No gateway has reported traffic per service yet/)).className).toBe('empty');
    });
  });
});
