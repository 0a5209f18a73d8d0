import { describe, expect, it } from 'vitest';
import { ApiError } from '../errors/api-error';
import { checkZoneName, parseDrainBody, parseDrillBody, parseResolveRequest } from './zone-requests';

function statusOf(action: () => unknown) {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(ApiError);
    return (error as ApiError).status;
  }
  throw new Error('expected an ApiError');
}

describe('checkZoneName', () => {
  it('takes a DNS label', () => {
    expect(checkZoneName('zone-a')).toBe('zone-a');
  });

  it.each(['Zone-A', 'zone_a', '-zone', 'zone.a', 'a'.repeat(64)])('answers %s with a 422 naming zone', (zone) => {
    expect(statusOf(() => checkZoneName(zone))).toMatchObject({ code: 422, reason: 'Invalid', details: { causes: [{ field: 'zone' }] } });
  });
});

describe('parseDrainBody', () => {
  it('names the actor when no reason is given, with or without a body', () => {
    expect(parseDrainBody(undefined, 'alice')).toEqual({ reason: 'drained by alice' });
    expect(parseDrainBody({}, 'alice')).toEqual({ reason: 'drained by alice' });
    expect(parseDrainBody({ reason: 'AZ maintenance' }, 'alice')).toEqual({ reason: 'AZ maintenance' });
  });

  it.each([
    [{ reason: 42 }, 'reason'],
    [{ reason: '  ' }, 'reason'],
    [{ reason: 'x'.repeat(257) }, 'reason'],
    [{ reason: 'ok', reasn: 'typo' }, 'reasn'],
  ])('answers %o with a 400 naming %s', (body, field) => {
    expect(statusOf(() => parseDrainBody(body, 'alice'))).toMatchObject({ code: 400, details: { causes: [{ field }] } });
  });

  it.each([[['reason']], [''], ['reason'], [42]])('answers a body that is not an object, %j, with a 400 rather than draining', (body) => {
    expect(statusOf(() => parseDrainBody(body, 'alice'))).toMatchObject({ code: 400, reason: 'BadRequest' });
  });
});

describe('parseDrillBody', () => {
  it('normalizes the duration', () => {
    expect(parseDrillBody({ duration: '30s' })).toEqual({ durationMs: 30_000, duration: '30s' });
    expect(parseDrillBody({ duration: '90s' })).toEqual({ durationMs: 90_000, duration: '1m30s' });
    expect(parseDrillBody({ duration: '5s' }).durationMs).toBe(5_000);
    expect(parseDrillBody({ duration: '30m' }).durationMs).toBe(1_800_000);
  });

  it.each([[undefined], [{}], [{ duration: 30 }], [{ duration: 'thirty seconds' }], [{ duration: '4s' }], [{ duration: '31m' }], [{ duration: '1h' }]])('answers %o with a 400 naming duration', (body) => {
    expect(statusOf(() => parseDrillBody(body))).toMatchObject({ code: 400, reason: 'BadRequest', details: { causes: [{ field: 'duration' }] } });
  });
});

describe('parseResolveRequest', () => {
  it('defaults to the default namespace and no zone', () => {
    expect(parseResolveRequest('orders', {})).toEqual({ namespace: 'default', name: 'orders', zone: undefined });
    expect(parseResolveRequest('orders', { namespace: 'shop', zone: 'zone-a' })).toEqual({ namespace: 'shop', name: 'orders', zone: 'zone-a' });
  });

  it.each([
    ['Orders', {}, 'service'],
    ['orders', { namespace: 'Shop' }, 'namespace'],
    ['orders', { zone: 'zone_a' }, 'zone'],
    ['orders', { zone: ['zone-a', 'zone-b'] }, 'zone'],
    ['orders', { zoen: 'zone-a' }, 'zoen'],
  ])('answers %s %o with a 400 naming %s', (name, query, field) => {
    expect(statusOf(() => parseResolveRequest(name, query))).toMatchObject({ code: 400, details: { causes: [{ field }] } });
  });
});
