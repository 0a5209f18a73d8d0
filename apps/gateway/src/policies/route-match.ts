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

/**
 * The prefix as the index keys it: without a trailing slash, so that `/api` and `/api/` are one
 * prefix; the root prefix is the empty string.
 */
function prefixKey(prefix: string): string {
  return prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
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

function byPrecedence(a: Matchable & { name: string }, b: Matchable & { name: string }): number {
  return b.matcher.pathPrefix.length - a.matcher.pathPrefix.length || b.matcher.headers.length - a.matcher.headers.length || a.name.localeCompare(b.name);
}

function headersMatch(matcher: RouteMatcher, headers: Record<string, string | string[] | undefined>): boolean {
  for (const condition of matcher.headers) {
    const value = headers[condition.name];
    if (value === undefined || !condition.test(Array.isArray(value) ? value.join(',') : value)) return false;
  }
  return true;
}

/**
 * Routes indexed by path prefix, built once per config change. A request looks up only the
 * prefixes its path can match — itself and each of its parents at a `/`, longest first — instead
 * of testing every route: with 200 routes, a linear scan cost ~9 µs per request
 * (docs/benchmarks.md), the lookup a few hundred ns whatever the number of routes. Routes naming
 * hosts are tried before routes for any host; within each, longer prefixes first, and in one
 * prefix more header conditions first, then name order — the precedence the module comment gives.
 */
export class RouteIndex<T extends Matchable & { name: string }> {
  private readonly forHosts = new Map<string, T[]>();
  private readonly forAnyHost = new Map<string, T[]>();
  readonly routes: readonly T[];

  constructor(routes: readonly T[]) {
    this.routes = [...routes].sort(byPrecedence);
    for (const route of this.routes) {
      const tier = route.matcher.hostnames.length > 0 ? this.forHosts : this.forAnyHost;
      const key = prefixKey(route.matcher.pathPrefix);
      const list = tier.get(key);
      if (list) list.push(route);
      else tier.set(key, [route]);
    }
  }

  match(hostHeader: string | undefined, url: string, headers: Record<string, string | string[] | undefined>): T | undefined {
    const query = url.indexOf('?');
    const path = query >= 0 ? url.slice(0, query) : url;
    if (this.forHosts.size > 0) {
      const host = normalizeHost(hostHeader);
      const found = this.first(this.forHosts, path, (route) => hostMatches(route.matcher.hostnames, host) && headersMatch(route.matcher, headers));
      if (found) return found;
    }
    return this.first(this.forAnyHost, path, (route) => headersMatch(route.matcher, headers));
  }

  private first(tier: Map<string, T[]>, path: string, accepts: (route: T) => boolean): T | undefined {
    // The path itself, then its parents at each "/" from the right; the root prefix ("") last, and
    // for every path, as the root takes whatever a request names (even "*" or an absolute URL).
    let end = path.length;
    for (;;) {
      const candidates = tier.get(end === path.length ? path : path.slice(0, end));
      if (candidates) {
        for (const route of candidates) if (accepts(route)) return route;
      }
      if (end === 0) return undefined;
      end = path.lastIndexOf('/', end - 1);
      if (end < 0) end = 0;
    }
  }
}
