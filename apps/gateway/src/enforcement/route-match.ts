/**
 * The path and header conditions of one route, compiled once per config change: header names
 * lower-cased, regular expressions compiled and anchored, the path prefix normalized.
 *
 * Regular expressions are compiled by JavaScript's engine here, at the gateway. The control plane
 * does not compile them (gateways may differ in dialect, as Envoy's RE2 does), so one this engine
 * rejects, such as `(?i)abc` on Node 20, becomes a NACK naming the route and the field.
 */
import type { EffectiveRoute } from '@portolan/api';
import type { Compiled, FieldProblem } from './compile-result.js';
import { headerValue, isHeaderName, type RequestHeaders } from './request-headers.js';

export interface HeaderCondition {
  /** Lower-cased, as Node delivers header names. */
  name: string;
  matches(value: string): boolean;
}

export interface RouteMatcher {
  /** Lower-cased; empty means every host. */
  hostnames: readonly string[];
  /** Without trailing slashes, so `/` is the empty string and matches every path. */
  pathPrefix: string;
  headers: readonly HeaderCondition[];
}

const SLASH = 0x2f;

/** Gateway API semantics: a trailing slash does not change the prefix (`/api/` takes `/api`). */
function normalizePrefix(prefix: string): string {
  let end = prefix.length;
  while (end > 0 && prefix.charCodeAt(end - 1) === SLASH) end--;
  return prefix.slice(0, end);
}

function compileHeaderCondition(header: EffectiveRoute['headers'][number], index: number, problems: FieldProblem[]): HeaderCondition | undefined {
  if (!isHeaderName(header.name)) {
    problems.push({ provenancePath: 'match.headers', field: `spec.match.headers[${index}].name`, message: `${JSON.stringify(header.name)} is not a valid HTTP header name` });
    return undefined;
  }
  const name = header.name.toLowerCase();
  if (header.type !== 'RegularExpression') {
    const expected = header.value;
    return { name, matches: (value) => value === expected };
  }
  let pattern: RegExp;
  try {
    // Compiled alone first: a pattern that compiles on its own has balanced groups, so wrapping it
    // cannot let something like `a)|(b` escape the anchors.
    new RegExp(header.value);
    pattern = new RegExp(`^(?:${header.value})$`);
  } catch (error) {
    problems.push({
      provenancePath: 'match.headers',
      field: `spec.match.headers[${index}].value`,
      message: `header ${header.name}: this gateway cannot compile the regular expression (JavaScript dialect): ${(error as Error).message}`,
    });
    return undefined;
  }
  return { name, matches: (value) => pattern.test(value) };
}

export function compileRouteMatcher(route: Pick<EffectiveRoute, 'hostnames' | 'pathPrefix' | 'headers'>): Compiled<RouteMatcher> {
  const problems: FieldProblem[] = [];
  const headers: HeaderCondition[] = [];
  route.headers.forEach((header, index) => {
    const condition = compileHeaderCondition(header, index, problems);
    if (condition) headers.push(condition);
  });
  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    value: { hostnames: route.hostnames.map((host) => host.toLowerCase()), pathPrefix: normalizePrefix(route.pathPrefix), headers },
  };
}

/** Whole segments only: `/api` takes `/api` and `/api/x`, not `/apix`. `path` has no query string. */
export function pathMatches(matcher: RouteMatcher, path: string): boolean {
  const prefix = matcher.pathPrefix;
  if (!path.startsWith(prefix)) return false;
  return path.length === prefix.length || path.charCodeAt(prefix.length) === SLASH;
}

export function headersMatch(matcher: RouteMatcher, headers: RequestHeaders): boolean {
  for (const condition of matcher.headers) {
    const value = headerValue(headers, condition.name);
    if (value === undefined || !condition.matches(value)) return false;
  }
  return true;
}
