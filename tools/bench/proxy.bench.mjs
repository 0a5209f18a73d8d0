#!/usr/bin/env node
// The data path: requests per second and latency of an upstream reached directly, through a
// gateway with no policy, and through a gateway enforcing a rate limit (never reached), retries,
// a breaker with outlier detection and a timeout on every request. Closed loop, C clients in
// parallel, keep-alive everywhere; the upstream answers at once with a small JSON body. The gateway
// records a span per request and per attempt and exports the sampled share (OTLP/HTTP protobuf) to
// a sink in this process that only counts what it receives.
// Run after `npm run build`:   node tools/bench/proxy.bench.mjs [requests=20000] [concurrency=32] [trace-sampling=0.1]
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';

const [total = 20_000, concurrency = 32, traceSampling = 0.1] = process.argv.slice(2).map(Number);
const root = new URL('../..', import.meta.url).pathname;
const dataDir = mkdtempSync(join(tmpdir(), 'portolan-proxy-bench-'));
const BOOTSTRAP = 'proxy-bench-bootstrap';
const ADMIN = 'proxy-bench-admin-token';
const wait = (ms) => new Promise((done) => setTimeout(done, ms));

const body = JSON.stringify({ ok: true, service: 'bench' });
const upstream = createServer((req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
});
await new Promise((done) => upstream.listen(0, '127.0.0.1', done));
const upstreamPort = upstream.address().port;

const exported = { requests: 0, bytes: 0 };
const otlpSink = createServer((req, res) => {
  exported.requests++;
  req.on('data', (chunk) => (exported.bytes += chunk.length));
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
});
await new Promise((done) => otlpSink.listen(0, '127.0.0.1', done));
const otlpEndpoint = `http://127.0.0.1:${otlpSink.address().port}/v1/traces`;

const children = [];
function start(script, args, env) {
  const child = spawn(process.execPath, [join(root, script), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  return child;
}
start('apps/control-plane/dist/main.js', [], { PORTOLAN_DATA_DIR: dataDir, PORTOLAN_API_PORT: '0', PORTOLAN_OPS_PORT: '-1', PORTOLAN_LOG_LEVEL: 'warn', PORTOLAN_BOOTSTRAP_TOKEN: BOOTSTRAP, PORTOLAN_ADMIN_TOKEN: ADMIN });
while (!existsSync(join(dataDir, 'endpoint.json'))) await wait(50);
const { apiUrl } = JSON.parse(readFileSync(join(dataDir, 'endpoint.json'), 'utf8'));
const tls = new Agent({ connect: { ca: readFileSync(join(dataDir, 'tls', 'ca.crt'), 'utf8') } });
const ns = `${apiUrl}/apis/mesh.portolan.dev/v1alpha1/namespaces/default`;
async function apply(plural, object) {
  const response = await request(`${ns}/${plural}/${object.metadata.name}?fieldManager=bench`, {
    method: 'PATCH',
    dispatcher: tls,
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/apply-patch+yaml' },
    body: JSON.stringify({ apiVersion: 'mesh.portolan.dev/v1alpha1', ...object }),
  });
  return response.body.json();
}
await apply('services', { kind: 'Service', metadata: { name: 'plain' }, spec: { ports: [{ port: upstreamPort }], endpoints: [{ address: '127.0.0.1', port: upstreamPort }] } });
await apply('services', { kind: 'Service', metadata: { name: 'guarded' }, spec: { ports: [{ port: upstreamPort }], endpoints: [{ address: '127.0.0.1', port: upstreamPort }] } });
await apply('routes', { kind: 'Route', metadata: { name: 'plain' }, spec: { match: { pathPrefix: '/plain' }, backendRef: { name: 'plain' } } });
await apply('routes', { kind: 'Route', metadata: { name: 'guarded' }, spec: { match: { pathPrefix: '/guarded' }, backendRef: { name: 'guarded' } } });
await apply('ratelimitpolicies', { kind: 'RateLimitPolicy', metadata: { name: 'guarded' }, spec: { targetRef: { kind: 'Service', name: 'guarded' }, key: { type: 'clientIP' }, limits: [{ name: 'per-second', requests: 1_000_000_000, interval: '1s' }] } });
await apply('retrypolicies', { kind: 'RetryPolicy', metadata: { name: 'guarded' }, spec: { targetRef: { kind: 'Service', name: 'guarded' }, attempts: 3 } });
await apply('circuitbreakerpolicies', { kind: 'CircuitBreakerPolicy', metadata: { name: 'guarded' }, spec: { targetRef: { kind: 'Service', name: 'guarded' }, errorRate: { minimumRequests: 20 }, connectionLimits: { maxConcurrentRequests: 1000 }, outlierDetection: { consecutive5xx: 5 } } });
const last = await apply('timeoutpolicies', { kind: 'TimeoutPolicy', metadata: { name: 'guarded' }, spec: { targetRef: { kind: 'Service', name: 'guarded' }, requestTimeout: '5s' } });

const stateDir = join(dataDir, 'gateway');
start('apps/gateway/dist/main.js', ['--control-plane', apiUrl, '--ca-file', join(dataDir, 'tls', 'ca.crt'), '--bootstrap-token', BOOTSTRAP, '--zone', 'zone-a', '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--state-dir', stateDir, '--otlp-endpoint', otlpEndpoint, '--trace-sampling', String(traceSampling)], { PORTOLAN_LOG_LEVEL: 'warn' });
while (!existsSync(join(stateDir, 'listening.json'))) await wait(50);
const { proxyUrl, adminUrl } = JSON.parse(readFileSync(join(stateDir, 'listening.json'), 'utf8'));
for (;;) {
  const config = await (await request(`${adminUrl}/config`)).body.json().catch(() => null);
  if (config?.revision >= Number(last.metadata.resourceVersion)) break;
  await wait(50);
}

async function run(label, url) {
  const dispatcher = new Agent({ connections: concurrency, keepAliveTimeout: 30_000 });
  const latencies = new Float64Array(total);
  let next = 0;
  let errors = 0;
  const worker = async () => {
    for (let i = next++; i < total; i = next++) {
      const started = performance.now();
      const response = await request(url, { dispatcher });
      await response.body.dump();
      if (response.statusCode !== 200) errors++;
      latencies[i] = performance.now() - started;
    }
  };
  // Warm up connections and JIT before measuring.
  next = total - Math.min(total, 2_000);
  await Promise.all(Array.from({ length: concurrency }, worker));
  next = 0;
  const began = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - began) / 1000;
  const sorted = Array.from(latencies).sort((a, b) => a - b);
  const at = (p) => sorted[Math.min(total - 1, Math.ceil((p / 100) * total) - 1)].toFixed(2);
  console.log(`${label.padEnd(44)} ${(total / seconds).toFixed(0).padStart(7)} req/s   p50 ${at(50)} ms   p99 ${at(99)} ms   errors ${errors}`);
  await dispatcher.close();
}

console.log(`${total} requests, ${concurrency} in parallel, trace sampling ${traceSampling}, node ${process.version}, ${(await import('node:os')).cpus().length} cores shared by client, gateway, upstream`);
for (let round = 1; round <= 2; round++) {
  await run(`round ${round}: direct to the upstream`, `http://127.0.0.1:${upstreamPort}/plain`);
  await run(`round ${round}: through the gateway, no policy`, `${proxyUrl}/plain`);
  await run(`round ${round}: through the gateway, all four policies`, `${proxyUrl}/guarded`);
}

for (const child of children.reverse()) {
  child.kill('SIGTERM');
  await new Promise((done) => child.on('exit', done));
}
console.log(`spans exported to the OTLP sink: ${exported.requests} requests, ${(exported.bytes / 1024 / 1024).toFixed(1)} MiB (the gateway flushes on SIGTERM)`);
otlpSink.close();
upstream.close();
await tls.close();
rmSync(dataDir, { recursive: true, force: true });
