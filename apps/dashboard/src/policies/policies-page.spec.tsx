import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import type { Resource } from '@portolan/api';
import { PoliciesPage } from './policies-page';
import { renderPage, resetHarness, statusResponse, type MethodRoute as Route } from '../testing/page-harness';

const routes = [{ path: 'policies', element: <PoliciesPage /> }];
const BASE = '/apis/mesh.portolan.dev/v1alpha1';

function rateLimit(name: string, namespace: string, rollout: { acked: number; gateways: number; nacked?: number }, conditions: NonNullable<Resource['status']>['conditions'] = []): Resource {
  return {
    apiVersion: 'mesh.portolan.dev/v1alpha1',
    kind: 'RateLimitPolicy',
    metadata: { name, namespace, resourceVersion: '42', creationTimestamp: new Date(Date.now() - 3 * 3600_000).toISOString() },
    spec: { targetRef: { kind: 'Service', name: 'checkout' }, scope: 'mesh', limits: [{ name: 'per-minute', requests: 100, interval: '60s' }] },
    status: { conditions, rollout: { gateways: rollout.gateways, acked: rollout.acked, nacked: rollout.nacked ?? 0, pending: rollout.gateways - rollout.acked - (rollout.nacked ?? 0) } },
  };
}

const degraded = { type: 'Degraded', status: 'True' as const, reason: 'RolledBack', message: 'rolled back: gateway gw-a1 rejected it', lastTransitionTime: '2026-05-01T12:00:00Z' };

function api(items: Resource[]): Route[] {
  return [
    ['GET', `${BASE}/ratelimitpolicies`, () => ({ kind: 'RateLimitPolicyList', items })],
    ['GET', /^\/apis\/mesh\.portolan\.dev\/v1alpha1\/[a-z]+$/, () => ({ items: [] })],
  ];
}

afterEach(resetHarness);

describe('PoliciesPage', () => {
  it('lists the policies of the kind with target, spec, rollout, conditions and age', async () => {
    renderPage(routes, '/policies?kind=RateLimitPolicy', {
      role: 'viewer',
      api: api([rateLimit('checkout-limits', 'default', { acked: 6, gateways: 6 }), rateLimit('bad-limits', 'shop', { acked: 4, gateways: 6, nacked: 2 }, [degraded])]),
    });
    const table = await screen.findByRole('table', { name: 'RateLimitPolicy objects' });
    const rows = within(table).getAllByRole('row').slice(1);
    // Sorted by namespace, then name.
    expect(rows.map((row) => within(row).getAllByRole('cell')[0].textContent)).toEqual(['checkout-limits', 'bad-limits']);
    const cells = within(rows[0]).getAllByRole('cell').map((cell) => cell.textContent);
    expect(cells.slice(0, 4)).toEqual(['checkout-limits', 'default', 'Service/checkout', '100/1m per mesh']);
    expect(cells[4]).toBe('6/6');
    expect(cells[6]).toBe('3 h ago');
    expect(within(rows[0]).getByRole('link', { name: 'checkout-limits' }).getAttribute('href')).toBe('/policies/RateLimitPolicy/default/checkout-limits');
    expect(within(rows[0]).getByRole('progressbar').getAttribute('aria-valuenow')).toBe('6');

    // An automatic rollback: red, with its reason.
    expect(within(rows[1]).getAllByRole('cell')[4].textContent).toBe('4/6 2 NACKed');
    const badge = within(rows[1]).getByText('RolledBack');
    expect(badge.className).toContain('pol-tone-bad');
    expect(within(rows[1]).getByText('rolled back: gateway gw-a1 rejected it')).toBeTruthy();
    // Only editors are offered to create one.
    expect(screen.queryByRole('link', { name: /new policy/i })).toBeNull();
    // The tab counts what it found and flags the rollback.
    const tab = screen.getByRole('link', { name: /^RateLimitPolicy/ });
    expect(tab.getAttribute('aria-current')).toBe('page');
    expect(tab.textContent).toBe('RateLimitPolicy 2 1 rolled back');
  });

  it('offers editors a new policy of the selected kind, and filters by the URL query', async () => {
    const user = userEvent.setup();
    const { router } = renderPage(routes, '/policies?kind=ratelimitpolicies&q=shop', {
      role: 'editor',
      api: api([rateLimit('checkout-limits', 'default', { acked: 6, gateways: 6 }), rateLimit('bad-limits', 'shop', { acked: 6, gateways: 6 })]),
    });
    const table = await screen.findByRole('table', { name: 'RateLimitPolicy objects' });
    expect(within(table).getAllByRole('row')).toHaveLength(2);
    expect(screen.getByRole('link', { name: /new policy/i }).getAttribute('href')).toBe('/policies/new?kind=RateLimitPolicy');
    await user.clear(screen.getByRole('searchbox', { name: 'Filter' }));
    await waitFor(() => expect(within(table).getAllByRole('row')).toHaveLength(3));
    expect(router.state.location.search).toBe('?kind=ratelimitpolicies');
  });

  it('says when there are none, and when the list cannot be read', async () => {
    renderPage(routes, '/policies?kind=TimeoutPolicy', { role: 'editor', api: api([]) });
    expect((await screen.findByText(/No TimeoutPolicy yet/)).textContent).toContain('Create one');
    resetHarness();
    document.body.innerHTML = '';
    renderPage(routes, '/policies', {
      role: 'editor',
      api: [['GET', `${BASE}/ratelimitpolicies`, () => statusResponse(403, 'Forbidden', 'the token may not list ratelimitpolicies')], ...api([])],
    });
    expect((await screen.findByRole('alert')).textContent).toContain('the token may not list ratelimitpolicies');
  });
});
