import { describe, expect, it } from 'vitest';
import type { EffectiveRoute } from '@portolan/api';
import { compileMatcher, firstMatch, normalizeHost, orderForMatching } from './route-match.js';

const route = (name: string, pathPrefix: string, extra: Partial<EffectiveRoute> = {}): EffectiveRoute =>
  ({ route: { kind: 'Route', namespace: 'default', name, resourceVersion: '1' }, hostnames: [], pathPrefix, headers: [], ...extra }) as EffectiveRoute;

const table = orderForMatching(
  [
    route('root', '/'),
    route('api', '/api'),
    route('api-v2', '/api/v2'),
    route('shop', '/', { hostnames: ['shop.example.com'] }),
    route('wild', '/', { hostnames: ['*.example.org'] }),
    route('canary', '/api', { headers: [{ name: 'X-Canary', value: 'yes|true', type: 'RegularExpression' }] }),
  ].map((r) => ({ name: r.route.name, matcher: compileMatcher(r) })),
);

describe('route matching', () => {
  it.each([
    ['any host, root', 'localhost', '/', {}, 'root'],
    ['a whole segment of the prefix', 'localhost', '/api/orders?id=1', {}, 'api'],
    ['not a partial segment', 'localhost', '/apix', {}, 'root'],
    ['the longest prefix', 'localhost', '/api/v2/x', {}, 'api-v2'],
    ['the exact host, port ignored', 'Shop.Example.com:8080', '/cart', {}, 'shop'],
    ['a wildcard host', 'a.example.org', '/', {}, 'wild'],
    ['not the bare domain of a wildcard', 'example.org', '/', {}, 'root'],
    ['more header conditions first, regex on the whole value', 'localhost', '/api/x', { 'x-canary': 'true' }, 'canary'],
    ['a regex matches the whole value only', 'localhost', '/api/x', { 'x-canary': 'truely' }, 'api'],
  ])('%s', (_name, host, path, headers, expected) => {
    expect(firstMatch(table, host, path, headers)?.name).toBe(expected);
  });

  it('reports a regular expression the engine rejects, naming the field', () => {
    const bad = route('bad', '/', { headers: [{ name: 'x', value: 'ok', type: 'Exact' }, { name: 'x-tenant', value: '(?i)acme', type: 'RegularExpression' }] });
    expect(() => compileMatcher(bad)).toThrow(expect.objectContaining({ field: 'spec.match.headers[1].value' }));
  });

  it('rejects a value that would break out of the anchors', () => {
    const escaping = route('escape', '/', { headers: [{ name: 'x', value: 'a)|(b', type: 'RegularExpression' }] });
    expect(() => compileMatcher(escaping)).toThrow(expect.objectContaining({ field: 'spec.match.headers[0].value' }));
  });

  it.each([
    ['example.com:80', 'example.com'],
    ['[::1]:8080', '[::1]'],
    [undefined, ''],
  ])('normalizes host %s', (input, expected) => expect(normalizeHost(input)).toBe(expected));
});
