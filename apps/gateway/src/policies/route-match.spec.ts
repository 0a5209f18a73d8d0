import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { EffectiveRoute } from '@portolan/api';
import { compileMatcher, normalizeHost, RouteIndex, type RouteMatcher } from './route-match.js';

const route = (name: string, pathPrefix: string, extra: Partial<EffectiveRoute> = {}): EffectiveRoute =>
  ({ route: { kind: 'Route', namespace: 'default', name, resourceVersion: '1' }, hostnames: [], pathPrefix, headers: [], ...extra }) as EffectiveRoute;

const table = new RouteIndex(
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
    expect(table.match(host, path, headers)?.name).toBe(expected);
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

/**
 * The precedence of the module comment, written as plainly as possible: try every route in order
 * (host-specific first, then longer prefix, more header conditions, name). The index must choose
 * as this does for any table and any request.
 */
function linearMatch(routes: Array<{ name: string; matcher: RouteMatcher }>, hostHeader: string, url: string, headers: Record<string, string>) {
  const ordered = [...routes].sort(
    (a, b) =>
      Number(a.matcher.hostnames.length === 0) - Number(b.matcher.hostnames.length === 0) ||
      b.matcher.pathPrefix.length - a.matcher.pathPrefix.length ||
      b.matcher.headers.length - a.matcher.headers.length ||
      a.name.localeCompare(b.name),
  );
  const host = normalizeHost(hostHeader);
  const path = url.split('?')[0];
  return ordered.find(({ matcher }) => {
    const hostOk = matcher.hostnames.length === 0 || matcher.hostnames.some((name) => name === host || (name.startsWith('*.') && host.endsWith(name.slice(1)) && host.length > name.length - 1));
    const bare = matcher.pathPrefix.replace(/\/$/, '');
    const pathOk = matcher.pathPrefix === '/' || path === bare || path.startsWith(`${bare}/`);
    return hostOk && pathOk && matcher.headers.every((condition) => headers[condition.name] !== undefined && condition.test(headers[condition.name]));
  });
}

describe('the route index', () => {
  const segment = fc.constantFrom('a', 'b', 'api', 'v2', '');
  const path = fc.array(segment, { maxLength: 4 }).map((parts) => `/${parts.join('/')}`);
  const host = fc.constantFrom('shop.example.com', 'a.example.org', 'example.org', 'localhost');
  const routeArbitrary = fc.record({
    prefix: fc.tuple(path, fc.boolean()).map(([prefix, slash]) => (slash && prefix !== '/' ? `${prefix}/` : prefix)),
    hostnames: fc.subarray(['shop.example.com', '*.example.org']),
    canary: fc.boolean(),
  });

  it('chooses the route a linear scan in precedence order chooses, for any routes and request', () => {
    fc.assert(
      fc.property(fc.uniqueArray(routeArbitrary, { maxLength: 12 }), path, fc.constantFrom('', '?q=/x'), host, fc.boolean(), (specs, requestPath, query, requestHost, canary) => {
        const routes = specs.map((spec, index) => {
          const name = `r${index}`;
          const effective = route(name, spec.prefix, { hostnames: spec.hostnames, headers: spec.canary ? [{ name: 'X-Canary', value: 'yes', type: 'Exact' }] : [] });
          return { name, matcher: compileMatcher(effective) };
        });
        const headers: Record<string, string> = canary ? { 'x-canary': 'yes' } : {};
        expect(new RouteIndex(routes).match(requestHost, `${requestPath}${query}`, headers)?.name).toBe(linearMatch(routes, requestHost, `${requestPath}${query}`, headers)?.name);
      }),
      { numRuns: 500, seed: 20261203 },
    );
  });
});
