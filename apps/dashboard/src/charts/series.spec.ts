import { describe, expect, it } from 'vitest';
import type { ServiceTrafficPoint, TrafficPoint } from '@portolan/api';
import {
  alignSeries,
  busiestGroups,
  combineTraffic,
  constantColumn,
  filterTraffic,
  groupServiceTraffic,
  groupTraffic,
  line,
  percentileLabel,
  perGateway,
  serviceTrafficDimensions,
  toRfc3339,
  toSeconds,
  trafficDimensions,
  weightedErrorPercent,
  type AlignOptions,
  type Columns,
  type TimedValue,
} from './series';
import { nearestSeries } from './uplot-chart';

const T0 = '2026-05-01T12:00:00Z';
const t = (slot: number) => toRfc3339(toSeconds(T0) + slot * 5);
const s = (slot: number) => toSeconds(T0) + slot * 5;

function point(slot: number, fields: Partial<TrafficPoint> = {}): TrafficPoint {
  return {
    time: t(slot),
    pool: 'edge',
    zone: 'zone-a',
    gateways: 1,
    requestsPerSecond: 10,
    serverErrorPercent: 0,
    p50Ms: 5,
    p95Ms: 10,
    p99Ms: 20,
    rateLimited: 0,
    retries: 0,
    breakerOpen: 0,
    timeouts: 0,
    ...fields,
  };
}

function servicePoint(slot: number, fields: Partial<ServiceTrafficPoint> = {}): ServiceTrafficPoint {
  const { pool: _pool, ...figures } = point(slot);
  return { ...figures, service: 'default/checkout', ...fields };
}

const v = (slot: number, value: number | null): TimedValue => ({ time: s(slot), value });

describe('toSeconds / toRfc3339', () => {
  it.each([
    ['2026-05-01T12:00:00Z', 1777636800],
    ['2026-05-01T12:00:05.000Z', 1777636805],
    ['2026-05-01T14:00:00+02:00', 1777636800],
  ])('%s is %d s', (time, seconds) => {
    expect(toSeconds(time)).toBe(seconds);
  });

  it('writes whole seconds without milliseconds', () => {
    expect(toRfc3339(1777636805)).toBe('2026-05-01T12:00:05Z');
    expect(toRfc3339(1777636805.25)).toBe('2026-05-01T12:00:05.250Z');
  });
});

describe('alignSeries', () => {
  const cases: Array<{ name: string; series: TimedValue[][]; options?: AlignOptions; expected: Columns }> = [
    { name: 'nothing', series: [], expected: [[]] },
    { name: 'one line', series: [[v(0, 1), v(1, 2)]], expected: [[s(0), s(1)], [1, 2]] },
    {
      name: 'union of times, null where a line has no point',
      series: [
        [v(0, 1), v(2, 3)],
        [v(1, 20), v(2, 30)],
      ],
      expected: [
        [s(0), s(1), s(2)],
        [1, null, 3],
        [null, 20, 30],
      ],
    },
    {
      name: 'a null value stays null (no data is not zero)',
      series: [[v(0, null), v(1, 0)]],
      expected: [[s(0), s(1)], [null, 0]],
    },
    {
      name: 'unsorted input is sorted',
      series: [[v(2, 3), v(0, 1)]],
      expected: [[s(0), s(2)], [1, 3]],
    },
    {
      name: 'a gap wider than 1.5 slots gets a null row so the line breaks',
      series: [[v(0, 1), v(1, 2), v(4, 5)]],
      options: { slotSeconds: 5 },
      expected: [[s(0), s(1), s(2), s(4)], [1, 2, null, 5]],
    },
    {
      name: 'consecutive slots get no extra row',
      series: [[v(0, 1), v(1, 2), v(2, 3)]],
      options: { slotSeconds: 5 },
      expected: [[s(0), s(1), s(2)], [1, 2, 3]],
    },
    {
      name: 'the window edges are rows of nulls; points outside are dropped',
      series: [[v(-3, 9), v(2, 3)]],
      options: { from: s(0), to: s(10), slotSeconds: 5 },
      expected: [[s(0), s(1), s(2), s(3), s(10)], [null, null, 3, null, null]],
    },
    {
      name: 'an empty window still spans its edges',
      series: [[]],
      options: { from: s(0), to: s(10) },
      expected: [[s(0), s(10)], [null, null]],
    },
    {
      name: 'a point on an edge is not doubled',
      series: [[v(0, 1), v(10, 2)]],
      options: { from: s(0), to: s(10) },
      expected: [[s(0), s(10)], [1, 2]],
    },
  ];
  it.each(cases)('$name', ({ series, options, expected }) => {
    expect(alignSeries(series, options)).toEqual(expected);
  });
});

describe('weightedErrorPercent', () => {
  it.each([
    { name: 'no series', points: [], expected: null },
    { name: 'no answers anywhere', points: [{ requestsPerSecond: 0, serverErrorPercent: null }], expected: null },
    { name: 'one series', points: [{ requestsPerSecond: 10, serverErrorPercent: 5 }], expected: 5 },
    {
      name: 'weighted by requests, not averaged',
      points: [
        { requestsPerSecond: 90, serverErrorPercent: 0 },
        { requestsPerSecond: 10, serverErrorPercent: 50 },
      ],
      expected: 5,
    },
    {
      name: 'a series without answers does not dilute',
      points: [
        { requestsPerSecond: 10, serverErrorPercent: 20 },
        { requestsPerSecond: 0, serverErrorPercent: null },
      ],
      expected: 20,
    },
    {
      name: 'answers with rates rounded to 0: plain mean',
      points: [
        { requestsPerSecond: 0, serverErrorPercent: 10 },
        { requestsPerSecond: 0, serverErrorPercent: 30 },
      ],
      expected: 20,
    },
  ])('$name', ({ points, expected }) => {
    expect(weightedErrorPercent(points)).toBe(expected);
  });
});

describe('combineTraffic', () => {
  it.each([
    { name: 'no series', series: [], expected: [] },
    {
      name: 'one series passes through',
      series: [[point(0, { requestsPerSecond: 4, p99Ms: 30 })]],
      expected: [{ seconds: s(0), series: 1, requestsPerSecond: 4, p99Ms: 30, serverErrorPercent: 0 }],
    },
    {
      name: 'RPS and counts sum, error percent weighs by requests, percentiles take the max',
      series: [
        [point(0, { pool: 'edge', requestsPerSecond: 30, serverErrorPercent: 0, p50Ms: 5, p95Ms: 50, p99Ms: 80, retries: 2, rateLimited: 1, breakerOpen: 0, timeouts: 1, gateways: 2 })],
        [point(0, { pool: 'internal', requestsPerSecond: 10, serverErrorPercent: 40, p50Ms: 9, p95Ms: 20, p99Ms: 300, retries: 3, rateLimited: 0, breakerOpen: 1, timeouts: 0, gateways: 1 })],
      ],
      expected: [
        {
          seconds: s(0),
          series: 2,
          gateways: 3,
          requestsPerSecond: 40,
          serverErrorPercent: 10,
          p50Ms: 9,
          p95Ms: 50,
          p99Ms: 300,
          retries: 5,
          rateLimited: 1,
          breakerOpen: 1,
          timeouts: 1,
        },
      ],
    },
    {
      name: 'a null percentile is not taken as 0',
      series: [[point(0, { p99Ms: null, requestsPerSecond: 0, serverErrorPercent: null })], [point(0, { p99Ms: 12 })]],
      expected: [{ seconds: s(0), series: 2, p99Ms: 12 }],
    },
    {
      name: 'all null stays null',
      series: [[point(0, { p99Ms: null, serverErrorPercent: null, requestsPerSecond: 0 })], [point(0, { p99Ms: null, serverErrorPercent: null, requestsPerSecond: 0 })]],
      expected: [{ seconds: s(0), p99Ms: null, serverErrorPercent: null, requestsPerSecond: 0 }],
    },
    {
      name: 'slots matched by time whatever the spelling, oldest first, each series where it reported',
      series: [
        [point(1), point(2)],
        [{ ...point(0) }, { ...point(1), time: new Date(toSeconds(t(1)) * 1000).toISOString() }],
      ],
      expected: [
        { seconds: s(0), series: 1 },
        { seconds: s(1), series: 2, requestsPerSecond: 20 },
        { seconds: s(2), series: 1 },
      ],
    },
  ])('$name', ({ series, expected }) => {
    const combined = combineTraffic(series);
    expect(combined).toHaveLength(expected.length);
    expected.forEach((fields, i) => expect(combined[i]).toMatchObject(fields));
  });
});

describe('percentileLabel', () => {
  it.each([
    ['p99', false, 'p99'],
    ['p99', true, 'max of p99'],
    ['p50', true, 'max of p50'],
  ] as const)('%s combined=%s is "%s"', (percentile, combined, expected) => {
    expect(percentileLabel(percentile, combined)).toBe(expected);
  });
});

describe('grouping the live store', () => {
  const traffic = new Map<string, TrafficPoint[]>([
    ['edge/zone-a', [point(0, { pool: 'edge', zone: 'zone-a' })]],
    ['internal/zone-a', [point(0, { pool: 'internal', zone: 'zone-a' })]],
    ['edge/zone-b', [point(0, { pool: 'edge', zone: 'zone-b' })]],
    ['empty/zone-c', []],
  ]);

  it.each([
    { name: 'by zone', by: 'zone' as const, filter: {}, expected: { 'zone-a': 2, 'zone-b': 1 } },
    { name: 'by zone, one pool', by: 'zone' as const, filter: { pool: 'edge' }, expected: { 'zone-a': 1, 'zone-b': 1 } },
    { name: 'by pool', by: 'pool' as const, filter: {}, expected: { edge: 2, internal: 1 } },
    { name: 'by pool, one zone', by: 'pool' as const, filter: { zone: 'zone-b' }, expected: { edge: 1 } },
    { name: 'an unknown pool', by: 'zone' as const, filter: { pool: 'nope' }, expected: {} },
  ])('$name', ({ by, filter, expected }) => {
    const groups = groupTraffic(traffic, by, filter);
    expect(Object.fromEntries([...groups].map(([key, series]) => [key, series.length]))).toEqual(expected);
    expect([...groups.keys()]).toEqual(Object.keys(expected).sort());
  });

  it('lists pools and zones that have points', () => {
    expect(trafficDimensions(traffic)).toEqual({ pools: ['edge', 'internal'], zones: ['zone-a', 'zone-b'] });
    expect(filterTraffic(traffic, { zone: 'zone-a' })).toHaveLength(2);
  });
});

describe('per service', () => {
  const traffic = new Map<string, ServiceTrafficPoint[]>([
    ['default/checkout/zone-a', [servicePoint(0, { zone: 'zone-a', requestsPerSecond: 30, serverErrorPercent: 0, p99Ms: 40 }), servicePoint(1, { zone: 'zone-a', requestsPerSecond: 1 })]],
    ['default/checkout/zone-b', [servicePoint(0, { zone: 'zone-b', requestsPerSecond: 10, serverErrorPercent: 20, p99Ms: 250 })]],
    ['shop/users/zone-b', [servicePoint(0, { service: 'shop/users', zone: 'zone-b', requestsPerSecond: 50 })]],
    ['shop/empty/zone-c', []],
  ]);

  it.each([
    { name: 'every service', filter: {}, expected: { 'default/checkout': 2, 'shop/users': 1 } },
    { name: 'one zone', filter: { zone: 'zone-b' }, expected: { 'default/checkout': 1, 'shop/users': 1 } },
    { name: 'one service', filter: { service: 'default/checkout' }, expected: { 'default/checkout': 2 } },
    { name: 'one service in one zone', filter: { service: 'shop/users', zone: 'zone-a' }, expected: {} },
  ])('groups the series by service: $name', ({ filter, expected }) => {
    const groups = groupServiceTraffic(traffic, filter);
    expect(Object.fromEntries([...groups].map(([key, series]) => [key, series.length]))).toEqual(expected);
    expect([...groups.keys()]).toEqual(Object.keys(expected).sort());
  });

  it('lists the services and zones that have points', () => {
    expect(serviceTrafficDimensions(traffic)).toEqual({ services: ['default/checkout', 'shop/users'], zones: ['zone-a', 'zone-b'] });
  });

  it('combines a service\'s zones as pools are combined: RPS summed, 5xx weighted by requests, the highest percentile', () => {
    const [first, second] = combineTraffic(groupServiceTraffic(traffic).get('default/checkout')!);
    expect(first).toMatchObject({ seconds: s(0), series: 2, requestsPerSecond: 40, serverErrorPercent: 5, p99Ms: 250 });
    expect(second).toMatchObject({ seconds: s(1), series: 1, requestsPerSecond: 1 });
  });

  it.each([
    { name: 'all when there are no more than asked for', count: 2, from: s(0), to: s(1), expected: ['default/checkout', 'shop/users'] },
    { name: 'the busiest over the window, in the groups\' order', count: 1, from: s(0), to: s(1), expected: ['shop/users'] },
    { name: 'only requests within the window count', count: 1, from: s(1), to: s(1), expected: ['default/checkout'] },
  ])('picks the busiest services: $name', ({ count, from, to, expected }) => {
    expect([...busiestGroups(groupServiceTraffic(traffic), from, to, count).keys()]).toEqual(expected);
  });
});

describe('lines and helpers', () => {
  it.each([
    { name: 'gateways', row: { requestsPerSecond: 30, gateways: 3 }, expected: 10 },
    { name: 'no gateway', row: { requestsPerSecond: 0, gateways: 0 }, expected: null },
  ])('perGateway: $name', ({ row, expected }) => {
    expect(perGateway(row)).toBe(expected);
  });

  it('picks a line from rows and a constant column', () => {
    const rows = combineTraffic([[point(0, { p99Ms: 1 }), point(1, { p99Ms: null })]]);
    expect(line(rows, (row) => row.p99Ms)).toEqual([v(0, 1), v(1, null)]);
    expect(constantColumn([1, 2, 3], 100)).toEqual([100, 100, 100]);
  });

  it.each([
    { name: 'the nearest by y', candidates: [{ index: 1, y: 10 }, { index: 2, y: 50 }], top: 40, expected: 2 },
    { name: 'skips lines without a value there', candidates: [{ index: 1, y: null }, { index: 2, y: 90 }], top: 10, expected: 2 },
    { name: 'nothing to pick', candidates: [{ index: 1, y: null }], top: 10, expected: undefined },
  ])('nearestSeries: $name', ({ candidates, top, expected }) => {
    expect(nearestSeries(candidates, top)).toBe(expected);
  });
});
