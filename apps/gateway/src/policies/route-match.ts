/**
 * Request matching, compiled once per config change: host (exact or `*.` wildcard, port ignored),
 * then the longest path prefix (whole segments: `/api` takes `/api` and `/api/x`, not `/apix`),
 * then headers (exact, or a regular expression matched against the whole value). Among routes
 * that match, one naming host names beats one for any host (as in the Gateway API), then the
 * longest prefix wins, then the one with more header conditions, then name order.
 *
 * Regular expressions are compiled here by JavaScript's engine. The control plane does not compile
 * them (gateways may differ in dialect, as Envoy's RE2 does), so one that this engine rejects is a
 * compile error reported back as a NACK naming the Route and the field.
 */
import type { EffectiveRoute } from '@portolan/api';

export interface RouteMatcher {
  hostnames: string[];
  pathPrefix: string;
  headers: Array<{ name: string; test: (value: string) => boolean }>;
}

export class RouteMatchError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

export function compileMatcher(route: EffectiveRoute): RouteMatcher {
  const headers = route.headers.map((header, index) => {
    const name = header.name.toLowerCase();
    if (header.type !== 'RegularExpression') return { name, test: (value: string) => value === header.value };
    let pattern: RegExp;
    try {
      // Compiled alone first: a value like `a)|(b` would otherwise close the anchoring group and
      // match anywhere.
      new RegExp(header.value);
      pattern = new RegExp(`^(?:${header.value})$`);
    } catch (error) {
      throw new RouteMatchError(`spec.match.headers[${index}].value`, `invalid regular expression for header ${header.name}: ${(error as Error).message}`);
    }
    return { name, test: (value: string) => pattern.test(value) };
  });
  return { hostnames: route.hostnames.map((host) => host.toLowerCase()), pathPrefix: route.pathPrefix, headers };
}

function hostMatches(hostnames: readonly string[], host: string): boolean {
  if (hostnames.length === 0) return true;
  for (const name of hostnames) {
    if (name === host) return true;
    if (name.startsWith('*.') && host.endsWith(name.slice(1)) && host.length > name.length - 1) return true;
  }
  return false;
}

function pathMatches(prefix: string, path: string): boolean {
  if (prefix === '/') return true;
  const bare = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
  return path === bare || path.startsWith(`${bare}/`);
}

/** Host header without port, lower-cased; IPv6 literals keep their brackets. */
export function normalizeHost(host: string | undefined): string {
  if (!host) return '';
  const lower = host.toLowerCase();
  if (lower.startsWith('[')) return lower.slice(0, lower.indexOf(']') + 1);
  const colon = lower.lastIndexOf(':');
  return colon >= 0 ? lower.slice(0, colon) : lower;
}

export interface Matchable {
  matcher: RouteMatcher;
}

/** Routes in the order they are tried: host-specific first, then longest prefix, then more header conditions. */
export function orderForMatching<T extends Matchable & { name: string }>(routes: T[]): T[] {
  const anyHost = (route: T) => (route.matcher.hostnames.length === 0 ? 1 : 0);
  return [...routes].sort(
    (a, b) => anyHost(a) - anyHost(b) || b.matcher.pathPrefix.length - a.matcher.pathPrefix.length || b.matcher.headers.length - a.matcher.headers.length || a.name.localeCompare(b.name),
  );
}

export function firstMatch<T extends Matchable>(ordered: readonly T[], hostHeader: string | undefined, url: string, headers: Record<string, string | string[] | undefined>): T | undefined {
  const host = normalizeHost(hostHeader);
  const query = url.indexOf('?');
  const path = query >= 0 ? url.slice(0, query) : url;
  for (const route of ordered) {
    const { matcher } = route;
    if (!hostMatches(matcher.hostnames, host) || !pathMatches(matcher.pathPrefix, path)) continue;
    if (
      matcher.headers.every((condition) => {
        const value = headers[condition.name];
        return value !== undefined && condition.test(Array.isArray(value) ? value.join(',') : value);
      })
    ) {
      return route;
    }
  }
  return undefined;
}
