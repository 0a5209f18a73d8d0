import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { buildResolutionIndex, GROUP_VERSION, resolveGateway, type Resource } from '@portolan/api';
import type { Snapshot } from '@portolan/agent-client';
import { GatewayMetrics } from '../telemetry/metrics.js';
import { compileSnapshot, type RouteTable } from './route-runtime.js';

let revision = 0;
const resource = (kind: string, name: string, spec: unknown): Resource => ({
  apiVersion: GROUP_VERSION,
  kind,
  metadata: { name, namespace: 'default', resourceVersion: String(++revision), creationTimestamp: '2026-01-01T00:00:00Z' },
  spec,
});
const base = [
  resource('Service', 'orders', { ports: [{ port: 80 }], endpoints: [{ address: '10.0.0.1', zone: 'a' }, { address: '10.0.0.2', zone: 'b' }] }),
  resource('Route', 'orders', { match: { pathPrefix: '/orders' }, backendRef: { name: 'orders' } }),
];
const snapshotOf = (resources: Resource[], share = { pool: 'edge', size: 1, index: 0 }): Snapshot => {
  const index = buildResolutionIndex(resources, revision);
  return { version: `${revision}.x`, revision, gateway: { id: 'g', name: 'g', zone: 'a', pool: 'edge' }, share, routes: resolveGateway(index, { name: 'g', zone: 'a', pool: 'edge' }).routes };
};
const deps = { clock: () => 0, random: () => 0.5, metrics: new GatewayMetrics() };
const request = (headers: Record<string, string> = {}) => ({ headers, socket: { remoteAddress: '10.9.9.9' } }) as unknown as IncomingMessage;
const admitted = (table: RouteTable, count: number, headers: Record<string, string> = {}) => {
  const route = table.match('localhost', '/orders', headers)!;
  let passed = 0;
  for (let i = 0; i < count; i++) if (!route.checkRateLimit(request(headers), 0)) passed++;
  return passed;
};
const limit = (requests: number, key: object = { type: 'none' }) => resource('RateLimitPolicy', 'orders-limit', { targetRef: { kind: 'Service', name: 'orders' }, key, limits: [{ name: 'per-minute', requests, interval: '60s' }] });

describe('compileSnapshot', () => {
  it('keeps used tokens across a new revision whose rate limit key is unchanged', () => {
    const first = compileSnapshot(snapshotOf([...base, limit(10)]), 'a', undefined, deps);
    expect(admitted(first.table, 6)).toBe(6);
    const second = compileSnapshot(snapshotOf([...base, limit(10), resource('TimeoutPolicy', 't', { targetRef: { kind: 'Mesh' }, requestTimeout: '3s' })]), 'a', first.table, deps);
    expect(second.errors).toEqual([]);
    expect(admitted(second.table, 10)).toBe(4);
    expect(second.table.match('localhost', '/orders', {})!.timeouts.requestTimeoutMs).toBe(3_000);
  });

  it('NACKs a policy part it cannot apply, naming the policy, and keeps the previous version of that part', () => {
    const first = compileSnapshot(snapshotOf([...base, limit(5)]), 'a', undefined, deps);
    const bad = compileSnapshot(snapshotOf([...base, limit(50, { type: 'header', header: 'x tenant' })]), 'a', first.table, deps);
    expect(bad.errors).toEqual([{ resource: 'RateLimitPolicy/default/orders-limit', field: 'spec.key.header', message: '"x tenant" is not a valid HTTP header name' }]);
    // The old limit (5, one bucket for all) still applies.
    expect(admitted(bad.table, 10)).toBe(5);
  });

  it('NACKs a route whose header regex does not compile and keeps serving its previous version; other routes update', () => {
    const first = compileSnapshot(snapshotOf(base), 'a', undefined, deps);
    const next = [
      base[0],
      resource('Route', 'orders', { match: { pathPrefix: '/orders', headers: [{ name: 'x', value: '(?i)a', type: 'RegularExpression' }] }, backendRef: { name: 'orders' } }),
      resource('Route', 'users', { match: { pathPrefix: '/users' }, backendRef: { name: 'orders' } }),
    ];
    const { table, errors } = compileSnapshot(snapshotOf(next), 'a', first.table, deps);
    expect(errors).toEqual([expect.objectContaining({ resource: 'Route/default/orders', field: 'spec.match.headers[0].value' })]);
    expect(table.match('localhost', '/orders', {})?.name).toBe('default/orders');
    expect(table.match('localhost', '/users', {})?.name).toBe('default/users');
  });

  it('prefers endpoints in its own zone', () => {
    const { table } = compileSnapshot(snapshotOf(base), 'b', undefined, deps);
    const route = table.match('localhost', '/orders', {})!;
    expect(route.pickEndpoint(new Set())?.origin).toBe('http://10.0.0.2:80');
  });

  it('answers whether an untried endpoint is left without counting it as in flight (which would skew least-request picks)', () => {
    const sameZone = [resource('Service', 'orders', { ports: [{ port: 80 }], endpoints: [{ address: '10.0.0.1', zone: 'a' }, { address: '10.0.0.2', zone: 'a' }] }), base[1]];
    let draw = 0;
    const varied = { ...deps, random: () => ((draw++ % 4) + 0.5) / 4 };
    const route = compileSnapshot(snapshotOf(sameZone), 'a', undefined, varied).table.match('localhost', '/orders', {})!;
    const first = route.pickEndpoint(new Set())!;
    route.recordEndpointResult(first, true, 0);
    const second = route.pickEndpoint(new Set([first.key]))!;
    route.recordEndpointResult(second, true, 0);
    expect(second.key).not.toBe(first.key);
    for (let i = 0; i < 20; i++) expect(route.hasUntriedEndpoint(new Set([first.key]))).toBe(true);
    expect(route.hasUntriedEndpoint(new Set([first.key, second.key]))).toBe(false);
    // Nothing is in flight: with twenty phantom requests on the second endpoint, every pick would avoid it.
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const picked = route.pickEndpoint(new Set())!;
      seen.add(picked.key);
      route.recordEndpointResult(picked, true, 0);
    }
    expect(seen).toEqual(new Set([first.key, second.key]));
  });

  it('keeps an open breaker open across a config change that does not touch it', () => {
    const breaker = resource('CircuitBreakerPolicy', 'cb', { targetRef: { kind: 'Service', name: 'orders' }, errorRate: { minimumRequests: 2, openDuration: '10s' } });
    const first = compileSnapshot(snapshotOf([...base, breaker]), 'a', undefined, deps);
    const route = first.table.match('localhost', '/orders', {})!;
    for (let i = 0; i < 2; i++) {
      const admission = route.admit(0);
      if (admission.admitted) admission.release(true, 0);
    }
    expect(route.admit(1)).toMatchObject({ admitted: false, reason: 'open' });
    const second = compileSnapshot(snapshotOf([...base, breaker, limit(100)]), 'a', first.table, deps);
    expect(second.table.match('localhost', '/orders', {})!.admit(2)).toMatchObject({ admitted: false, reason: 'open' });
    expect(second.table.health(2)[0]).toEqual([{ service: 'default/orders', state: 'open' }]);
  });

  it('switches on only the breaker blocks a policy sets', () => {
    const outlierOnly = resource('CircuitBreakerPolicy', 'cb', { targetRef: { kind: 'Service', name: 'orders' }, outlierDetection: { consecutive5xx: 2 } });
    const { table } = compileSnapshot(snapshotOf([...base, outlierOnly]), 'a', undefined, deps);
    const route = table.match('localhost', '/orders', {})!;
    for (let i = 0; i < 20; i++) {
      const admission = route.admit(0);
      expect(admission.admitted).toBe(true);
      if (admission.admitted) admission.release(true, 0);
    }
  });
});

describe('compileSnapshot with zone weights', () => {
  const service = resource('Service', 'orders', {
    ports: [{ port: 80 }],
    endpoints: [
      { address: '10.0.0.1', zone: 'a' },
      { address: '10.0.0.2', zone: 'b' },
      { address: '10.0.0.3', zone: 'c' },
    ],
  });
  const withZoneWeights = (snapshot: Snapshot, zoneWeights: Array<{ zone: string; weight: number }> | undefined): Snapshot => ({
    ...snapshot,
    routes: snapshot.routes.map((route) => ({ ...route, backend: { ...route.backend, ...(zoneWeights ? { zoneWeights } : {}) } })),
  });
  const compile = (zoneWeights: Array<{ zone: string; weight: number }> | undefined, extra: Resource[] = [], previous?: RouteTable, dependencies = deps) =>
    compileSnapshot(withZoneWeights(snapshotOf([service, base[1], ...extra]), zoneWeights), 'a', previous, dependencies).table;
  const pickedAddresses = (table: RouteTable, tried: string[] = [], picks = 20) => {
    const route = table.match('localhost', '/orders', {})!;
    return [...new Set(Array.from({ length: picks }, () => route.pickEndpoint(new Set(tried))?.origin))].sort();
  };

  it.each<[string, Array<{ zone: string; weight: number }> | undefined, string[], Array<string | undefined>]>([
    ['without zone weights: own zone first', undefined, [], ['http://10.0.0.1:80']],
    ['the control plane moved the traffic to zone b', [{ zone: 'b', weight: 100 }, { zone: 'a', weight: 0 }], [], ['http://10.0.0.2:80']],
    ['a retry spills to the zone of weight 0', [{ zone: 'b', weight: 100 }, { zone: 'a', weight: 0 }], ['10.0.0.2:80'], ['http://10.0.0.1:80']],
    ['a drained zone (c, not listed) is never used', [{ zone: 'b', weight: 100 }, { zone: 'a', weight: 0 }], ['10.0.0.1:80', '10.0.0.2:80'], ['http://10.0.0.1:80']],
  ])('%s', (_name, zoneWeights, tried, expected) => {
    expect(pickedAddresses(compile(zoneWeights), tried)).toEqual(expected);
  });

  it('spills when outlier detection ejects every endpoint of the weighted zone, and follows the next config change', () => {
    const outlier = resource('CircuitBreakerPolicy', 'cb', { targetRef: { kind: 'Service', name: 'orders' }, outlierDetection: { consecutive5xx: 1, maxEjectionPercent: 100 } });
    let draw = 0;
    const cycling = { ...deps, random: () => [0.1, 0.6, 0.3, 0.9][draw++ % 4] };
    const first = compile([{ zone: 'a', weight: 100 }, { zone: 'c', weight: 0 }, { zone: 'b', weight: 0 }], [outlier], undefined, cycling);
    const route = first.match('localhost', '/orders', {})!;
    const endpoint = route.pickEndpoint(new Set())!;
    expect(endpoint.origin).toBe('http://10.0.0.1:80');
    expect(route.recordEndpointResult(endpoint, false, 0)).toBe(true);
    expect(pickedAddresses(first)).toEqual(['http://10.0.0.3:80']);
    // The next revision keeps the ejection and applies the new weights.
    const second = compile([{ zone: 'b', weight: 50 }, { zone: 'c', weight: 50 }, { zone: 'a', weight: 0 }], [outlier], first, cycling);
    expect(pickedAddresses(second, [], 200)).toEqual(['http://10.0.0.2:80', 'http://10.0.0.3:80']);
    // And a revision without zone weights goes back to own zone first (a is still ejected: b or c).
    const third = compile(undefined, [outlier], second, cycling);
    expect(pickedAddresses(third, [], 200)).toEqual(['http://10.0.0.2:80', 'http://10.0.0.3:80']);
  });
});
