import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import type { Trace } from '@portolan/api';
import { jsonResponse, renderPage, requestsTo, resetHarness, type ApiRoute } from '../testing/page-harness';
import { retriedRequest, TRACE_ID, traceOf, fixtureSpan } from './testing/trace-fixtures';
import { TracePage } from './trace-page';
import { TracesPage } from './traces-page';

const routes = [
  { path: 'traces', element: <TracesPage /> },
  { path: 'traces/:traceId', element: <TracePage /> },
];

const services: ApiRoute = [
  '/observability/v1/services',
  () => ({
    services: [
      { name: 'checkout', operations: ['GET /cart', 'POST /checkout'] },
      { name: 'portolan-gateway', operations: ['GET shop/checkout', 'upstream shop/checkout'] },
    ],
  }),
];

const quick: Trace = traceOf([fixtureSpan('2000000000000001', { traceId: 'b'.repeat(32), name: 'GET /cart', durationMicros: 62_500 })]);

function page(entry: string, traces: (url: URL) => unknown = () => ({ traces: [retriedRequest, quick] })) {
  return renderPage(routes, entry, { api: [services, ['/observability/v1/traces', traces], [/^\/observability\/v1\/traces\/[0-9a-f]{32}$/, () => retriedRequest]] });
}

afterEach(resetHarness);

describe('TracesPage', () => {
  it('lists the results with a duration bar relative to the longest', async () => {
    const { fetchMock } = page('/traces');
    const rows = await screen.findAllByTestId('trace-result');
    expect(rows).toHaveLength(2);
    expect(within(rows[0]).getByRole('link').textContent).toBe('portolan-gateway GET shop/checkout');
    expect(rows[0].querySelector<HTMLElement>('.duration-bar')!.style.width).toBe('100%');
    expect(rows[1].querySelector<HTMLElement>('.duration-bar')!.style.width).toBe('25%');
    expect(within(rows[0]).getByText('250 ms')).toBeTruthy();
    // Spans and errors.
    expect(rows[0].querySelectorAll('td.num')[0].textContent).toBe('4');
    expect(rows[0].querySelectorAll('td.num')[1].textContent).toBe('1');
    // The default search: the last hour, 20 results.
    const [request] = requestsTo(fetchMock, '/observability/v1/traces');
    expect(request.searchParams.get('limit')).toBe('20');
    expect(Date.now() - Date.parse(request.searchParams.get('start')!)).toBeGreaterThanOrEqual(3_600_000 - 1_000);
    expect(screen.getByText(/2 traces, newest first/)).toBeTruthy();
  });

  it('takes the search from the URL, as a chart links to it', async () => {
    const { fetchMock } = page('/traces?service=checkout&operation=POST+%2Fcheckout&status=error&minDuration=100ms&start=2026-05-01T12:00:00Z&end=2026-05-01T12:00:15Z&attr=portolan.zone%3Dzone-a');
    await screen.findAllByTestId('trace-result');
    const [request] = requestsTo(fetchMock, '/observability/v1/traces');
    expect(Object.fromEntries(request.searchParams)).toEqual({
      service: 'checkout',
      operation: 'POST /checkout',
      status: 'error',
      minDuration: '100ms',
      start: '2026-05-01T12:00:00Z',
      end: '2026-05-01T12:00:15Z',
      attr: 'portolan.zone=zone-a',
      limit: '20',
    });
    await waitFor(() => expect((screen.getByLabelText('Operation') as HTMLSelectElement).value).toBe('POST /checkout'));
    expect((screen.getByLabelText('Service') as HTMLSelectElement).value).toBe('checkout');
    expect((screen.getByLabelText('Status') as HTMLSelectElement).value).toBe('error');
    expect((screen.getByLabelText('Min duration') as HTMLInputElement).value).toBe('100ms');
    expect((screen.getByLabelText('Time range') as HTMLSelectElement).value).toBe('custom');
    expect((screen.getByLabelText('From') as HTMLInputElement).value).not.toBe('');
    expect((screen.getByLabelText('Attributes') as HTMLInputElement).value).toBe('portolan.zone=zone-a');
  });

  it('writes a search into the URL, with the operations of the chosen service', async () => {
    const user = userEvent.setup();
    const { router, fetchMock } = page('/traces');
    await screen.findAllByTestId('trace-result');
    await waitFor(() => expect(screen.getAllByRole('option', { name: 'checkout' })).toHaveLength(1));
    expect((screen.getByLabelText('Operation') as HTMLSelectElement).disabled).toBe(true);
    await user.selectOptions(screen.getByLabelText('Service'), 'checkout');
    expect(within(screen.getByLabelText('Operation')).getAllByRole('option').map((option) => option.textContent)).toEqual(['Any operation', 'GET /cart', 'POST /checkout']);
    await user.selectOptions(screen.getByLabelText('Operation'), 'GET /cart');
    await user.selectOptions(screen.getByLabelText('Status'), 'error');
    await user.type(screen.getByLabelText('Min duration'), '250ms');
    await user.selectOptions(screen.getByLabelText('Time range'), '15m');
    await user.click(screen.getByRole('button', { name: /search/i }));
    await waitFor(() => expect(router.state.location.search).toBe('?service=checkout&operation=GET+%2Fcart&status=error&minDuration=250ms&range=15m'));
    await waitFor(() => expect(requestsTo(fetchMock, '/observability/v1/traces')).toHaveLength(2));
    const request = requestsTo(fetchMock, '/observability/v1/traces')[1];
    expect(request.searchParams.get('minDuration')).toBe('250ms');
    expect(Date.now() - Date.parse(request.searchParams.get('start')!)).toBeLessThanOrEqual(15 * 60_000 + 1_000);
  });

  it('searches again with the same criteria (the window moves)', async () => {
    const user = userEvent.setup();
    const { fetchMock } = page('/traces');
    await screen.findAllByTestId('trace-result');
    await user.click(screen.getByRole('button', { name: /search/i }));
    await waitFor(() => expect(requestsTo(fetchMock, '/observability/v1/traces')).toHaveLength(2));
  });

  it('refuses a malformed duration or attribute, naming the field', async () => {
    const user = userEvent.setup();
    const { router, fetchMock } = page('/traces');
    await screen.findAllByTestId('trace-result');
    await user.type(screen.getByLabelText('Min duration'), '100');
    await user.type(screen.getByLabelText('Attributes'), 'zone');
    await user.click(screen.getByRole('button', { name: /search/i }));
    const input = screen.getByLabelText(/Min duration/);
    expect(input.getAttribute('aria-invalid')).toBe('true');
    expect(document.getElementById(input.getAttribute('aria-describedby')!)!.textContent).toContain('is not a duration');
    expect(screen.getByText('"zone" is not key=value')).toBeTruthy();
    expect(router.state.location.search).toBe('');
    expect(requestsTo(fetchMock, '/observability/v1/traces')).toHaveLength(1);
  });

  it('opens a trace from its row', async () => {
    const { router } = page('/traces?status=error');
    const rows = await screen.findAllByTestId('trace-result');
    fireEvent.click(rows[0].querySelector('td:nth-child(2)')!);
    await waitFor(() => expect(router.state.location.pathname).toBe(`/traces/${TRACE_ID}`));
    expect(await screen.findByTestId('waterfall')).toBeTruthy();
    // Back to the same search.
    expect(screen.getByRole('link', { name: '← Traces' }).getAttribute('href')).toBe('/traces?status=error');
  });

  it('says when nothing matches', async () => {
    page('/traces', () => ({ traces: [] }));
    expect((await screen.findByText(/No traces match/)).className).toBe('empty');
  });

  it('shows why a search was refused', async () => {
    page('/traces?service=x', () =>
      jsonResponse(400, { apiVersion: 'v1', kind: 'Status', status: 'Failure', message: 'query parameter service: required with the Jaeger backend', reason: 'BadRequest', code: 400 }),
    );
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('query parameter service: required with the Jaeger backend');
  });
});
