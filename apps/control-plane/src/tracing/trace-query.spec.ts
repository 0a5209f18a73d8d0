import { describe, expect, it } from 'vitest';
import { ApiError } from '../errors/api-error';
import { span, spanId, traceId, T0 } from './testing/spans';
import { parseTraceQuery, spanMatches, type RawQuery } from './trace-query';

describe('parseTraceQuery', () => {
  it('reads every parameter', () => {
    expect(
      parseTraceQuery({ service: 'checkout', operation: 'GET /cart', status: 'error', minDuration: '250ms', maxDuration: '1.5s', start: '2026-01-01T00:00:00.123456Z', end: '2026-01-01T02:00:00+01:00', attr: ['http.route=/cart', 'a=b=c'], limit: '50' }),
    ).toEqual({
      service: 'checkout',
      operation: 'GET /cart',
      status: 'error',
      minDurationMicros: 250_000,
      maxDurationMicros: 1_500_000,
      startUnixMicros: T0 + 123_456,
      endUnixMicros: T0 + 3_600_000_000,
      attributes: [{ key: 'http.route', value: '/cart' }, { key: 'a', value: 'b=c' }],
      limit: 50,
    });
  });

  it('defaults to 20 traces and no criteria', () => {
    expect(parseTraceQuery({})).toMatchObject({ attributes: [], limit: 20 });
  });

  it.each<[RawQuery, string]>([
    [{ status: 'failed' }, 'status'],
    [{ minDuration: '5' }, 'minDuration'],
    [{ maxDuration: 'fast' }, 'maxDuration'],
    [{ minDuration: '2s', maxDuration: '1s' }, 'maxDuration'],
    [{ start: '2026-01-01' }, 'start'],
    [{ end: 'yesterday' }, 'end'],
    [{ start: '2026-01-01T01:00:00Z', end: '2026-01-01T00:00:00Z' }, 'end'],
    [{ attr: 'novalue' }, 'attr'],
    [{ attr: '=x' }, 'attr'],
    [{ limit: '0' }, 'limit'],
    [{ limit: '1001' }, 'limit'],
    [{ limit: 'ten' }, 'limit'],
    [{ service: ['a', 'b'] }, 'service'],
    [{ services: 'a' }, 'services'],
  ])('refuses %o with a 400 naming %s', (raw, parameter) => {
    let error: unknown;
    try {
      parseTraceQuery(raw);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ApiError);
    const status = (error as ApiError).status;
    expect(status).toMatchObject({ code: 400, reason: 'BadRequest', details: { causes: [{ field: parameter }] } });
    expect(status.message).toContain(`query parameter ${parameter}`);
  });
});

describe('spanMatches', () => {
  const subject = span({
    traceId: traceId(1),
    spanId: spanId(1),
    service: 'checkout',
    name: 'GET /cart',
    durationMicros: 300_000,
    status: { code: 'error' },
    attributes: { 'http.status_code': 500, retry: true },
    resource: { 'service.name': 'checkout', 'service.namespace': 'default' },
  });
  it.each<[string, RawQuery, boolean]>([
    ['service', { service: 'checkout' }, true],
    ['another service', { service: 'cart' }, false],
    ['operation', { operation: 'GET /cart' }, true],
    ['status error', { status: 'error' }, true],
    ['status ok', { status: 'ok' }, false],
    ['duration inside, bounds inclusive', { minDuration: '300ms', maxDuration: '300ms' }, true],
    ['duration too short', { minDuration: '301ms' }, false],
    ['start bound inclusive', { start: '2026-01-01T00:00:00Z' }, true],
    ['started before start', { start: '2026-01-01T00:00:00.000001Z' }, false],
    ['span attribute compared as text', { attr: 'http.status_code=500' }, true],
    ['boolean attribute', { attr: 'retry=true' }, true],
    ['resource attribute', { attr: 'service.namespace=default' }, true],
    ['every attr must hold', { attr: ['service.namespace=default', 'http.status_code=404'] }, false],
  ])('%s', (_name, raw, expected) => {
    expect(spanMatches(subject, parseTraceQuery(raw))).toBe(expected);
  });
});
