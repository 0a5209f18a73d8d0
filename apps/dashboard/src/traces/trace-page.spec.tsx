import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import type { Trace } from '@portolan/api';
import { notFound, renderPage, resetHarness } from '../testing/page-harness';
import { fixtureSpan, retriedRequest, TRACE_ID, traceOf } from './testing/trace-fixtures';
import { TracePage } from './trace-page';
import { VIRTUALIZE_ABOVE } from './waterfall';

const routes = [{ path: 'traces/:traceId', element: <TracePage /> }];

function page(trace: Trace | Response, entry = `/traces/${TRACE_ID}`) {
  return renderPage(routes, entry, { api: [[/^\/observability\/v1\/traces\//, () => trace]] });
}

const rowNames = () => screen.getAllByTestId('span-row').map((row) => row.querySelector('.span-op')!.textContent);

afterEach(resetHarness);

describe('TracePage', () => {
  it('draws a row per span, children under their parent, error spans in red', async () => {
    page(retriedRequest);
    const waterfall = await screen.findByTestId('waterfall');
    const rows = within(waterfall).getAllByTestId('span-row');
    expect(rows).toHaveLength(4);
    expect(rowNames()).toEqual(['GET shop/checkout', 'upstream shop/checkout', 'upstream shop/checkout', 'POST /checkout']);
    // Indented by depth.
    const indent = rows.map((row) => row.querySelector<HTMLElement>('.span-label-cell')!.style.paddingLeft);
    expect(indent).toEqual(['6px', '20px', '20px', '34px']);
    // The failed attempt is red; bars placed within the trace.
    expect(rows[1].className).toContain('error');
    const bar = rows[2].querySelector<HTMLElement>('.span-bar')!;
    expect(parseFloat(bar.style.left)).toBeCloseTo(50, 5);
    expect(parseFloat(bar.style.width)).toBeCloseTo(48, 5);
    // Decisions as badges on the rows.
    expect(within(rows[0]).getByText('2 attempts')).toBeTruthy();
    expect(within(rows[0]).getByText('breaker half-open')).toBeTruthy();
    expect(within(rows[2]).getByText('retry 1')).toBeTruthy();
    expect(screen.getByText('1 retry, 1 met an open or half-open breaker')).toBeTruthy();
  });

  it('shows the selected span with its decisions highlighted, and keeps it in the URL', async () => {
    const { router } = page(retriedRequest);
    const rows = await screen.findAllByTestId('span-row');
    fireEvent.click(rows[2]);
    const details = await screen.findByTestId('span-details');
    expect(within(details).getByRole('heading', { level: 2 }).textContent).toBe('portolan-gateway upstream shop/checkout');
    const decisions = within(details).getByRole('region', { name: 'Policy decisions' });
    expect(within(decisions).getAllByRole('row').map((row) => row.textContent)).toEqual(['portolan.attempt2', 'portolan.retry.backoff_ms25']);
    const attributes = within(details).getByRole('table', { name: 'Span attributes' });
    const highlighted = [...attributes.querySelectorAll('tr.highlight th')].map((cell) => cell.textContent);
    expect(highlighted).toEqual(['portolan.attempt', 'portolan.retry.backoff_ms']);
    expect(router.state.location.search).toBe('?span=1000000000000003');
    expect(rows[2].getAttribute('aria-selected')).toBe('true');
  });

  it('shows events and the resource of a span', async () => {
    page(retriedRequest, `/traces/${TRACE_ID}?span=1000000000000004`);
    const details = await screen.findByTestId('span-details');
    expect(within(details).getByText('cache miss')).toBeTruthy();
    expect(within(details).getByText('+3.00 ms')).toBeTruthy();
    expect(within(within(details).getByRole('table', { name: 'Resource attributes' })).getByText('service.name')).toBeTruthy();
    expect(within(details).getByText(/the trace waited on this span/)).toBeTruthy();
  });

  it('moves the selection with the keyboard', async () => {
    const user = userEvent.setup();
    page(retriedRequest);
    const list = await screen.findByRole('listbox');
    list.focus();
    await user.keyboard('{ArrowDown}');
    expect(list.getAttribute('aria-activedescendant')).toBe(screen.getAllByTestId('span-row')[0].id);
    await user.keyboard('{End}');
    await waitFor(() => expect(screen.getAllByTestId('span-row')[3].getAttribute('aria-selected')).toBe('true'));
    await user.keyboard('{ArrowUp}');
    await waitFor(() => expect(screen.getByTestId('span-details').querySelector('h2')!.textContent).toBe('portolan-gateway upstream shop/checkout'));
  });

  it('marks spans whose parent is missing', async () => {
    page(traceOf([fixtureSpan('3000000000000001', { parentSpanId: 'ffffffffffffffff', name: 'late child' })]));
    const [row] = await screen.findAllByTestId('span-row');
    expect(within(row).getByText('orphan')).toBeTruthy();
    fireEvent.click(row);
    expect(within(await screen.findByTestId('span-details')).getByText('(not in this trace)')).toBeTruthy();
  });

  it('renders only the rows in view of a big trace', async () => {
    const spans = Array.from({ length: 2_000 }, (_, i) => fixtureSpan(`4${String(i).padStart(15, '0')}`, { parentSpanId: i === 0 ? undefined : `4${'0'.repeat(15)}`, offset: i * 10 }));
    // jsdom lays nothing out: the list is given the height a browser would give it.
    const clientHeight = Object.getOwnPropertyDescriptor(Element.prototype, 'clientHeight')!;
    Object.defineProperty(Element.prototype, 'clientHeight', {
      configurable: true,
      get(this: Element) {
        return this.classList.contains('waterfall-rows') ? 26 * 20 : 0;
      },
    });
    try {
      page(traceOf(spans));
      const rows = await screen.findAllByTestId('span-row');
      // The 20 rows in view and the overscan after them.
      expect(rows.length).toBe(35);
      expect(rows[0].style.transform).toBe('translateY(0px)');
    } finally {
      Object.defineProperty(Element.prototype, 'clientHeight', clientHeight);
    }
    expect(2_000).toBeGreaterThan(VIRTUALIZE_ABOVE);
    expect(screen.getByRole('listbox').getAttribute('aria-label')).toBe('Spans (2000); arrow keys move the selection');
  });

  it('says when the trace is unknown', async () => {
    page(notFound(`trace "${TRACE_ID}" not found: it was never received, or was evicted`));
    expect((await screen.findByRole('alert')).textContent).toContain('it was never received, or was evicted');
  });
});
