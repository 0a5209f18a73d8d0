import { describe, expect, it } from 'vitest';
import { MAX_TAP_BATCH } from '@portolan/agent-client';
import { TAP_DEFAULTS, type TappedRequest } from '@portolan/api';
import { ApiError } from '../errors/api-error';
import { readTapBatch } from './tapped-request';
import { MAX_TAPS_PER_USER, TapService } from './tap.service';

const tapped: TappedRequest = { time: '2026-12-02T12:00:00Z', method: 'GET', path: '/checkout', status: 200, latencyMs: 4, route: 'default/checkout', service: 'default/checkout', tries: 1, rateLimited: false, traceId: 'abc' };

describe('TapService', () => {
  it('asks a gateway to tap only while someone watches it, and hands batches to every watcher', () => {
    const taps = new TapService();
    expect(taps.wanted('gw-1')).toBeUndefined();
    const seenByA: TappedRequest[][] = [];
    const seenByB: TappedRequest[][] = [];
    const stopA = taps.subscribe('gw-1', (batch) => seenByA.push(batch), 'alice')!;
    const stopB = taps.subscribe('gw-1', (batch) => seenByB.push(batch), 'bob')!;
    expect(taps.wanted('gw-1')).toEqual({ remainingMs: TAP_DEFAULTS.durationMs, maxPerSecond: TAP_DEFAULTS.maxPerSecond });
    expect(taps.wanted('gw-2')).toBeUndefined();
    taps.deliver('gw-1', [tapped]);
    taps.deliver('gw-2', [tapped]);
    expect(seenByA).toEqual([[tapped]]);
    expect(seenByB).toEqual([[tapped]]);
    stopA();
    expect(taps.wanted('gw-1')).toBeDefined();
    stopB();
    expect(taps.wanted('gw-1')).toBeUndefined();
    expect(taps.watchedGateways).toBe(0);
  });

  it('lets one user hold at most MAX_TAPS_PER_USER taps, whatever the connections, and frees them when stopped', () => {
    const taps = new TapService();
    const stops = Array.from({ length: MAX_TAPS_PER_USER }, (_, index) => taps.subscribe(`gw-${index}`, () => undefined, 'script'));
    expect(stops.every((stop) => stop !== undefined)).toBe(true);
    expect(taps.subscribe('gw-extra', () => undefined, 'script')).toBeUndefined();
    expect(taps.wanted('gw-extra')).toBeUndefined();
    expect(taps.subscribe('gw-extra', () => undefined, 'someone-else')).toBeDefined();
    stops[0]!();
    stops[0]!();
    expect(taps.subscribe('gw-extra', () => undefined, 'script')).toBeDefined();
    expect(taps.subscribe('gw-more', () => undefined, 'script')).toBeUndefined();
  });
});

describe('readTapBatch', () => {
  it('passes the declared fields only', () => {
    expect(readTapBatch({ requests: [{ ...tapped, headers: { authorization: 'x' } }] })).toEqual([tapped]);
  });

  it.each([
    ['no requests', {}, 'requests'],
    ['requests not a list', { requests: 'x' }, 'requests'],
    ['a batch too large', { requests: Array.from({ length: MAX_TAP_BATCH + 1 }, () => tapped) }, 'requests'],
    ['an entry not an object', { requests: [7] }, 'requests[0]'],
    ['a negative status', { requests: [{ ...tapped, status: -1 }] }, 'requests[0].status'],
    ['a path too long', { requests: [{ ...tapped, path: 'x'.repeat(300) }] }, 'requests[0].path'],
    ['rateLimited not a boolean', { requests: [{ ...tapped, rateLimited: 'no' }] }, 'requests[0].rateLimited'],
    ['no trace id', { requests: [{ ...tapped, traceId: undefined }] }, 'requests[0].traceId'],
  ])('refuses %s, naming the field', (_what, body, field) => {
    let error: unknown;
    try {
      readTapBatch(body);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status.details?.causes?.[0]?.field).toBe(field);
  });
});
