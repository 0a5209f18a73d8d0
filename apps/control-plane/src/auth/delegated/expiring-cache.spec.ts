import { describe, expect, it } from 'vitest';
import { ExpiringCache } from './expiring-cache';

function cacheAt(maxEntries: number) {
  const clock = { now: 0 };
  return { cache: new ExpiringCache<string>(maxEntries, () => clock.now), clock };
}

describe('ExpiringCache', () => {
  it('forgets an entry once its time to live has passed, and not before', () => {
    const { cache, clock } = cacheAt(10);
    cache.set('allowed', 'yes', 300_000);
    cache.set('denied', 'no', 30_000);
    clock.now = 29_999;
    expect([cache.get('allowed'), cache.get('denied')]).toEqual(['yes', 'no']);
    clock.now = 30_000;
    expect([cache.get('allowed'), cache.get('denied')]).toEqual(['yes', undefined]);
    clock.now = 300_000;
    expect(cache.get('allowed')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('holds at most maxEntries, evicting the one used least recently', () => {
    const { cache } = cacheAt(3);
    for (const key of ['a', 'b', 'c']) cache.set(key, key, 1000);
    cache.get('a');
    cache.set('d', 'd', 1000);
    expect(cache.size).toBe(3);
    expect(['a', 'b', 'c', 'd'].map((key) => cache.get(key))).toEqual(['a', undefined, 'c', 'd']);
  });

  it('replaces an entry and its time to live when set again', () => {
    const { cache, clock } = cacheAt(3);
    cache.set('k', 'denied', 30_000);
    cache.set('k', 'allowed', 300_000);
    clock.now = 100_000;
    expect(cache.get('k')).toBe('allowed');
    expect(cache.size).toBe(1);
  });

  it('refuses a size that could hold nothing', () => {
    expect(() => new ExpiringCache(0)).toThrow('maxEntries must be a positive whole number');
  });
});
