#!/usr/bin/env node
// Resolution cost: build the index for a mesh of S services / routes with policies at every level,
// then resolve snapshots for G gateways spread over Z zones. Run after `npm run build`:
//   node tools/bench/resolution.bench.mjs [gateways=10000] [routes=200] [zones=3]
import { performance } from 'node:perf_hooks';
import { buildResolutionIndex, resolveGateway } from '@portolan/api';

const [gateways = 10_000, routeCount = 200, zoneCount = 3] = process.argv.slice(2).map(Number);
const zones = Array.from({ length: zoneCount }, (_, i) => `zone-${i}`);
const GV = 'mesh.portolan.dev/v1alpha1';
let rv = 0;
const meta = (name, namespace = 'default') => ({ name, namespace, resourceVersion: String(++rv), generation: 1, creationTimestamp: '2026-01-01T00:00:00Z' });

const resources = [
  { apiVersion: GV, kind: 'RetryPolicy', metadata: meta('mesh-retries'), spec: { targetRef: { kind: 'Mesh' }, attempts: 2 } },
  { apiVersion: GV, kind: 'TimeoutPolicy', metadata: meta('mesh-timeouts'), spec: { targetRef: { kind: 'Mesh' }, requestTimeout: '10s' } },
  { apiVersion: GV, kind: 'CircuitBreakerPolicy', metadata: meta('mesh-breaker'), spec: { targetRef: { kind: 'Mesh' }, errorRate: { minimumRequests: 20 } } },
];
for (let i = 0; i < routeCount; i++) {
  const name = `svc-${i}`;
  resources.push({ apiVersion: GV, kind: 'Service', metadata: meta(name), spec: { ports: [{ port: 8080 }], endpoints: zones.map((zone, z) => ({ address: `10.0.${z}.${i % 250}`, zone })) } });
  resources.push({ apiVersion: GV, kind: 'Route', metadata: meta(name), spec: { match: { pathPrefix: `/${name}` }, backendRef: { name } } });
  resources.push({ apiVersion: GV, kind: 'RateLimitPolicy', metadata: meta(`${name}-limits`), spec: { targetRef: { kind: 'Service', name }, limits: [{ name: 'per-minute', requests: 100, interval: '60s' }] } });
  resources.push({ apiVersion: GV, kind: 'RetryPolicy', metadata: meta(`${name}-retries`), spec: { targetRef: { kind: 'Route', name, zone: zones[i % zoneCount] }, perTryTimeout: '2s' } });
}

function measure(label, fn) {
  const start = performance.now();
  const result = fn();
  const ms = performance.now() - start;
  console.log(`${label.padEnd(58)} ${ms.toFixed(1).padStart(9)} ms`);
  return { result, ms };
}

console.log(`mesh: ${resources.length} resources (${routeCount} routes, ${zoneCount} zones), ${gateways} gateways, node ${process.version}`);
for (let round = 1; round <= 3; round++) {
  const { result: index } = measure(`round ${round}: build index`, () => buildResolutionIndex(resources, round));
  const { ms: cold } = measure(`round ${round}: resolve ${gateways} gateways (cold memo)`, () => {
    let routes = 0;
    for (let g = 0; g < gateways; g++) routes += resolveGateway(index, { name: `gw-${g}`, zone: zones[g % zoneCount], pool: 'edge' }).routes.length;
    return routes;
  });
  const { ms: warm } = measure(`round ${round}: resolve ${gateways} gateways again (warm memo)`, () => {
    for (let g = 0; g < gateways; g++) resolveGateway(index, { name: `gw-${g}`, zone: zones[g % zoneCount], pool: 'edge' });
  });
  const { ms: serialize } = measure(`round ${round}: serialize one snapshot per zone`, () =>
    zones.map((zone) => JSON.stringify(resolveGateway(index, { name: 'shape', zone, pool: 'edge' }))),
  );
  console.log(`round ${round}: per gateway ${((cold / gateways) * 1000).toFixed(1)} µs cold, ${((warm / gateways) * 1000).toFixed(1)} µs warm; serialize ${serialize.toFixed(1)} ms`);
}
