#!/usr/bin/env node
// The data path: one upstream (nginx serving a fixed small JSON body, or --upstream=node for a Node
// server in its own process), reached four ways, in alternating rounds with the same load tools:
//   (a) direct to the upstream;
//   (b) through a gateway (apps/gateway/dist) with no policy;
//   (c) through the same gateway on a route with a rate limit (per client IP, never reached),
//       3 retries, an error-rate breaker with connection limits and outlier detection, and a 5 s
//       timeout;
//   (d) through nginx as a plain reverse proxy (keep-alive upstream, 1 worker process);
//   (e) through the smallest Node reverse proxy (node:http server, undici Pool, pipe; no route,
//       policy, header, metric or span): the floor of Node's HTTP stack, which the gateway is
//       built on, so the table shows what the gateway's own work costs and what Node's does.
// The gateway and both proxies run pinned to core 1 (`taskset -c 1`); the load tools, the
// upstream, the control plane and this process to core 0. Two loads per path and round:
//   - saturation: wrk with --connections connections for --duration (closed loop);
//   - a fixed rate of --rate requests/s for --fixed-duration: an open-loop client of this file
//     (undici) that schedules every request on a timer and measures latency from its scheduled
//     send time, so a slow answer cannot hold back the next requests (no coordinated omission).
//     The proxy's CPU (utime + stime) and RSS are read from /proc over that run.
// nginx and wrk are Debian packages; as root the bench installs them (apt-get), otherwise it says how.
// nginx runs in the foreground as the current user, with its config, pid file, logs and temp
// files in a temp directory.
//
// Run after `npm run build`:
//   node tools/bench/dataplane.bench.mjs [--rounds=3] [--connections=32] [--duration=10s]
//        [--rate=1000] [--fixed-duration=10s] [--upstream=nginx|node] [--trace-sampling=<0..1>] [--append]
// --trace-sampling makes the gateway export its spans (OTLP/HTTP protobuf) to a sink in this
// process that only counts them; without it the gateway exports nothing.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import {
  ensureDebianPackages,
  gatewayAtRevision,
  markdownTable,
  median,
  mib,
  monotonicMs,
  percentile,
  pinning,
  processTree,
  publish,
  readOptions,
  sleep,
  startControlPlane,
  startGateway,
  thousands,
  treeUsage,
  vcpuBetween,
  verdict,
  waitFor,
} from './bench-kit.mjs';

const BODY = JSON.stringify({ ok: true, service: 'bench' });
const NGINX = '/usr/sbin/nginx';
const WRK = '/usr/bin/wrk';

const role = process.env.PORTOLAN_BENCH_ROLE;
if (role === 'dataplane-upstream') runNodeUpstream();
else if (role === 'dataplane-node-floor') runNodeFloorProxy(Number(process.env.PORTOLAN_BENCH_UPSTREAM_PORT));
else if (role === 'dataplane-open-loop') await runOpenLoop(JSON.parse(process.env.PORTOLAN_BENCH_OPEN_LOOP));
else await runBenchmark();

/** The Node upstream (--upstream=node): answers BODY at once; prints its port. */
function runNodeUpstream() {
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(BODY) });
    res.end(BODY);
  });
  server.keepAliveTimeout = 75_000;
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`));
}

/** Path (e): the gateway's data path with everything of the gateway's own removed; prints its port. */
function runNodeFloorProxy(upstreamPort) {
  const pool = new Pool(`http://127.0.0.1:${upstreamPort}`, { connections: 64, pipelining: 1, keepAliveTimeout: 60_000 });
  const server = createServer(async (req, res) => {
    try {
      const answer = await pool.request({ method: req.method, path: req.url, headers: { host: req.headers.host }, body: req.method === 'GET' || req.method === 'HEAD' ? undefined : req });
      res.writeHead(answer.statusCode, answer.headers);
      answer.body.pipe(res);
    } catch {
      res.writeHead(502).end();
    }
  });
  server.keepAliveTimeout = 65_000;
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`));
}

/**
 * The fixed-rate client: request i is due at start + i / rate; a 1 ms timer sends every request
 * that is due, and its latency runs from when it was due to when its answer ended. The first
 * `warmUpMs` are sent but not counted. Tells the parent when the counted part starts and ends.
 */
async function runOpenLoop({ url, rate, durationMs, warmUpMs }) {
  const target = new URL(url);
  const pool = new Pool(target.origin, { connections: 256, keepAliveTimeout: 30_000 });
  const path = `${target.pathname}${target.search}`;
  const intervalMs = 1000 / rate;
  const total = Math.round(((warmUpMs + durationMs) / 1000) * rate);
  const counted = Math.round((durationMs / 1000) * rate);
  const latencies = new Float64Array(counted);
  let errors = 0;
  let answered = 0;
  const start = monotonicMs() + 10;
  const countFrom = start + warmUpMs;
  let next = 0;
  let inFlight = 0;
  await new Promise((done) => {
    const send = (i) => {
      const due = start + i * intervalMs;
      inFlight++;
      pool
        .request({ path, method: 'GET' })
        .then(async (response) => {
          await response.body.dump();
          if (response.statusCode !== 200) throw new Error(`status ${response.statusCode}`);
        })
        .catch(() => due >= countFrom && errors++)
        .finally(() => {
          const ended = monotonicMs();
          if (due >= countFrom) latencies[answered++] = ended - due;
          inFlight--;
          if (next === total && inFlight === 0) done();
        });
    };
    let measuring = false;
    const timer = setInterval(() => {
      const now = monotonicMs();
      if (!measuring && now >= countFrom) {
        measuring = true;
        process.send({ type: 'measuring' });
      }
      while (next < total && start + next * intervalMs <= now) send(next++);
      if (next === total) clearInterval(timer);
    }, 1);
  });
  const measured = latencies.subarray(0, answered);
  process.send({ type: 'done', result: { requests: answered, errors, p50: percentile(measured, 50), p99: percentile(measured, 99), max: Math.max(...measured), seconds: durationMs / 1000 } });
  await pool.close();
  process.exit(0);
}

async function runBenchmark() {
  const options = readOptions({
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
    duration: { type: 'string', default: '10s' },
    rate: { type: 'string', default: '1000' },
    'fixed-duration': { type: 'string', default: '10s' },
    upstream: { type: 'string', default: 'nginx' },
    'trace-sampling': { type: 'string' },
  });
  const rounds = Number(options.rounds);
  const connections = Number(options.connections);
  const durationS = seconds(options.duration);
  const rate = Number(options.rate);
  const fixedDurationS = seconds(options['fixed-duration']);
  if (!['nginx', 'node'].includes(options.upstream)) throw new Error(`--upstream=${options.upstream}: use nginx or node`);

  ensureDebianPackages([
    { name: 'nginx', binary: NGINX },
    { name: 'wrk', binary: WRK },
  ]);
  // Core 1 for the proxy under test, core 0 for everything else (this process included).
  const pinned = cpus().length >= 2 && pinning('0').length > 0;
  const loadCores = pinned ? '0' : undefined;
  const proxyCores = pinned ? '1' : undefined;
  if (pinned) execFileSync('taskset', ['-apc', '0', String(process.pid)], { stdio: 'ignore' });

  const scratch = mkdtempSync(join(tmpdir(), 'portolan-dataplane-'));
  const stops = [];
  try {
    const upstream = options.upstream === 'nginx' ? await startNginx(scratch, 'upstream', loadCores, (port) => upstreamConfig(port)) : await startNodeUpstream(loadCores);
    stops.push(upstream.stop);

    const otlp = options['trace-sampling'] === undefined ? undefined : await startOtlpSink();
    if (otlp) stops.push(otlp.stop);

    const controlPlane = await startControlPlane({ cpus: loadCores });
    stops.push(controlPlane.stop);
    const endpoint = { address: '127.0.0.1', port: upstream.port };
    await controlPlane.apply({ kind: 'Service', metadata: { name: 'plain' }, spec: { ports: [{ port: endpoint.port }], endpoints: [endpoint] } });
    await controlPlane.apply({ kind: 'Service', metadata: { name: 'guarded' }, spec: { ports: [{ port: endpoint.port }], endpoints: [endpoint] } });
    await controlPlane.apply({ kind: 'Route', metadata: { name: 'plain' }, spec: { match: { pathPrefix: '/plain' }, backendRef: { name: 'plain' } } });
    await controlPlane.apply({ kind: 'Route', metadata: { name: 'guarded' }, spec: { match: { pathPrefix: '/guarded' }, backendRef: { name: 'guarded' } } });
    const guarded = { kind: 'Service', name: 'guarded' };
    await controlPlane.apply({ kind: 'RateLimitPolicy', metadata: { name: 'guarded' }, spec: { targetRef: guarded, key: { type: 'clientIP' }, limits: [{ name: 'per-second', requests: 1_000_000_000, interval: '1s' }] } });
    await controlPlane.apply({ kind: 'RetryPolicy', metadata: { name: 'guarded' }, spec: { targetRef: guarded, attempts: 3 } });
    await controlPlane.apply({ kind: 'CircuitBreakerPolicy', metadata: { name: 'guarded' }, spec: { targetRef: guarded, errorRate: { minimumRequests: 20 }, connectionLimits: { maxConcurrentRequests: 1000 }, outlierDetection: { consecutive5xx: 5 } } });
    const last = await controlPlane.apply({ kind: 'TimeoutPolicy', metadata: { name: 'guarded' }, spec: { targetRef: guarded, requestTimeout: '5s' } });

    const tracingArgs = otlp ? ['--otlp-endpoint', otlp.url, '--trace-sampling', options['trace-sampling']] : [];
    const gateway = await startGateway(controlPlane, { name: 'bench-gateway', cpus: proxyCores, args: tracingArgs });
    stops.push(gateway.stop);
    await gatewayAtRevision(gateway, Number(last.metadata.resourceVersion));

    const proxy = await startNginx(scratch, 'proxy', proxyCores, (port) => proxyConfig(port, upstream.port));
    stops.push(proxy.stop);
    const floor = await startNodeUpstream(proxyCores, 'dataplane-node-floor', { PORTOLAN_BENCH_UPSTREAM_PORT: String(upstream.port) });
    stops.push(floor.stop);

    const paths = [
      { key: 'direct', label: '(a) direct to the upstream', url: `http://127.0.0.1:${upstream.port}/plain`, pids: () => upstream.pids() },
      { key: 'gateway', label: '(b) through the gateway, no policy', url: `${gateway.proxyUrl}/plain`, pids: () => [gateway.pid] },
      { key: 'policies', label: '(c) through the gateway, rate limit + retry + breaker + timeout', url: `${gateway.proxyUrl}/guarded`, pids: () => [gateway.pid] },
      { key: 'nginx', label: '(d) through nginx (reverse proxy, 1 worker)', url: `http://127.0.0.1:${proxy.port}/plain`, pids: () => proxy.pids() },
      { key: 'floor', label: '(e) through the smallest Node proxy (node:http + undici, no policy)', url: `http://127.0.0.1:${floor.port}/plain`, pids: () => floor.pids() },
    ];
    for (const path of paths) {
      const check = await fetch(path.url);
      if (check.status !== 200 || (await check.text()) !== BODY) throw new Error(`${path.label}: ${path.url} did not answer the upstream's body`);
      await wrk(path.url, 2, loadCores, connections);
    }

    const saturation = new Map(paths.map((path) => [path.key, []]));
    const fixed = new Map(paths.map((path) => [path.key, []]));
    for (let round = 1; round <= rounds; round++) {
      for (const path of paths) {
        const from = treeUsage(path.pids());
        const result = await wrk(path.url, durationS, loadCores, connections);
        result.vcpu = vcpuBetween(from, treeUsage(path.pids()));
        saturation.get(path.key).push(result);
        process.stdout.write(`round ${round} saturated  ${path.label}: ${thousands(result.requestsPerSecond)} req/s, p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms, server CPU ${result.vcpu.toFixed(2)}${result.errors ? `, ${result.errors} errors` : ''}\n`);
      }
      for (const path of paths) {
        const result = await openLoop(path, rate, fixedDurationS, loadCores);
        fixed.get(path.key).push(result);
        process.stdout.write(
          `round ${round} ${rate} rps ${path.label}: ${thousands(result.requests / result.seconds)} req/s answered, p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms, max ${result.max.toFixed(1)} ms, ` +
            `server CPU ${result.vcpu.toFixed(3)}, RSS ${mib(result.rssBytes).toFixed(0)} MB${result.errors ? `, ${result.errors} errors` : ''}\n`,
        );
      }
    }
    report(paths, saturation, fixed, { rounds, connections, durationS, rate, fixedDurationS, pinned, upstream: options.upstream, otlp, traceSampling: options['trace-sampling'], append: options.append });
  } finally {
    for (const stop of stops.reverse()) await stop().catch((error) => process.stdout.write(`cleanup: ${error.message}\n`));
    rmSync(scratch, { recursive: true, force: true });
  }
}

function report(paths, saturation, fixed, settings) {
  const med = (results, pick) => median(results.map(pick));
  const row = (path) => {
    const s = saturation.get(path.key);
    const f = fixed.get(path.key);
    const errors = (results) => {
      const count = results.reduce((total, r) => total + r.errors, 0);
      return count ? ` (${thousands(count)} errors)` : '';
    };
    return [
      path.label,
      `${thousands(med(s, (r) => r.requestsPerSecond))} req/s${errors(s)}`,
      `${med(s, (r) => r.p50).toFixed(2)} / ${med(s, (r) => r.p99).toFixed(2)} ms`,
      med(s, (r) => r.vcpu).toFixed(2),
      `${med(f, (r) => r.p50).toFixed(2)} / ${med(f, (r) => r.p99).toFixed(2)} ms${errors(f)}`,
      `${med(f, (r) => r.vcpu).toFixed(3)} vCPU, ${mib(med(f, (r) => r.rssBytes)).toFixed(0)} MB`,
    ];
  };
  const results = markdownTable(
    ['path', `saturated: req/s (wrk, ${settings.connections} connections, ${settings.durationS} s)`, 'saturated: p50 / p99', 'saturated: server CPU', `at ${thousands(settings.rate)} rps (open loop, ${settings.fixedDurationS} s): p50 / p99`, `at ${thousands(settings.rate)} rps: server CPU, RSS`],
    paths.map(row),
  );
  // The same four figures for the gateway with its policies and for the smallest Node proxy (e),
  // side by side: where the gateway misses a target and the floor misses it too, Node's HTTP stack
  // is what limits it, not the gateway's own work.
  const figures = (key) => {
    const s = saturation.get(key);
    const f = fixed.get(key);
    return {
      ratio: med(s, (r) => r.requestsPerSecond) / med(saturation.get('nginx'), (r) => r.requestsPerSecond),
      addedP99: med(f, (r) => r.p99) - med(fixed.get('direct'), (r) => r.p99),
      cpuPerThousand: med(f, (r) => r.vcpu) / (settings.rate / 1000),
      rssPerThousand: mib(med(f, (r) => r.rssBytes)) / (settings.rate / 1000),
    };
  };
  const gateway = figures('policies');
  const floor = figures('floor');
  const percent = (value) => `${(value * 100).toFixed(0)} %`;
  const msText = (v) => `${v.toFixed(2)} ms`;
  const vcpuText = (v) => `${v.toFixed(3)} vCPU`;
  const mbText = (v) => `${v.toFixed(0)} MB`;
  const targets = markdownTable(
    ['', 'gateway with the four policies (c)', 'smallest Node proxy (e)', 'target, for the gateway'],
    [
      ['saturated req/s, as a share of nginx', percent(gateway.ratio), percent(floor.ratio), verdict(gateway.ratio, 0.6, { atMost: false, format: percent, formatGap: (gap) => `${(gap * 100).toFixed(0)} percentage points` })],
      [`p99 added over direct at ${thousands(settings.rate)} rps`, msText(gateway.addedP99), msText(floor.addedP99), verdict(gateway.addedP99, 1, { format: msText })],
      ['CPU per 1,000 rps', vcpuText(gateway.cpuPerThousand), vcpuText(floor.cpuPerThousand), verdict(gateway.cpuPerThousand, 0.1, { format: vcpuText })],
      ['RSS per 1,000 rps (the whole process)', mbText(gateway.rssPerThousand), mbText(floor.rssPerThousand), verdict(gateway.rssPerThousand, 40, { format: mbText })],
    ],
  );
  const traces = settings.otlp
    ? ` The gateway exported spans at sampling ${settings.traceSampling} to a sink in the benchmark process (${settings.otlp.received().requests} exports, ${mib(settings.otlp.received().bytes).toFixed(1)} MiB).`
    : ' The gateway exported no spans.';
  publish({
    title: 'The data path (`tools/bench/dataplane.bench.mjs`)',
    description:
      `${settings.upstream === 'nginx' ? 'nginx (1 worker) answering' : 'A Node server answering'} a ${BODY.length}-byte JSON body as the upstream of all five paths; the nginx proxy keeps ` +
      `64 idle keep-alive connections to it. ${settings.pinned ? 'Gateway, nginx proxy and the smallest Node proxy pinned to core 1, load tools, upstream, control plane and benchmark to core 0. ' : 'Nothing pinned (fewer than 2 cores). '}` +
      `Rounds alternate the paths; each cell is the median of ${settings.rounds} round${settings.rounds === 1 ? '' : 's'}. Saturation: wrk (closed loop, 1 thread). Fixed rate: an open-loop ` +
      'undici client in its own process, each request scheduled on a timer, latency from its scheduled send time (no coordinated omission). ' +
      'Server CPU: utime + stime from /proc of the gateway, of nginx (master and worker), of the smallest Node proxy or of the upstream, over the run; RSS: VmRSS at its end. ' +
      'The smallest Node proxy (e) is a node:http server handing each request to an undici Pool and piping the answer back, with nothing of the gateway\'s own: the floor of the stack the gateway is built on.' +
      traces,
    body: `${results}\n\n${targets}`,
    append: settings.append,
  });
}

async function wrk(url, durationSeconds, cores, connections) {
  const output = await run([...pinning(cores), WRK, '-t1', `-c${connections}`, `-d${durationSeconds}s`, '--latency', url]);
  const time = (text) => {
    const [, value, unit] = /^([\d.]+)(us|ms|s)$/.exec(text);
    return Number(value) * { us: 0.001, ms: 1, s: 1000 }[unit];
  };
  const requestsPerSecond = Number(/^Requests\/sec:\s+([\d.]+)/m.exec(output)?.[1]);
  if (!(requestsPerSecond > 0)) throw new Error(`wrk printed no request rate:\n${output}`);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  return {
    requestsPerSecond,
    p50: time(/^\s+50%\s+(\S+)/m.exec(output)[1]),
    p99: time(/^\s+99%\s+(\S+)/m.exec(output)[1]),
    errors: Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0) + (socketErrors ? socketErrors.slice(1).reduce((total, n) => total + Number(n), 0) : 0),
  };
}

/** The open-loop client in its own process; CPU and RSS of the path's server over the counted part. */
async function openLoop(path, rate, durationSeconds, cores) {
  const [launcher, ...args] = [...pinning(cores), process.execPath, fileURLToPath(import.meta.url)];
  const child = spawn(launcher, args, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, PORTOLAN_BENCH_ROLE: 'dataplane-open-loop', PORTOLAN_BENCH_OPEN_LOOP: JSON.stringify({ url: path.url, rate, durationMs: durationSeconds * 1000, warmUpMs: 2_000 }) },
  });
  let from;
  let to;
  const result = await new Promise((resolve, reject) => {
    child.on('message', (message) => {
      if (message.type === 'measuring') from = treeUsage(path.pids());
      if (message.type === 'done') {
        to = treeUsage(path.pids());
        resolve(message.result);
      }
    });
    child.on('exit', (code) => code !== 0 && reject(new Error(`the open-loop client exited with ${code}`)));
  });
  return { ...result, vcpu: vcpuBetween(from, to), rssBytes: to.rssBytes };
}

function run(command) {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('exit', (code) => (code === 0 ? resolve(output) : reject(new Error(`${command.join(' ')} exited with ${code}:\n${output}`))));
  });
}

function upstreamConfig(port) {
  return `
    server {
      listen 127.0.0.1:${port};
      default_type application/json;
      location / { return 200 '${BODY}'; }
    }`;
}

function proxyConfig(port, upstreamPort) {
  return `
    upstream backend {
      server 127.0.0.1:${upstreamPort};
      keepalive 64;
    }
    server {
      listen 127.0.0.1:${port};
      location / {
        proxy_pass http://backend;
        proxy_http_version 1.1;
        proxy_set_header Connection "";
      }
    }`;
}

/**
 * nginx in the foreground as the current user (as root its worker would otherwise switch to
 * nobody), 1 worker, everything it writes under `scratch/name`.
 */
async function startNginx(scratch, name, cores, servers) {
  const dir = join(scratch, name);
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const temp = (what) => `${what}_temp_path ${join(dir, what)};`;
  writeFileSync(
    join(dir, 'nginx.conf'),
    `worker_processes 1;
${process.getuid?.() === 0 ? 'user root;\n' : ''}pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp).join('\n  ')}
  ${servers(port)}
}
`,
  );
  const [launcher, ...args] = [...pinning(cores), NGINX, '-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log'), '-g', 'daemon off;'];
  const child = spawn(launcher, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise((done) => child.on('exit', done));
  await waitFor(`nginx (${name}) to listen`, async () => {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}${readFileSync(join(dir, 'error.log'), 'utf8')}`);
    return (await fetch(`http://127.0.0.1:${port}/`).catch(() => undefined))?.status !== undefined;
  });
  return {
    port,
    pids: () => processTree(child.pid),
    async stop() {
      child.kill('SIGQUIT');
      await exited;
    },
  };
}

async function startNodeUpstream(cores, role = 'dataplane-upstream', env = {}) {
  const [launcher, ...args] = [...pinning(cores), process.execPath, fileURLToPath(import.meta.url)];
  const child = spawn(launcher, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env, PORTOLAN_BENCH_ROLE: role } });
  const exited = new Promise((done) => child.on('exit', done));
  const port = await new Promise((resolve) => child.stdout.once('data', (chunk) => resolve(JSON.parse(chunk).port)));
  return {
    port,
    pids: () => [child.pid],
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function startOtlpSink() {
  const received = { requests: 0, bytes: 0 };
  const server = createServer((req, res) => {
    received.requests++;
    req.on('data', (chunk) => (received.bytes += chunk.length));
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
  });
  await new Promise((done) => server.listen(0, '127.0.0.1', done));
  return {
    url: `http://127.0.0.1:${server.address().port}/v1/traces`,
    received: () => received,
    stop: () => new Promise((done) => server.close(done)),
  };
}

function freePort() {
  const server = createServer();
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    server.close(() => resolve(port));
  }));
}

function seconds(text) {
  const match = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(text);
  if (!match) throw new Error(`${text} is not a duration like 10s`);
  return Number(match[1]) / (match[2] === 'ms' ? 1000 : 1);
}
