import { describe, expect, it } from 'vitest';
import type { TraceSpan } from '@portolan/api';
import { decisionSummary, formatMicros, isDecisionKey, spanBadges } from './span-decisions';
import {
  apiQuery,
  DEFAULT_LIMIT,
  durationParameter,
  formatAttributeText,
  fromLocalInput,
  parseAttributeText,
  searchFromParams,
  searchToParams,
  toLocalInput,
  tracesLink,
  validateSearch,
  type TraceSearch,
} from './trace-search';

const base: TraceSearch = { range: '1h', attributes: [], limit: DEFAULT_LIMIT };

describe('search in the URL', () => {
  it.each([
    { name: 'nothing: the last hour', query: '', expected: base },
    {
      name: 'every field',
      query: 'service=checkout&operation=GET+%2Fcart&status=error&minDuration=100ms&maxDuration=2s&start=2026-05-01T12:00:00Z&end=2026-05-01T12:05:00Z&attr=portolan.zone%3Dzone-a&limit=50',
      expected: {
        service: 'checkout',
        operation: 'GET /cart',
        status: 'error',
        minDuration: '100ms',
        maxDuration: '2s',
        range: 'custom',
        start: '2026-05-01T12:00:00Z',
        end: '2026-05-01T12:05:00Z',
        attributes: [{ key: 'portolan.zone', value: 'zone-a' }],
        limit: 50,
      },
    },
    { name: 'a relative range', query: 'range=15m', expected: { ...base, range: '15m' } },
    { name: 'start and end win over a range', query: 'range=15m&start=2026-05-01T12:00:00Z', expected: { ...base, range: 'custom', start: '2026-05-01T12:00:00Z' } },
    { name: 'unknown status and range ignored', query: 'status=maybe&range=3d', expected: base },
    { name: 'a limit out of bounds is the default', query: 'limit=5000', expected: base },
    { name: 'blank values are absent', query: 'service=&minDuration=+', expected: base },
    { name: 'an attribute value may hold =', query: 'attr=q%3Da%3Db&attr=broken', expected: { ...base, attributes: [{ key: 'q', value: 'a=b' }] } },
  ])('$name', ({ query, expected }) => {
    expect(searchFromParams(new URLSearchParams(query))).toEqual(expected);
  });

  it.each([
    { name: 'defaults are left out', search: base, expected: '' },
    { name: 'a relative range other than 1h', search: { ...base, range: '15m' as const }, expected: 'range=15m' },
    {
      name: 'custom window, status, attributes',
      search: { ...base, range: 'custom' as const, start: '2026-05-01T12:00:00Z', status: 'error' as const, attributes: [{ key: 'portolan.zone', value: 'zone-a' }] },
      expected: 'status=error&start=2026-05-01T12%3A00%3A00Z&attr=portolan.zone%3Dzone-a',
    },
    { name: 'an operation without a service is dropped', search: { ...base, operation: 'GET /' }, expected: '' },
    { name: 'start and end only with a custom range', search: { ...base, start: '2026-05-01T12:00:00Z' }, expected: '' },
  ])('to the URL: $name', ({ search, expected }) => {
    expect(searchToParams(search).toString()).toBe(expected);
  });

  it('round-trips', () => {
    const search: TraceSearch = { ...base, service: 's', operation: 'o', status: 'ok', minDuration: '1s', range: 'custom', start: '2026-05-01T12:00:00Z', end: '2026-05-01T13:00:00Z', attributes: [{ key: 'k', value: 'v w' }], limit: 100 };
    expect(searchFromParams(searchToParams(search))).toEqual(search);
  });
});

describe('apiQuery', () => {
  const now = Date.parse('2026-05-01T12:00:00Z');
  it.each([
    { name: 'the last hour', search: base, expected: 'start=2026-05-01T11%3A00%3A00Z&limit=20' },
    { name: 'the last 15 minutes', search: { ...base, range: '15m' as const }, expected: 'start=2026-05-01T11%3A45%3A00Z&limit=20' },
    {
      name: 'a custom window is sent as is',
      search: { ...base, range: 'custom' as const, start: '2026-05-01T10:00:00Z', end: '2026-05-01T10:00:15Z', minDuration: '250ms', service: 'portolan-gateway' },
      expected: 'service=portolan-gateway&minDuration=250ms&start=2026-05-01T10%3A00%3A00Z&end=2026-05-01T10%3A00%3A15Z&limit=20',
    },
  ])('$name', ({ search, expected }) => {
    expect(apiQuery(search, now)).toBe(expected);
  });
});

describe('links and parameters', () => {
  it.each([
    { name: 'no criteria', search: {}, expected: '/traces' },
    {
      name: 'a window from a chart',
      search: { service: 'portolan-gateway', start: '2026-05-01T12:00:00Z', end: '2026-05-01T12:00:15Z', minDuration: '248ms', attributes: [{ key: 'portolan.zone', value: 'zone-a' }] },
      expected: '/traces?service=portolan-gateway&minDuration=248ms&start=2026-05-01T12%3A00%3A00Z&end=2026-05-01T12%3A00%3A15Z&attr=portolan.zone%3Dzone-a',
    },
    { name: 'errors', search: { status: 'error' as const, start: '2026-05-01T12:00:00Z' }, expected: '/traces?status=error&start=2026-05-01T12%3A00%3A00Z' },
  ])('tracesLink: $name', ({ search, expected }) => {
    expect(tracesLink(search)).toBe(expected);
  });

  it.each([
    [248.5, '248ms'],
    [1, '1ms'],
    [0.4, undefined],
    [Number.NaN, undefined],
    [12_000.9, '12000ms'],
  ])('durationParameter(%s) is %s', (ms, expected) => {
    expect(durationParameter(ms)).toBe(expected);
  });

  it.each([
    { text: '', expected: { attributes: [] } },
    { text: 'portolan.zone=zone-a', expected: { attributes: [{ key: 'portolan.zone', value: 'zone-a' }] } },
    {
      text: '  a=1   b="two words" c= ',
      expected: {
        attributes: [
          { key: 'a', value: '1' },
          { key: 'b', value: 'two words' },
          { key: 'c', value: '' },
        ],
      },
    },
    { text: 'q="say \\"hi\\""', expected: { attributes: [{ key: 'q', value: 'say "hi"' }] } },
    { text: 'a=1 oops', expected: { error: '"oops" is not key=value' } },
    { text: '=v', expected: { error: '"=v" is not key=value' } },
  ])('parseAttributeText($text)', ({ text, expected }) => {
    expect(parseAttributeText(text)).toEqual(expected);
  });

  it('formats attributes so that they parse back', () => {
    const attributes = [
      { key: 'a', value: '1' },
      { key: 'b', value: 'two words' },
      { key: 'c', value: '' },
      { key: 'd', value: 'say "hi"' },
    ];
    const text = formatAttributeText(attributes);
    expect(text).toBe('a=1 b="two words" c="" d="say \\"hi\\""');
    expect(parseAttributeText(text)).toEqual({ attributes });
  });
});

describe('validateSearch', () => {
  it.each([
    { name: 'nothing set', search: base, expected: {} },
    { name: 'durations', search: { ...base, minDuration: '100ms', maxDuration: '1.5s' }, expected: {} },
    { name: 'not a duration', search: { ...base, minDuration: '100' }, expected: { minDuration: '"100" is not a duration: use e.g. 100ms, 1.5s, 2m' } },
    { name: 'max below min', search: { ...base, minDuration: '2s', maxDuration: '1s' }, expected: { maxDuration: 'is shorter than the minimum' } },
    { name: 'custom without times', search: { ...base, range: 'custom' as const }, expected: { start: 'give a start, an end, or both' } },
    { name: 'custom, end before start', search: { ...base, range: 'custom' as const, start: '2026-05-01T12:00:00Z', end: '2026-05-01T11:00:00Z' }, expected: { end: 'is before the start' } },
    { name: 'custom, only an end', search: { ...base, range: 'custom' as const, end: '2026-05-01T11:00:00Z' }, expected: {} },
  ])('$name', ({ search, expected }) => {
    expect(validateSearch(search)).toEqual(expected);
  });

  it('converts datetime-local values both ways', () => {
    const rfc = fromLocalInput('2026-05-01T12:34:56');
    expect(rfc).toMatch(/^2026-05-0[12]T\d{2}:34:56Z$/);
    expect(toLocalInput(rfc)).toBe('2026-05-01T12:34:56');
    expect(fromLocalInput('')).toBeUndefined();
    expect(toLocalInput('nonsense')).toBe('');
  });
});

function span(attributes: TraceSpan['attributes'], events: TraceSpan['events'] = []): TraceSpan {
  return {
    traceId: '0'.repeat(32),
    spanId: '1'.repeat(16),
    name: 'GET /',
    kind: 'server',
    service: 'portolan-gateway',
    startTime: '2026-05-01T12:00:00.000000Z',
    startTimeUnixMicros: 0,
    durationMicros: 1,
    status: { code: 'unset' },
    attributes,
    resource: {},
    events,
  };
}

describe('policy decisions on spans', () => {
  it.each([
    ['portolan.retry.attempts', true],
    ['portolan.retry.backoff_ms', true],
    ['portolan.attempt', true],
    ['portolan.rate_limited', true],
    ['ratelimit.remaining', true],
    ['portolan.breaker.state', true],
    ['portolan.outlier.ejected', true],
    ['http.route', false],
    ['portolan.zone', false],
  ])('%s is a decision key: %s', (key, expected) => {
    expect(isDecisionKey(key)).toBe(expected);
  });

  it.each([
    { name: 'a plain request', attributes: { 'portolan.retry.attempts': 1, 'portolan.rate_limited': false, 'portolan.breaker.state': 'closed' }, expected: [] },
    { name: 'a second attempt', attributes: { 'portolan.attempt': 2, 'portolan.retry.backoff_ms': 25 }, expected: ['retry 1'] },
    { name: 'a retried request', attributes: { 'portolan.retry.attempts': 3 }, expected: ['3 attempts'] },
    { name: 'rate limited', attributes: { 'portolan.rate_limited': true }, expected: ['rate limited'] },
    { name: 'open breaker', attributes: { 'portolan.breaker.state': 'open' }, expected: ['breaker open'] },
    { name: 'ejection', attributes: { 'portolan.attempt': 1, 'portolan.outlier.ejected': true }, expected: ['ejected'] },
  ] as Array<{ name: string; attributes: TraceSpan['attributes']; expected: string[] }>)('badges: $name', ({ attributes, expected }) => {
    expect(spanBadges(span(attributes))).toEqual(expected);
  });

  it('flags a decision event', () => {
    expect(spanBadges(span({}, [{ name: 'retry scheduled', time: '', timeUnixMicros: 0, attributes: {} }]))).toEqual(['decision event']);
  });

  it('summarizes a trace', () => {
    const spans = [
      span({ 'portolan.retry.attempts': 2, 'portolan.rate_limited': false, 'portolan.breaker.state': 'half-open' }),
      span({ 'portolan.attempt': 1 }),
      span({ 'portolan.attempt': 2, 'portolan.outlier.ejected': true }),
      span({ 'portolan.rate_limited': true }),
    ];
    expect(decisionSummary(spans)).toEqual({ retries: 1, rateLimited: 1, breakerNotClosed: 1, ejections: 1 });
  });

  it.each([
    [850, '850 µs'],
    [1_500, '1.50 ms'],
    [12_345, '12.3 ms'],
    [248_500, '249 ms'],
    [2_400_000, '2.40 s'],
  ])('formatMicros(%d) is %s', (micros, expected) => {
    expect(formatMicros(micros)).toBe(expected);
  });
});
