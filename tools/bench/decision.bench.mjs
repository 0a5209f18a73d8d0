#!/usr/bin/env node
// Policy decision cost, in two parts.
//
// 1. What a gateway computes per request, as micro-benchmarks of its compiled code
//    (apps/gateway/dist): a token bucket take, the route's rate-limit check (per client IP), the
//    breaker's admission and outcome record, the route match, and the three as the proxy runs them
//    (match, breaker state, rate limit, admit, release; Date.now() per step as the proxy does).
//    Routes come from the real resolver and compiler, every route with a rate limit (never
//    reached), retries, a breaker with connection limits and outlier detection, and a timeout.
//    Each case: a warm-up, then --runs runs of --iterations operations; ns/op is the median run.
// 2. Snapshot resolution per revision (libs/api): build the index of a mesh of --routes Services
//    and Routes in --zones zones with policies at every level, then resolve --gateways gateways,
//    cold (a new revision) and warm (the same revision again), and serialize one snapshot per zone.
//
// Run after `npm run build`:
//   node tools/bench/decision.bench.mjs [--routes=200] [--iterations=1000000] [--runs=7]
//        [--gateways=10000] [--zones=3] [--rounds=3] [--append]
import { performance } from 'node:perf_hooks';
import { buildResolutionIndex, resolveGateway } from '@portolan/api';
import { markdownTable, median, numberList, publish, readOptions, thousands, verdict } from './bench-kit.mjs';

const gatewayDist = (path) => import(new URL(`../../apps/gateway/dist/${path}`, import.meta.url).href);
const { TokenBucket } = await gatewayDist('policies/token-bucket.js');
const { CircuitBreaker } = await gatewayDist('policies/circuit-breaker.js');
const { compileRateLimit, RateLimiter } = await gatewayDist('policies/rate-limiter.js');
const { compileSnapshot } = await gatewayDist('proxy/route-runtime.js');
const { GatewayMetrics } = await gatewayDist('telemetry/metrics.js');

const options = readOptions({
  'request-routes': { type: 'string', default: '10,200' },
  routes: { type: 'string', default: '200' },
  iterations: { type: 'string', default: '1000000' },
  runs: { type: 'string', default: '7' },
  gateways: { type: 'string', default: '10000' },
  zones: { type: 'string', default: '3' },
  rounds: { type: 'string', default: '3' },
});
const requestRouteCounts = numberList(options['request-routes']);
const routeCount = Number(options.routes);
const iterations = Number(options.iterations);
const runs = Number(options.runs);
const gatewayCount = Number(options.gateways);
const zones = Array.from({ length: Number(options.zones) }, (_, i) => `zone-${i}`);
const rounds = Number(options.rounds);

// --- the mesh: what the resolution part resolves and the per-request part compiles ---
const GV = 'mesh.portolan.dev/v1alpha1';
function meshResources(routeCount) {
  let resourceVersion = 0;
  const meta = (name) => ({ name, namespace: 'default', resourceVersion: String(++resourceVersion), generation: 1, creationTimestamp: '2026-01-01T00:00:00Z' });
  const resources = [
    { apiVersion: GV, kind: 'RetryPolicy', metadata: meta('mesh-retries'), spec: { targetRef: { kind: 'Mesh' }, attempts: 3 } },
    { apiVersion: GV, kind: 'TimeoutPolicy', metadata: meta('mesh-timeouts'), spec: { targetRef: { kind: 'Mesh' }, requestTimeout: '5s' } },
    { apiVersion: GV, kind: 'CircuitBreakerPolicy', metadata: meta('mesh-breaker'), spec: { targetRef: { kind: 'Mesh' }, errorRate: { minimumRequests: 20 }, connectionLimits: { maxConcurrentRequests: 1000 }, outlierDetection: { consecutive5xx: 5 } } },
  ];
  for (let i = 0; i < routeCount; i++) {
    const name = `svc-${i}`;
    resources.push({ apiVersion: GV, kind: 'Service', metadata: meta(name), spec: { ports: [{ port: 8080 }], endpoints: zones.map((zone, z) => ({ address: `10.0.${z}.${i % 250}`, zone })) } });
    resources.push({ apiVersion: GV, kind: 'Route', metadata: meta(name), spec: { match: { pathPrefix: `/${name}` }, backendRef: { name } } });
    resources.push({ apiVersion: GV, kind: 'RateLimitPolicy', metadata: meta(`${name}-limits`), spec: { targetRef: { kind: 'Service', name }, key: { type: 'clientIP' }, limits: [{ name: 'per-second', requests: 1_000_000_000, interval: '1s' }] } });
    resources.push({ apiVersion: GV, kind: 'RetryPolicy', metadata: meta(`${name}-retries`), spec: { targetRef: { kind: 'Route', name, zone: zones[i % zones.length] }, perTryTimeout: '2s' } });
  }
  return resources;
}

// --- part 1: per request ---
/** The gateway's route table for a mesh of `routeCount` routes, as resolved and compiled for real. */
function compiledTable(routeCount) {
  const gateway = { id: 'bench', name: 'bench', zone: zones[0], pool: 'edge' };
  const routes = resolveGateway(buildResolutionIndex(meshResources(routeCount), 1), gateway).routes;
  const { table, errors } = compileSnapshot({ version: '1.bench', revision: 1, gateway, share: null, routes }, gateway.zone, undefined, { clock: Date.now, random: Math.random, metrics: new GatewayMetrics({ pool: 'edge' }) });
  if (errors.length > 0) throw new Error(`the gateway refused the bench mesh: ${JSON.stringify(errors)}`);
  return table;
}

/** Requests spread over every route and 1,000 client addresses, in a fixed pseudo-random order. */
const REQUESTS = 4096;
function benchRequests(routeCount) {
  let seed = 42;
  const random = () => (seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0) / 2 ** 32;
  return Array.from({ length: REQUESTS }, () => ({
    url: `/svc-${Math.floor(random() * routeCount)}/items?page=2`,
    headers: { host: 'shop.example.com', 'user-agent': 'bench', accept: '*/*' },
    socket: { remoteAddress: `10.9.${Math.floor(random() * 4)}.${Math.floor(random() * 250)}` },
  }));
}

const start = Date.now();
/** Each case's loop is its own function, so every call site in it sees one shape. */
function cases(routeCount) {
  const table = compiledTable(routeCount);
  const requests = benchRequests(routeCount);
  const routes = requests.map((incoming) => table.match(incoming.headers.host, incoming.url, incoming.headers));
  if (routes.some((route) => !route?.name.startsWith('default/svc-'))) throw new Error('a bench request matched no route');
  return [
    {
      step: 'rate limit: token bucket take',
      run(n) {
        const bucket = new TokenBucket({ capacity: 1e15, fill: 1e15, intervalMs: 1000 }, start);
        let sink = 0;
        for (let i = 0; i < n; i++) sink += bucket.take(start + (i >>> 8)).remaining;
        return sink;
      },
    },
    {
      step: "rate limit: the route's check (key per client IP)",
      run(n) {
        const limiter = new RateLimiter(compileRateLimit({ key: { type: 'clientIP' }, limits: [{ name: 'per-second', requests: 1_000_000_000, interval: '1s' }] }, { pool: '', size: 1, index: 0 }));
        let sink = 0;
        for (let i = 0; i < n; i++) if (limiter.check(requests[i & (REQUESTS - 1)].socket.remoteAddress, start + (i >>> 8)).allowed) sink++;
        return sink;
      },
    },
    {
      step: 'breaker: admit + record a success',
      run(n) {
        const breaker = new CircuitBreaker({ minimumRequests: 20, failureRatePercent: 50, windowMs: 10_000, openDurationMs: 5_000, halfOpenProbes: 1 });
        let sink = 0;
        for (let i = 0; i < n; i++) {
          const now = start + (i >>> 8);
          if (breaker.tryAcquire(now).allowed) sink++;
          breaker.onSuccess(now, false);
        }
        return sink;
      },
    },
    {
      step: "breaker: the route's admit + release (with connection limit)",
      run(n) {
        let sink = 0;
        for (let i = 0; i < n; i++) {
          const now = start + (i >>> 8);
          const admission = routes[i & (REQUESTS - 1)].admit(now);
          if (admission.admitted) {
            sink++;
            admission.release(false, now);
          }
        }
        return sink;
      },
    },
    {
      step: 'route match (any host, path prefix)',
      run(n) {
        let sink = 0;
        for (let i = 0; i < n; i++) {
          const incoming = requests[i & (REQUESTS - 1)];
          sink += table.match(incoming.headers.host, incoming.url, incoming.headers).timeouts.requestTimeoutMs;
        }
        return sink;
      },
    },
    {
      step: 'the three together, as the proxy runs them',
      together: true,
      run(n) {
        let sink = 0;
        for (let i = 0; i < n; i++) {
          const incoming = requests[i & (REQUESTS - 1)];
          const route = table.match(incoming.headers.host, incoming.url, incoming.headers);
          const now = Date.now();
          if (route.breakerState(now) === 'closed') sink++;
          if (route.checkRateLimit(incoming, now) === undefined) sink++;
          const admission = route.admit(now);
          if (admission.admitted) admission.release(false, Date.now());
        }
        return sink;
      },
    },
  ];
}

/** A warm-up, then `runs` runs of at most `iterations` operations, each run about RUN_MS long; ns/op per run. */
const RUN_MS = 250;
function measure(run) {
  const warmUp = 100_000;
  const began = process.hrtime.bigint();
  let sink = run(warmUp);
  const warmNs = Number(process.hrtime.bigint() - began) / warmUp;
  const n = Math.max(10_000, Math.min(iterations, Math.round((RUN_MS * 1e6) / warmNs)));
  const nsPerOp = [];
  for (let r = 0; r < runs; r++) {
    const runStart = process.hrtime.bigint();
    sink += run(n);
    nsPerOp.push(Number(process.hrtime.bigint() - runStart) / n);
  }
  if (sink === 0) throw new Error('a benchmarked step did nothing');
  return { median: median(nsPerOp), min: Math.min(...nsPerOp), max: Math.max(...nsPerOp), n };
}

process.stdout.write(`per request: ${runs} runs per step of up to ${thousands(iterations)} operations (about ${RUN_MS} ms each) after a warm-up; ${requestRouteCounts.join(', ')} routes\n`);
/** step -> { together, byRoutes: Map(routeCount -> result) } */
const perRequest = new Map();
for (const routeCount of requestRouteCounts) {
  for (const { step, run, together } of cases(routeCount)) {
    const result = measure(run);
    if (!perRequest.has(step)) perRequest.set(step, { together, byRoutes: new Map() });
    perRequest.get(step).byRoutes.set(routeCount, result);
    process.stdout.write(`  ${routeCount} routes, ${step}: ${result.median.toFixed(1)} ns/op (runs ${result.min.toFixed(1)}–${result.max.toFixed(1)}, ${thousands(result.n)} ops each)\n`);
  }
}

// --- part 2: resolution per revision ---
const resources = meshResources(routeCount);
const resolveAll = (revisionIndex) => {
  for (let g = 0; g < gatewayCount; g++) resolveGateway(revisionIndex, { name: `gw-${g}`, zone: zones[g % zones.length], pool: 'edge' });
};
const timed = (fn) => {
  const began = performance.now();
  const result = fn();
  return { ms: performance.now() - began, result };
};
process.stdout.write(`resolution: ${resources.length} resources (${routeCount} routes, ${zones.length} zones), ${thousands(gatewayCount)} gateways, ${rounds} rounds\n`);
const resolution = { index: [], cold: [], warm: [], serialize: [] };
for (let round = 1; round <= rounds; round++) {
  const { ms: indexMs, result: revisionIndex } = timed(() => buildResolutionIndex(resources, round + 1));
  resolution.index.push(indexMs);
  resolution.cold.push(timed(() => resolveAll(revisionIndex)).ms);
  resolution.warm.push(timed(() => resolveAll(revisionIndex)).ms);
  resolution.serialize.push(timed(() => zones.map((zone) => JSON.stringify(resolveGateway(revisionIndex, { name: 'shape', zone, pool: 'edge' })))).ms);
  process.stdout.write(`  round ${round}: index ${indexMs.toFixed(1)} ms, cold ${resolution.cold.at(-1).toFixed(1)} ms, warm ${resolution.warm.at(-1).toFixed(1)} ms, serialize ${resolution.serialize.at(-1).toFixed(1)} ms\n`);
}

const ns = (value) => (value < 100 ? `${value.toFixed(1)} ns` : `${thousands(value)} ns`);
const perRequestTable = markdownTable(
  ['per-request step', ...requestRouteCounts.map((count) => `ns/op, ${count} routes`), 'target'],
  [...perRequest].map(([step, { together, byRoutes }]) => [
    step,
    ...requestRouteCounts.map((count) => `${ns(byRoutes.get(count).median)} (${thousands(byRoutes.get(count).min)}–${thousands(byRoutes.get(count).max)})`),
    together ? requestRouteCounts.map((count) => `${count} routes: ${verdict(byRoutes.get(count).median, 1000, { format: ns })}`).join('; ') : '',
  ]),
);
const msCell = (value) => `${value.toFixed(1)} ms`;
const roundHeaders = Array.from({ length: rounds }, (_, r) => `round ${r + 1}`);
const resolutionTable = markdownTable(
  ['resolution step', ...roundHeaders, 'median', 'target'],
  [
    ['build index', ...resolution.index.map(msCell), msCell(median(resolution.index)), ''],
    [`resolve ${thousands(gatewayCount)} gateways, cold (a new revision)`, ...resolution.cold.map(msCell), msCell(median(resolution.cold)), `slowest round ${verdict(Math.max(...resolution.cold), 200, { format: msCell })}`],
    [`resolve ${thousands(gatewayCount)} gateways, warm (same revision)`, ...resolution.warm.map(msCell), msCell(median(resolution.warm)), ''],
    [`\`JSON.stringify\` of one snapshot per zone (${zones.length})`, ...resolution.serialize.map(msCell), msCell(median(resolution.serialize)), ''],
  ],
);

publish({
  title: 'Policy decision cost (`tools/bench/decision.bench.mjs`)',
  description:
    `Per request: the gateway's compiled code from apps/gateway/dist, on routes resolved and compiled from a mesh where every route has a ` +
    `per-client-IP rate limit (never reached), retries, a breaker with connection limits and outlier detection, and a timeout; ${runs} runs ` +
    `of up to ${thousands(iterations)} operations (about ${RUN_MS} ms each) after a warm-up; the median run, and the fastest–slowest in brackets. ` +
    `Requests go to every route in a fixed pseudo-random order from 1,000 client addresses. Resolution: ${resources.length} resources in ${zones.length} zones, ` +
    `${thousands(gatewayCount)} gateways spread over the zones, all serving every route.`,
  body: `${perRequestTable}\n\n${resolutionTable}`,
  append: options.append,
});
