import { describe, expect, it } from 'vitest';
import { toSeconds } from '../charts/series';
import { searchFromParams } from '../traces/trace-search';
import { tracesForPoint, tracesForWindow } from './metrics-links';

const at = toSeconds('2026-05-01T12:00:10Z');
const query = (link: string) => {
  const [path, search = ''] = link.split('?');
  expect(path).toBe('/traces');
  const params = new URLSearchParams(search);
  return { params, search: searchFromParams(params) };
};

describe('tracesForPoint', () => {
  it.each([
    {
      name: 'latency: at least the clicked value, rounded down',
      args: { chart: 'latency' as const, label: 'p99', value: 248.5 },
      expected: { minDuration: '248ms', status: undefined, attr: ['portolan.zone=zone-a'] },
    },
    {
      name: 'latency without a value: the window only',
      args: { chart: 'latency' as const, label: 'p99', value: null },
      expected: { minDuration: undefined, status: undefined, attr: ['portolan.zone=zone-a'] },
    },
    {
      name: 'errors: error spans',
      args: { chart: 'errors' as const, label: '5xx %', value: 12 },
      expected: { minDuration: undefined, status: 'error', attr: ['portolan.zone=zone-a'] },
    },
    {
      name: 'requests: the window',
      args: { chart: 'requests' as const, label: 'requests/s', value: 40 },
      expected: { minDuration: undefined, status: undefined, attr: ['portolan.zone=zone-a'] },
    },
    {
      name: 'rate limited: the gateway\'s attribute',
      args: { chart: 'actions' as const, label: 'rate limited', value: 3 },
      expected: { minDuration: undefined, status: undefined, attr: ['portolan.zone=zone-a', 'portolan.rate_limited=true'] },
    },
    {
      name: 'breaker open: the breaker state',
      args: { chart: 'actions' as const, label: 'breaker open', value: 1 },
      expected: { minDuration: undefined, status: undefined, attr: ['portolan.zone=zone-a', 'portolan.breaker.state=open'] },
    },
    {
      name: 'timeouts: error spans',
      args: { chart: 'actions' as const, label: 'timeouts', value: 1 },
      expected: { minDuration: undefined, status: 'error', attr: ['portolan.zone=zone-a'] },
    },
    {
      name: 'with a pool',
      args: { chart: 'requests' as const, label: 'requests/s', pool: 'edge' },
      expected: { minDuration: undefined, status: undefined, attr: ['portolan.zone=zone-a', 'portolan.pool=edge'] },
    },
  ])('$name', ({ args, expected }) => {
    const { params, search } = query(tracesForPoint({ zone: 'zone-a', seconds: at, slotSeconds: 5, ...args }));
    expect(search.service).toBe('portolan-gateway');
    // The slot (12:00:10 to :15) with one slot either side.
    expect(search.start).toBe('2026-05-01T12:00:05Z');
    expect(search.end).toBe('2026-05-01T12:00:20Z');
    expect(search.range).toBe('custom');
    expect(search.minDuration).toBe(expected.minDuration);
    expect(search.status).toBe(expected.status);
    expect(params.getAll('attr')).toEqual(expected.attr);
  });
});

describe('per service', () => {
  it.each([
    { name: 'every zone', zone: undefined, expected: ['portolan.service=default/checkout'] },
    { name: 'one zone', zone: 'zone-a', expected: ['portolan.zone=zone-a', 'portolan.service=default/checkout'] },
  ])('narrows to the service\'s route spans: $name', ({ zone, expected }) => {
    const point = query(tracesForPoint({ service: 'default/checkout', zone, chart: 'actions', label: 'rate limited', seconds: at, slotSeconds: 5 }));
    expect(point.search.service).toBe('portolan-gateway');
    expect(point.params.getAll('attr')).toEqual([...expected, 'portolan.rate_limited=true']);
    const window = query(tracesForWindow({ service: 'default/checkout', zone, from: at - 3600, to: at, status: 'error' }));
    expect(window.params.getAll('attr')).toEqual(expected);
    expect(window.search.status).toBe('error');
  });
});

describe('tracesForWindow', () => {
  it.each([
    { name: 'the window', args: {}, expected: { status: undefined, minDuration: undefined } },
    { name: 'errors', args: { status: 'error' as const }, expected: { status: 'error', minDuration: undefined } },
    { name: 'the slowest', args: { minDurationMs: 812.7 }, expected: { status: undefined, minDuration: '812ms' } },
    { name: 'no latency known', args: { minDurationMs: null }, expected: { status: undefined, minDuration: undefined } },
  ])('$name', ({ args, expected }) => {
    const { search } = query(tracesForWindow({ zone: 'zone-b', from: at - 3600, to: at, ...args }));
    expect(search.start).toBe('2026-05-01T11:00:10Z');
    expect(search.end).toBe('2026-05-01T12:00:10Z');
    expect(search.attributes).toEqual([{ key: 'portolan.zone', value: 'zone-b' }]);
    expect(search.status).toBe(expected.status);
    expect(search.minDuration).toBe(expected.minDuration);
  });
});
