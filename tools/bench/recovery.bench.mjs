#!/usr/bin/env node
// Recovery: failover RTO and autoscale reaction time, --trials trials each, every part real
// (the built control plane and gateways as processes, upstreams in this process), set up as
// apps/local-mesh/test/failover.e2e.spec.ts and autoscaling.e2e.spec.ts do.
//
// Failover: a checkout service with one registered instance per zone (zone-a, zone-b, zone-c), a
// FailoverPolicy with zone-a first (priority 0) and zone-b, zone-c next; gateways edge-a-1, edge-a-2,
// edge-b-1, edge-c-1. Traffic for zone-a every 10 ms from a client that follows the registry like a
// zone-aware load balancer: zone-a's routable gateways while there are any, else every routable
// gateway; it does not retry. Two scenarios, each trial from a steady state where zone-a's traffic
// is served in zone-a:
//   - "endpoints": zone-a's instance dies (its server closes, its heartbeats stop);
//   - "zone": zone-a's instance and both zone-a gateways die (SIGKILL).
// RTO: from the kill to the first successful response served by another zone's instance; also the
// requests that failed (sent after the kill, answered 5xx or not at all, until 3 s passed without a
// failure) and when the policy status showed zone-a FailedOver. After each trial zone-a comes back
// and the bench waits for the failback.
//
// Autoscale: two gateways in pool edge, zone-a, an upstream answering in 2 ms, an AutoscalePolicy
// (Local scaler, P99 latency target 150 ms over --window, 2 to 4 gateways, no stabilization) and
// 40 requests/s over the pool's routable gateways. Each trial steps the upstream to 400 ms (so the
// first request after the step is already slower than the target) and measures from the step to
// the autoscaler's ScaledUp decision: the evaluation that decided it (its event's time, which is
// truncated to whole seconds, plus 1 s: an upper bound), and the control plane's log record of the
// decision (milliseconds; written once the Local scaler has started the gateways). Then latency
// falls back, and the next trial waits for the ScaledDown and a whole window of fast requests.
//
// Run after `npm run build`:
//   node tools/bench/recovery.bench.mjs [--trials=5] [--heartbeat-interval=1s] [--node-ttl=3s]
//        [--failover-for=1s] [--failback=2s] [--window=10s] [--autoscale-interval=1s] [--append]
import { createServer } from 'node:http';
import { join } from 'node:path';
import { AgentClient } from '@portolan/agent-client';
import { Agent, request } from 'undici';
import { markdownTable, median, monotonicMs, ms, publish, readOptions, REPO_ROOT, sleep, startControlPlane, startGateway, verdict, waitFor } from './bench-kit.mjs';

const options = readOptions({
  trials: { type: 'string', default: '5' },
  'heartbeat-interval': { type: 'string', default: '1s' },
  'node-ttl': { type: 'string', default: '3s' },
  'failover-for': { type: 'string', default: '1s' },
  failback: { type: 'string', default: '2s' },
  window: { type: 'string', default: '10s' },
  'autoscale-interval': { type: 'string', default: '1s' },
});
const trials = Number(options.trials);
const settings = `heartbeat interval ${options['heartbeat-interval']}, node TTL ${options['node-ttl']}`;

/** An upstream in this process that names itself in every answer, after `delayMs`. */
async function startUpstream(name) {
  const upstream = { name, delayMs: 0, port: 0 };
  const server = createServer((req, res) => {
    req.resume();
    const answer = () => {
      const body = JSON.stringify({ upstream: name });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (upstream.delayMs > 0) setTimeout(answer, upstream.delayMs);
    else answer();
  });
  await new Promise((done) => server.listen(0, '127.0.0.1', done));
  upstream.port = server.address().port;
  upstream.close = () => {
    server.closeAllConnections();
    return new Promise((done) => server.close(done));
  };
  return upstream;
}

/**
 * Open-loop traffic the way a load balancer following the registry sends it: every `everyMs`, one
 * request to the next of the gateways `choose` picks from the routable ones that applied a
 * configuration, listed every 250 ms. Every outcome is kept (times on the monotonic clock).
 */
class RegistryLoad {
  outcomes = [];
  targets = [];
  next = 0;
  agent = new Agent({ keepAliveTimeout: 4_000, connections: 64 });

  constructor(controlPlane, { path, everyMs, choose }) {
    Object.assign(this, { controlPlane, path, everyMs, choose });
  }

  async start() {
    await this.refresh();
    this.refreshTimer = setInterval(() => void this.refresh().catch(() => undefined), 250);
    this.sendTimer = setInterval(() => this.send(), this.everyMs);
  }

  async stop() {
    clearInterval(this.refreshTimer);
    clearInterval(this.sendTimer);
    await sleep(1_000);
    await this.agent.destroy();
  }

  failures(since) {
    return this.outcomes.filter((outcome) => outcome.sentAt >= since && (outcome.status === 0 || outcome.status >= 500));
  }

  async refresh() {
    const nodes = (await this.controlPlane.get('gatewaynodes')).items;
    const routable = nodes.filter((node) => ['Healthy', 'Degraded'].includes(node.status?.phase) && node.status.appliedRevision !== undefined);
    this.targets = this.choose(routable).map((node) => ({ name: node.metadata.name, url: `http://${node.spec.address}` })).sort((a, b) => a.name.localeCompare(b.name));
  }

  send() {
    if (this.targets.length === 0) return;
    const target = this.targets[this.next++ % this.targets.length];
    const sentAt = monotonicMs();
    request(`${target.url}${this.path}`, { dispatcher: this.agent, headersTimeout: 30_000, bodyTimeout: 30_000 })
      .then(async (response) => {
        const text = await response.body.text();
        const upstream = response.statusCode === 200 ? JSON.parse(text).upstream : undefined;
        this.outcomes.push({ sentAt, endedAt: monotonicMs(), gateway: target.name, status: response.statusCode, upstream });
      })
      .catch(() => this.outcomes.push({ sentAt, endedAt: monotonicMs(), gateway: target.name, status: 0 }));
  }
}

const routable = (node) => ['Healthy', 'Degraded'].includes(node.status?.phase);

async function failover() {
  const controlPlane = await startControlPlane({ env: { PORTOLAN_HEARTBEAT_INTERVAL: options['heartbeat-interval'], PORTOLAN_NODE_TTL: options['node-ttl'] } });
  const upstreams = new Map();
  const agents = new Map();
  let gateways = [];
  let load;
  try {
    await controlPlane.apply({ kind: 'Service', metadata: { name: 'checkout' }, spec: { ports: [{ port: 8080 }] } });
    await controlPlane.apply({ kind: 'Route', metadata: { name: 'checkout' }, spec: { match: { pathPrefix: '/checkout' }, backendRef: { name: 'checkout' } } });
    await controlPlane.apply({
      kind: 'FailoverPolicy',
      metadata: { name: 'checkout-failover' },
      spec: {
        targetRef: { kind: 'Service', name: 'checkout' },
        zones: [{ name: 'zone-a', priority: 0 }, { name: 'zone-b', priority: 1 }, { name: 'zone-c', priority: 1 }],
        unhealthyWhen: { healthyEndpointsBelowPercent: 50, for: options['failover-for'] },
        failback: { healthyFor: options.failback },
      },
    });
    /** An instance of checkout in `zone` that registers and heartbeats, as a service would. */
    const startInstance = async (zone) => {
      const upstream = await startUpstream(`checkout-${zone}`);
      const agent = new AgentClient({
        controlPlaneUrl: controlPlane.apiUrl,
        caPem: controlPlane.caPem,
        bootstrapToken: controlPlane.bootstrapToken,
        registration: { role: 'instance', name: `checkout-${zone}`, service: { namespace: 'default', name: 'checkout' }, zone, address: '127.0.0.1', port: upstream.port },
      });
      await agent.start();
      upstreams.set(zone, upstream);
      agents.set(zone, agent);
    };
    /** A crash: the server goes away and the heartbeats stop; nothing deregisters. */
    const killInstance = async (zone) => {
      await agents.get(zone).stop();
      await upstreams.get(zone).close();
    };
    const zoneAGateways = () => Promise.all(['edge-a-1', 'edge-a-2'].map((name) => startGateway(controlPlane, { name, zone: 'zone-a' })));
    for (const zone of ['zone-a', 'zone-b', 'zone-c']) await startInstance(zone);
    gateways = [...(await zoneAGateways()), await startGateway(controlPlane, { name: 'edge-b-1', zone: 'zone-b' }), await startGateway(controlPlane, { name: 'edge-c-1', zone: 'zone-c' })];

    load = new RegistryLoad(controlPlane, {
      path: '/checkout',
      everyMs: 10,
      choose: (nodes) => {
        const local = nodes.filter((node) => node.spec.zone === 'zone-a');
        return local.length > 0 ? local : nodes;
      },
    });
    await load.start();
    const zoneAState = async () => (await controlPlane.get('FailoverPolicy', 'checkout-failover')).status?.zones?.find((z) => z.zone === 'zone-a')?.state ?? 'Healthy';
    const steady = () =>
      waitFor('zone-a to serve its own traffic', async () => {
        const now = monotonicMs();
        const recent = load.outcomes.filter((outcome) => outcome.sentAt >= now - 1_000);
        return recent.length >= 50 && recent.every((outcome) => outcome.status === 200 && outcome.upstream === 'checkout-zone-a') && (await zoneAState()) === 'Healthy';
      }, Boolean, { timeoutMs: 120_000, intervalMs: 200 });

    const results = {};
    for (const scenario of ['endpoints', 'zone']) {
      results[scenario] = [];
      for (let trial = 1; trial <= trials; trial++) {
        await steady();
        const killedAt = monotonicMs();
        const kills = [killInstance('zone-a')];
        if (scenario === 'zone') kills.push(...gateways.filter((g) => g.name.startsWith('edge-a-')).map((g) => g.kill()));
        await Promise.all(kills);
        const failedOver = waitFor('zone-a FailedOver in the status', zoneAState, (state) => state === 'FailedOver', { timeoutMs: 60_000, intervalMs: 100 }).then(() => monotonicMs() - killedAt);
        const served = await waitFor('a response from another zone', () => load.outcomes.find((o) => o.sentAt >= killedAt && o.status === 200 && o.upstream !== 'checkout-zone-a'), Boolean, { timeoutMs: 60_000, intervalMs: 5 });
        await waitFor('3 s without a failed request', () => monotonicMs() - Math.max(served.endedAt, ...load.failures(killedAt).map((o) => o.endedAt)), (quiet) => quiet >= 3_000, { timeoutMs: 60_000, intervalMs: 100 });
        const failures = load.failures(killedAt);
        const result = { rto: served.endedAt - killedAt, failed: failures.length, sent: load.outcomes.filter((o) => o.sentAt >= killedAt).length, lastFailure: failures.length ? Math.max(...failures.map((o) => o.endedAt)) - killedAt : 0, failedOver: await failedOver };
        results[scenario].push(result);
        process.stdout.write(`failover (${scenario}) trial ${trial}: RTO ${ms(result.rto)}, ${result.failed} failed requests (last at ${ms(result.lastFailure)}), FailedOver in status after ${ms(result.failedOver, 0)}\n`);

        await startInstance('zone-a');
        if (scenario === 'zone') {
          const [a1, a2] = await zoneAGateways();
          gateways = [a1, a2, ...gateways.filter((g) => !g.name.startsWith('edge-a-'))];
        }
        await waitFor('zone-a to fail back', zoneAState, (state) => state === 'Healthy', { timeoutMs: 120_000, intervalMs: 200 });
      }
    }
    return results;
  } finally {
    await load?.stop();
    for (const agent of agents.values()) await agent.stop().catch(() => undefined);
    for (const upstream of upstreams.values()) await upstream.close().catch(() => undefined);
    await Promise.all(gateways.map((gateway) => gateway.kill()));
    await controlPlane.stop();
  }
}

async function autoscale() {
  const windowS = Number(options.window.replace(/s$/, ''));
  const targetMs = 150;
  const decisions = [];
  const controlPlane = await startControlPlane({
    env: {
      PORTOLAN_LOG_LEVEL: 'info',
      PORTOLAN_AUTOSCALE_INTERVAL: options['autoscale-interval'],
      PORTOLAN_HEARTBEAT_INTERVAL: options['heartbeat-interval'],
      PORTOLAN_NODE_TTL: options['node-ttl'],
      PORTOLAN_LOCAL_SCALER_GATEWAY: join(REPO_ROOT, 'apps/gateway/dist/main.js'),
      PORTOLAN_LOCAL_SCALER_GATEWAY_ARGS: '--propagation-wait 5s --drain-timeout 10s',
    },
    // The autoscaler logs each decision as it records it, at the millisecond.
    onLine: (line) => {
      if (!line.startsWith('{') || !line.includes('"reason":"Scaled')) return;
      const record = JSON.parse(line);
      if (record.policy === 'default/edge-zone-a') decisions.push({ reason: record.reason, at: Date.parse(record.time), desired: record.desiredReplicas });
    },
  });
  const upstream = await startUpstream('shop');
  upstream.delayMs = 2;
  let gateways = [];
  let load;
  try {
    await controlPlane.apply({ kind: 'Service', metadata: { name: 'shop' }, spec: { ports: [{ port: upstream.port }], endpoints: [{ address: '127.0.0.1', port: upstream.port, zone: 'zone-a' }] } });
    await controlPlane.apply({ kind: 'Route', metadata: { name: 'shop' }, spec: { match: { pathPrefix: '/shop' }, backendRef: { name: 'shop' } } });
    gateways = [await startGateway(controlPlane, { name: 'edge-a-1', zone: 'zone-a' }), await startGateway(controlPlane, { name: 'edge-a-2', zone: 'zone-a' })];
    load = new RegistryLoad(controlPlane, { path: '/shop', everyMs: 25, choose: (nodes) => nodes.filter((node) => node.spec.pool === 'edge' && node.spec.zone === 'zone-a') });
    await load.start();
    await controlPlane.apply({
      kind: 'AutoscalePolicy',
      metadata: { name: 'edge-zone-a' },
      spec: {
        target: { pool: 'edge', zone: 'zone-a' },
        scaler: { type: 'Local' },
        metric: { latency: { statistic: 'P99', target: `${targetMs}ms` }, window: options.window },
        minReplicas: 2,
        maxReplicas: 4,
        behavior: {
          scaleUp: { stabilizationWindow: '0s', policies: [{ type: 'Pods', value: 2, period: '5s' }] },
          scaleDown: { stabilizationWindow: '0s', policies: [{ type: 'Pods', value: 2, period: '5s' }] },
        },
      },
    });
    const status = async () => (await controlPlane.get('AutoscalePolicy', 'edge-zone-a')).status;
    const poolSize = async () => (await controlPlane.get('gatewaynodes')).items.filter((node) => node.spec.pool === 'edge' && node.spec.zone === 'zone-a' && routable(node)).length;
    const results = [];
    for (let trial = 1; trial <= trials; trial++) {
      await waitFor('2 gateways and latency under target', status, (s) => s?.currentReplicas === 2 && s.desiredReplicas === 2 && s.metric?.value !== null && s.metric?.value < targetMs, { timeoutMs: 180_000, intervalMs: 250 });
      await waitFor('the pool to be 2 routable gateways', poolSize, (size) => size === 2, { timeoutMs: 60_000, intervalMs: 250 });
      const stepAt = Date.now();
      upstream.delayMs = 400;
      const decision = await waitFor('a ScaledUp decision', () => decisions.find((d) => d.reason === 'ScaledUp' && d.at >= stepAt), Boolean, { timeoutMs: 120_000, intervalMs: 20 });
      // The event's time is when the deciding evaluation began, in whole seconds (truncated).
      const events = (await controlPlane.call('GET', '/v1/events?kind=AutoscalePolicy&name=edge-zone-a&reason=ScaledUp')).body.items;
      const event = events.find((item) => Date.parse(item.time) >= Math.floor(stepAt / 1000) * 1000);
      const logged = decision.at - stepAt;
      const decided = event ? Math.min(Date.parse(event.time) + 1000, decision.at) - stepAt : logged;
      const result = { decided, logged, desired: decision.desired };
      results.push(result);
      process.stdout.write(`autoscale trial ${trial}: latency step -> ScaledUp (to ${result.desired}) decided within ${ms(decided, 0)} (event ${event?.time ?? 'not found'}), logged after ${ms(logged, 0)}\n`);

      upstream.delayMs = 2;
      const fellAt = Date.now();
      await waitFor('a ScaledDown decision', () => decisions.find((d) => d.reason === 'ScaledDown' && d.at >= fellAt), Boolean, { timeoutMs: 180_000, intervalMs: 100 });
      // The next trial starts once the window holds only fast requests again.
      await sleep((windowS + 2) * 1000);
    }
    return { results, windowS, targetMs };
  } finally {
    await load?.stop();
    await Promise.all(gateways.map((gateway) => gateway.kill()));
    await controlPlane.stop();
    await upstream.close();
  }
}

const failoverResults = await failover();
const autoscaleResults = await autoscale();

const summary = (values, format) => `${format(median(values))} / ${format(Math.max(...values))}`;
const seconds = (value) => `${(value / 1000).toFixed(2)} s`;
const rtoRow = (label, results) => [
  label,
  summary(results.map((r) => r.rto), seconds),
  summary(results.map((r) => r.failed), String),
  summary(results.map((r) => r.failedOver), seconds),
  `slowest trial ${verdict(Math.max(...results.map((r) => r.rto)), 3000, { format: seconds })}`,
];
const failoverTable = markdownTable(
  [`failover, median / max of ${trials} trials`, 'RTO', 'failed requests', 'zone-a FailedOver in the status', 'target'],
  [rtoRow("zone-a's instance dies (its gateways stay)", failoverResults.endpoints), rtoRow("zone-a's instance and both its gateways die", failoverResults.zone)],
);
const allowedMs = (autoscaleResults.windowS + 5) * 1000;
const reactions = autoscaleResults.results;
const autoscaleTable = markdownTable(
  [`autoscale, median / max of ${trials} trials`, 'decided (at most)', 'decision logged (gateways started)', 'target (window + 5 s)'],
  [
    [
      `latency step → ScaledUp (P99 target ${autoscaleResults.targetMs} ms, window ${options.window})`,
      summary(reactions.map((r) => r.decided), seconds),
      summary(reactions.map((r) => r.logged), seconds),
      `slowest trial ${verdict(Math.max(...reactions.map((r) => r.decided)), allowedMs, { format: seconds })}`,
    ],
  ],
);
publish({
  title: 'Recovery: failover RTO and autoscale reaction (`tools/bench/recovery.bench.mjs`)',
  description:
    `The built control plane and gateways as processes, ${settings}. Failover: one checkout instance per zone, gateways edge-a-1, edge-a-2, edge-b-1, ` +
    `edge-c-1, a FailoverPolicy (zone-a first; \`for: ${options['failover-for']}\`, \`healthyFor: ${options.failback}\`), a request for zone-a every 10 ms from a client that ` +
    "follows the registry like a zone-aware load balancer (zone-a's routable gateways while there are any, refreshed every 250 ms; no retries). " +
    'RTO: from the kill to the first successful answer from another zone; failed requests: sent after the kill and answered 5xx or not at all. ' +
    `Autoscale: 2 gateways (Local scaler, 2 to 4), 40 requests/s, evaluations every ${options['autoscale-interval']} (PORTOLAN_AUTOSCALE_INTERVAL; the default is 15 s), ` +
    'the upstream stepped from 2 ms to 400 ms. "Decided" is from the step to the evaluation that decided (its event\'s time, truncated to the ' +
    'second, plus 1 s, or the log record if earlier); "logged" to the autoscaler\'s log record of the decision, written once the Local scaler had started the gateways.',
  body: `${failoverTable}\n\n${autoscaleTable}`,
  append: options.append,
});
