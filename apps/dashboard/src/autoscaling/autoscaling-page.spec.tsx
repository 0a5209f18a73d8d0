import { screen, waitFor, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import type { AutoscalePolicy, MeshEvent } from '@portolan/api';
import { resourcePath } from '../api/api-client';
import { jsonResponse, renderPage, requestsTo, resetHarness } from '../testing/page-harness';
import { AutoscalingPage } from './autoscaling-page';

const routes = [{ path: 'autoscaling', element: <AutoscalingPage /> }];
const LIST = resourcePath('AutoscalePolicy');
const ago = (seconds: number) => new Date(Date.now() - seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

const policy: AutoscalePolicy = {
  apiVersion: 'mesh.portolan.dev/v1alpha1',
  kind: 'AutoscalePolicy',
  metadata: { name: 'edge-zone-a', namespace: 'default' },
  spec: {
    target: { pool: 'edge', zone: 'zone-a' },
    scaler: { type: 'Local' },
    metric: { latency: { statistic: 'P99', target: '100ms' }, window: '30s' },
    minReplicas: 2,
    maxReplicas: 4,
  },
  status: {
    observedGeneration: 1,
    lastEvaluationTime: ago(5),
    metric: { value: 248.5, target: 100, unit: 'ms', source: 'Heartbeats', at: ago(5), detail: '50 requests from 2 gateways over 30s' },
    currentReplicas: 2,
    desiredReplicas: 4,
    lastScaleTime: ago(5),
    conditions: [
      { type: 'AbleToScale', status: 'True', reason: 'SucceededRescale', message: 'started edge-zone-a-auto-1, edge-zone-a-auto-2 (2 -> 4)', lastTransitionTime: ago(5) },
      { type: 'ScalingActive', status: 'True', reason: 'ValidMetricFound', message: 'the P99 latency is read from Heartbeats', lastTransitionTime: ago(600) },
      { type: 'ScalingLimited', status: 'True', reason: 'AtMaximum', message: 'metric 248.5 vs target 100: 2 -> 4 gateways (raw 5): 4 is the maximum', lastTransitionTime: ago(5) },
    ],
    recentEvents: [{ time: ago(5), reason: 'ScaledUp', message: 'from the status', currentReplicas: 2, desiredReplicas: 4 }],
  },
};

function event(id: string, secondsAgo: number, fields: Partial<MeshEvent> = {}): MeshEvent {
  return {
    id,
    time: ago(secondsAgo),
    type: 'Normal',
    reason: 'ScaledUp',
    regarding: { kind: 'AutoscalePolicy', namespace: 'default', name: 'edge-zone-a' },
    source: 'autoscaler',
    message: '2 -> 4 gateways: P99 latency 248.5 ms vs target 100',
    details: { metric: { name: 'P99 latency', value: 248.5, target: 100, unit: 'ms' }, currentReplicas: 2, desiredReplicas: 4, decision: 'AtMaximum' },
    ...fields,
  };
}

const events = [event('0000000000000002', 5), event('0000000000000001', 300, { type: 'Warning', reason: 'MetricMissing', message: 'no heartbeat', details: { metric: { value: null, target: 100, unit: 'ms' } } })];

function page(items: AutoscalePolicy[], eventAnswer: () => unknown = () => ({ apiVersion: 'v1', kind: 'EventList', items: events })) {
  return renderPage(routes, '/autoscaling', {
    api: [
      [LIST, () => ({ apiVersion: 'mesh.portolan.dev/v1alpha1', kind: 'AutoscalePolicyList', metadata: {}, items })],
      ['/v1/events', eventAnswer],
      ['/v1/traffic', () => ({ items: [] })],
    ],
  });
}

const cell = (card: HTMLElement, label: string) => within(card).getByText(label, { selector: 'dt' }).parentElement!;

afterEach(resetHarness);

describe('AutoscalingPage', () => {
  it('says when there is no policy', async () => {
    page([]);
    expect((await screen.findByText(/No AutoscalePolicy yet/)).className).toBe('empty');
  });

  it('shows a policy: target, metric, reading, replicas, bounds and conditions', async () => {
    page([policy]);
    const card = await screen.findByTestId('autoscale-policy');
    expect(within(card).getByRole('heading', { level: 2 }).textContent).toBe('default/edge-zone-a');
    expect(within(card).getByText('target: edge in zone-a')).toBeTruthy();
    expect(cell(card, 'Metric and target').textContent).toContain('P99 latency ≤ 100 ms');
    expect(cell(card, 'Metric and target').textContent).toContain('over 30s, from Heartbeats, tolerance 10%');
    expect(cell(card, 'Current reading').textContent).toContain('249 ms');
    expect(cell(card, 'Current reading').textContent).toContain('above target');
    expect(cell(card, 'Current reading').textContent).toContain('50 requests from 2 gateways over 30s');
    expect(within(card).getByTestId('replicas').textContent).toBe('2 → 4');
    expect(cell(card, 'Bounds').textContent).toContain('2 to 4');
    const rows = within(within(card).getByRole('table', { name: 'Conditions' })).getAllByRole('row').slice(1);
    expect(rows.map((row) => [row.querySelector('th')!.textContent, row.querySelector('.badge')!.textContent])).toEqual([
      ['AbleToScale', 'True'],
      ['ScalingActive', 'True'],
      ['ScalingLimited', 'True'],
    ]);
    expect(rows[2].textContent).toContain('4 is the maximum');
    expect(within(card).getByRole('img', { name: 'P99 latency of edge in zone-a against its target of 100 ms' })).toBeTruthy();
  });

  it('lists the decisions newest first with their numbers, and adds live ones', async () => {
    const { fetchMock, feed } = page([policy]);
    await waitFor(() => expect(screen.getAllByTestId('autoscale-decision')).toHaveLength(2));
    const [request] = requestsTo(fetchMock, '/v1/events');
    expect(Object.fromEntries(request.searchParams)).toEqual({ kind: 'AutoscalePolicy', namespace: 'default', name: 'edge-zone-a', limit: '50' });
    const [newest, older] = screen.getAllByTestId('autoscale-decision');
    expect(within(newest).getByText('ScaledUp')).toBeTruthy();
    expect(newest.textContent).toContain('2 → 4');
    expect(newest.textContent).toContain('249 ms / 100 ms');
    expect(newest.textContent).toContain('AtMaximum');
    expect(within(older).getByText('MetricMissing').className).toContain('health-Degraded');
    expect(older.textContent).toContain('missing / 100 ms');

    const listRequests = requestsTo(fetchMock, LIST).length;
    feed().emit({ type: 'event', event: event('0000000000000003', 0, { reason: 'ScaledDown', message: '4 -> 2 gateways', details: { currentReplicas: 4, desiredReplicas: 2, decision: 'ScaleDown' } }) });
    await waitFor(() => expect(screen.getAllByTestId('autoscale-decision')[0].textContent).toContain('4 → 2'));
    // The status is not pushed: a decision refetches the policies.
    await waitFor(() => expect(requestsTo(fetchMock, LIST).length).toBeGreaterThan(listRequests));
  });

  it('falls back to the decisions the status keeps when the events cannot be read', async () => {
    page([policy], () => jsonResponse(503, { apiVersion: 'v1', kind: 'Status', status: 'Failure', message: 'journal unavailable', reason: 'ServiceUnavailable', code: 503 }));
    expect(await screen.findByText(/The events could not be loaded/)).toBeTruthy();
    const [row] = screen.getAllByTestId('autoscale-decision');
    expect(row.textContent).toContain('from the status');
  });

  it('shows a policy never evaluated', async () => {
    page([{ ...policy, metadata: { name: 'fresh', namespace: 'default' }, spec: { ...policy.spec, metric: { requestsPerSecond: { targetPerGateway: 50 } }, target: { pool: 'edge' } }, status: undefined }], () => ({ items: [] }));
    const card = await screen.findByTestId('autoscale-policy');
    expect(within(card).getByText('not evaluated yet')).toBeTruthy();
    expect(cell(card, 'Metric and target').textContent).toContain('requests/s per gateway ≤ 50');
    expect(cell(card, 'Current reading').textContent).toContain('none yet');
    expect(within(card).getByTestId('replicas').textContent).toBe('— → —');
    expect(within(card).getAllByText('not reported')).toHaveLength(3);
    expect(await within(card).findByText(/No decision yet/)).toBeTruthy();
    expect(within(card).getByText(/No traffic point from pool edge in the last hour/)).toBeTruthy();
  });

  it('shows why the policies cannot be listed', async () => {
    renderPage(routes, '/autoscaling', { api: [[LIST, () => jsonResponse(403, { apiVersion: 'v1', kind: 'Status', status: 'Failure', message: 'forbidden: viewer cannot list', reason: 'Forbidden', code: 403 })]] });
    expect((await screen.findByRole('alert')).textContent).toContain('forbidden: viewer cannot list');
  });
});
