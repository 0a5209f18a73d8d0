import { describe, expect, it } from 'vitest';
import type { TappedRequest } from '@portolan/api';
import { MAX_TAP_BATCH } from '@portolan/agent-client';
import { RequestTap } from './request-tap.js';

const request = (path = '/checkout'): TappedRequest => ({ time: 'T', method: 'GET', path, status: 200, latencyMs: 3, tries: 1, rateLimited: false, traceId: 't' });

describe('RequestTap', () => {
  it('wants nothing until a tap starts, and nothing after it ends', () => {
    let now = 10_000;
    const tap = new RequestTap(() => now);
    expect(tap.wants(now)).toBe(false);
    tap.start({ remainingMs: 5_000, maxPerSecond: 10 });
    expect(tap.wants(now)).toBe(true);
    now += 5_000;
    expect(tap.wants(now)).toBe(false);
  });

  it('takes at most maxPerSecond requests a second', () => {
    const now = 20_000;
    const tap = new RequestTap(() => now);
    tap.start({ remainingMs: 10_000, maxPerSecond: 3 });
    let taken = 0;
    for (let index = 0; index < 10; index++) {
      if (tap.wants(now + 100)) {
        tap.record(request());
        taken++;
      }
    }
    expect(taken).toBe(3);
    expect(tap.wants(now + 1_000)).toBe(true);
  });

  it('drops the query string, which may carry secrets, and bounds every text as the control plane requires', () => {
    const tap = new RequestTap(() => 0);
    tap.start({ remainingMs: 1_000, maxPerSecond: 5 });
    tap.record(request('/pay?token=secret'));
    tap.record(request(`/${'x'.repeat(1_000)}`));
    tap.record({ ...request(), failure: `proxy failure: ${'e'.repeat(1_000)}`, route: `${'n'.repeat(253)}/${'r'.repeat(63)}` });
    const [first, second, third] = tap.take();
    expect(first.path).toBe('/pay');
    expect(second.path).toHaveLength(256);
    expect(third.failure).toHaveLength(256);
    expect(third.route).toHaveLength(256);
    expect(tap.take()).toEqual([]);
  });

  it('keeps at most one batch when the control plane cannot be reached', () => {
    const tap = new RequestTap(() => 0);
    tap.start({ remainingMs: 1_000, maxPerSecond: 1_000_000 });
    for (let index = 0; index < MAX_TAP_BATCH + 50; index++) tap.record(request(`/${index}`));
    const batch = tap.take();
    expect(batch).toHaveLength(MAX_TAP_BATCH);
    expect(batch[0].path).toBe('/50');
  });
});
