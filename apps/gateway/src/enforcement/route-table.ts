/**
 * The routes of a snapshot, indexed for matching a request.
 *
 * A request goes to the first route that matches, in this order: routes naming the exact host,
 * then those with a wildcard host (the longest suffix first: `*.api.example.com` before
 * `*.example.com`), then those for any host, as in the Gateway API. Within each group the longest
 * path prefix wins, then the route with more header conditions, then namespace and name order.
 * A wildcard `*.example.com` takes `a.example.com` and `a.b.example.com`, not `example.com`.
 */
import type { EffectiveRoute } from '@portolan/api';
import type { NackError } from '@portolan/agent-client';
import { compileRoute, type CompiledRoute, type RouteContext } from './compiled-route.js';
import type { RequestHeaders } from './request-headers.js';
import { headersMatch, pathMatches, type RouteMatcher } from './route-match.js';

export interface MatchableRoute {
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  readonly matcher: RouteMatcher;
}

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function byPrecedence(a: MatchableRoute, b: MatchableRoute): number {
  return (
    b.matcher.pathPrefix.length - a.matcher.pathPrefix.length ||
    b.matcher.headers.length - a.matcher.headers.length ||
    compareText(a.namespace, b.namespace) ||
    compareText(a.name, b.name)
  );
}

function append<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** Host header without port or trailing dot, lower-cased; IPv6 literals keep their brackets. */
export function normalizeHost(hostHeader: string | undefined): string {
  if (!hostHeader) return '';
  let host = hostHeader.toLowerCase();
  const portColon = host.startsWith('[') ? host.indexOf(':', host.indexOf(']')) : host.lastIndexOf(':');
  if (portColon >= 0) host = host.slice(0, portColon);
  return host.endsWith('.') ? host.slice(0, -1) : host;
}

export class RouteTable<T extends MatchableRoute> {
  private readonly byKey = new Map<string, T>();
  private readonly exactHost = new Map<string, T[]>();
  /** Keyed by the suffix after the `*`, dot included: `.example.com`. */
  private readonly wildcardHost = new Map<string, T[]>();
  private readonly anyHost: T[] = [];

  constructor(routes: Iterable<T>) {
    for (const route of routes) {
      this.byKey.set(route.key, route);
      const { hostnames } = route.matcher;
      if (hostnames.length === 0) this.anyHost.push(route);
      for (const hostname of new Set(hostnames)) {
        if (hostname.startsWith('*.')) append(this.wildcardHost, hostname.slice(1), route);
        else append(this.exactHost, hostname, route);
      }
    }
    for (const list of [...this.exactHost.values(), ...this.wildcardHost.values(), this.anyHost]) list.sort(byPrecedence);
  }

  get routes(): IterableIterator<T> {
    return this.byKey.values();
  }

  get(key: string): T | undefined {
    return this.byKey.get(key);
  }

  /** `path` may carry a query string, which matching ignores. */
  match(hostHeader: string | undefined, path: string, headers: RequestHeaders): T | undefined {
    const query = path.indexOf('?');
    const bare = query >= 0 ? path.slice(0, query) : path;
    const host = normalizeHost(hostHeader);
    const exact = this.exactHost.get(host);
    const found = exact && firstMatch(exact, bare, headers);
    if (found) return found;
    if (this.wildcardHost.size > 0) {
      for (let dot = host.indexOf('.', 1); dot >= 0; dot = host.indexOf('.', dot + 1)) {
        const wildcard = this.wildcardHost.get(host.slice(dot));
        const matched = wildcard && firstMatch(wildcard, bare, headers);
        if (matched) return matched;
      }
    }
    return firstMatch(this.anyHost, bare, headers);
  }
}

function firstMatch<T extends MatchableRoute>(routes: readonly T[], path: string, headers: RequestHeaders): T | undefined {
  for (const route of routes) if (pathMatches(route.matcher, path) && headersMatch(route.matcher, headers)) return route;
  return undefined;
}

/**
 * Compiles a snapshot's routes, reusing the state of `previous` (see compiled-route.ts). Routes
 * whose compilation failed keep their previous version; the errors are what the NACK reports.
 */
export function compileRouteTable(
  routes: readonly EffectiveRoute[],
  context: RouteContext,
  previous?: RouteTable<CompiledRoute>,
): { table: RouteTable<CompiledRoute>; errors: NackError[] } {
  const compiledRoutes: CompiledRoute[] = [];
  const errors: NackError[] = [];
  for (const route of routes) {
    const result = compileRoute(route, context, previous?.get(`${route.route.namespace}/${route.route.name}`));
    if (result.compiled) compiledRoutes.push(result.compiled);
    errors.push(...result.errors);
  }
  return { table: new RouteTable(compiledRoutes), errors };
}
