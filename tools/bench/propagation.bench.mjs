#!/usr/bin/env node
// Policy propagation at scale: ONE control plane (apps/control-plane/dist/main.js, embedded store)
// and N simulated gateways speaking the agent protocol (docs/agent-protocol.md) over real sockets,
// half on the WebSocket stream and half on long-poll by default, in --workers child processes
// (this file, forked). Each simulated gateway registers with the bootstrap token, heartbeats at the
// interval the control plane gives it (with idle stats), opens its stream or long-polls, and ACKs
// every snapshot, as libs/agent-client does. It does not parse the whole snapshot: it reads
// version and revision from its start (WebSocket) or from ETag and X-Portolan-Revision (long-poll),
// so the simulation's CPU stays small next to the control plane's.
//
// For each of --writes changes of a mesh-wide RetryPolicy it measures, from the moment the API's
// answer to the write arrived: when the gateways received the snapshot, when the last one ACKed
// (WebSocket: the ACK frame handed to the socket; long-poll: the ACK POST answered, so recorded),
// and when the policy's status.rollout counted all N ACKed (polled once the agents reported every
// ACK sent, so an upper bound of the moment the last ACK arrived). Also the control plane's memory
// per 1,000 connected gateways (VmRSS with the gateways minus VmRSS before any registered) and its
// CPU (utime + stime from /proc) while idle with the gateways connected and during the writes.
//
// Clocks: every process reads CLOCK_MONOTONIC (process.hrtime), one clock for the whole machine,
// so times from the agent processes and this one need no offset; a ping through each worker
// checks that its reading falls inside the IPC round trip.
//
// Open files: like a real agent, each simulated gateway has its own keep-alive connection for its
// heartbeats and ACK POSTs beside its stream or held poll, so the control plane holds 2 sockets per
// gateway (21,024 files for 10,000). The bench raises `ulimit -n` when it may (root with
// CAP_SYS_RESOURCE). Where the limit still blocks a size (this container: 20,000, hard), each agent
// process sends its gateways' heartbeats and ACK POSTs over --shared-connections keep-alive
// connections instead, every request still carrying its own gateway's credential, so the control
// plane needs about one socket per gateway; the table says which sizes ran so. Their control-plane
// memory per gateway is lower than a real fleet's by one idle TLS connection each.
//
//   node tools/bench/propagation.bench.mjs [--gateways=1000,10000] [--writes=20]
//        [--transport=mixed|websocket|long-poll] [--workers=2] [--routes=50]
//        [--heartbeat-interval=auto|<duration>] [--register-concurrency=32]
//        [--heartbeat-connections=auto|own|shared] [--shared-connections=16] [--append]
import { fork } from 'node:child_process';
import { cpus } from 'node:os';
import { createSecureContext } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { backoffDelay, PROTOCOL_DEFAULTS } from '@portolan/agent-client';
import { Agent, request } from 'undici';
import WebSocket from 'ws';
import {
  ensureFileLimit,
  fileLimits,
  markdownTable,
  mib,
  monotonicMs,
  ms,
  numberList,
  percentile,
  processUsage,
  publish,
  readOptions,
  sleep,
  startControlPlane,
  thousands,
  vcpuBetween,
  verdict,
  waitFor,
} from './bench-kit.mjs';

const AGENTS_ROLE = 'propagation-agents';
/** Tries per simulated gateway to register and connect before it is counted as failed. */
const REGISTER_ATTEMPTS = 5;

if (process.env.PORTOLAN_BENCH_ROLE === AGENTS_ROLE) runAgents();
else await runBenchmark();

// ---------------------------------------------------------------------------------------------
// The simulated gateways of one worker process.
// ---------------------------------------------------------------------------------------------

function runAgents() {
  /** Times of the last few snapshots each gateway received. */
  const HISTORY = 4;
  const gateways = [];
  let settings;
  let stopping = false;
  const counts = { registered: 0, failedRegistrations: 0, heartbeatFailures: 0, streamErrors: 0, pollErrors: 0 };
  /** The revision the parent waits for, and how many of this worker's gateways have ACKed it or later. */
  let collecting;

  const idleStats = (periodMs) => ({
    periodMs,
    requests: 0,
    responses: { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 },
    errors: { rateLimited: 0, breakerOpen: 0, timeout: 0, connectFailure: 0, noRoute: 0, noEndpoint: 0 },
    retries: 0,
    latency: null,
    latencyHistogram: { counts: new Array(14).fill(0), sumMs: 0 },
    upstreamZones: [],
    services: [],
    breakers: [],
    ejectedEndpoints: [],
  });

  function record(gateway, revision, receivedAt, ackedAt) {
    gateway.history.push({ revision, receivedAt, ackedAt });
    if (gateway.history.length > HISTORY) gateway.history.shift();
    const before = gateway.ackedRevision;
    gateway.ackedRevision = Math.max(before, revision);
    if (collecting && before < collecting.revision && gateway.ackedRevision >= collecting.revision) {
      collecting.count++;
      if (collecting.count === gateways.length) finishCollect();
    }
  }

  function finishCollect() {
    const { revision } = collecting;
    collecting = undefined;
    const report = { websocket: { received: [], acked: [] }, 'long-poll': { received: [], acked: [] } };
    for (const gateway of gateways) {
      const entry = gateway.history.find((item) => item.revision >= revision);
      report[gateway.transport].received.push(entry.receivedAt);
      report[gateway.transport].acked.push(entry.ackedAt);
    }
    process.send({ type: 'collected', revision, report });
  }

  /** In shared mode, the keep-alive connections every gateway of this process heartbeats and ACKs over. */
  let shared;

  async function call(gateway, method, path, token, body) {
    const response = await request(`${settings.apiUrl}${path}`, {
      method,
      dispatcher: shared ?? gateway.http,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await response.body.text();
    if (response.statusCode >= 300) throw new Error(`${method} ${path.split('?')[0]}: ${response.statusCode} ${text.slice(0, 200)}`);
    return text ? JSON.parse(text) : undefined;
  }

  function heartbeat(gateway) {
    const intervalMs = gateway.heartbeatIntervalMs;
    const generation = gateway.generation;
    let last = Date.now();
    const beat = async () => {
      if (stopping || gateway.generation !== generation) return;
      const now = Date.now();
      try {
        await call(gateway, 'POST', `/agent/v1/nodes/${gateway.id}/heartbeat`, gateway.credential, { appliedRevision: gateway.ackedRevision, draining: false, stats: idleStats(now - last) });
      } catch {
        counts.heartbeatFailures++;
      }
      last = now;
      gateway.heartbeatTimer = setTimeout(beat, intervalMs * (0.9 + 0.2 * Math.random()));
    };
    gateway.heartbeatTimer = setTimeout(beat, intervalMs * (0.9 + 0.2 * Math.random()));
  }

  /** The WebSocket transport: the snapshot on connect and every new one; an ACK frame for each. */
  function openStream(gateway) {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(`${settings.apiUrl.replace(/^http/, 'ws')}/agent/v1/nodes/${gateway.id}/stream`, { secureContext: settings.secureContext, headers: { authorization: `Bearer ${gateway.credential}` } });
      gateway.socket = socket;
      socket.on('message', (data) => {
        const receivedAt = monotonicMs();
        const head = /"version":"([^"]+)","revision":(\d+)/.exec(data.toString('utf8', 0, 400));
        if (!head) return;
        const revision = Number(head[2]);
        socket.send(JSON.stringify({ type: 'ack', ack: { version: head[1], revision, status: 'ACK' } }));
        record(gateway, revision, receivedAt, monotonicMs());
      });
      // The agent pings too (PROTOCOL_DEFAULTS.pingIntervalMs); ws answers the control plane's pings.
      const pinger = setInterval(() => socket.readyState === WebSocket.OPEN && socket.ping(), 10_000);
      socket.once('open', resolve);
      socket.once('error', (error) => {
        counts.streamErrors++;
        reject(error);
      });
      socket.once('close', () => clearInterval(pinger));
    });
  }

  /**
   * The long-poll transport: ask for a snapshot other than the one held, POST the ACK, ask again.
   * A failed poll is tried again after the agent's backoff (libs/agent-client long-poll-sync.ts):
   * retrying every second instead kept thousands of connection attempts queued at a busy control
   * plane, each timing out and trying again.
   */
  async function longPoll(gateway) {
    let held;
    let attempt = 0;
    while (!stopping) {
      try {
        const query = held ? `?wait=30s&revision=${held.revision}` : '?wait=30s';
        const response = await request(`${settings.apiUrl}/agent/v1/nodes/${gateway.id}/snapshot${query}`, {
          dispatcher: gateway.http,
          headers: { authorization: `Bearer ${gateway.credential}`, ...(held ? { 'if-none-match': `"${held.version}"` } : {}) },
        });
        await response.body.arrayBuffer();
        if (response.statusCode !== 200 && response.statusCode !== 304) throw new Error(`long-poll answered ${response.statusCode}`);
        attempt = 0;
        if (response.statusCode === 304) continue;
        const receivedAt = monotonicMs();
        held = { version: String(response.headers.etag).replaceAll('"', ''), revision: Number(response.headers['x-portolan-revision']) };
        await call(gateway, 'POST', `/agent/v1/nodes/${gateway.id}/acks`, gateway.credential, { ...held, status: 'ACK' });
        record(gateway, held.revision, receivedAt, monotonicMs());
      } catch {
        if (stopping) return;
        counts.pollErrors++;
        await sleep(backoffDelay(attempt++, PROTOCOL_DEFAULTS.reconnectBaseMs, PROTOCOL_DEFAULTS.reconnectMaxMs, Math.random));
      }
    }
  }

  /** Stops what a failed start left running: heartbeats, stream, connections. */
  function abandon(gateway) {
    gateway.generation = (gateway.generation ?? 0) + 1;
    clearTimeout(gateway.heartbeatTimer);
    gateway.socket?.terminate();
    gateway.socket = undefined;
    void gateway.http?.destroy();
    gateway.http = undefined;
  }

  async function start(gateway) {
    // Its own connections: for everything in the default mode, for its held poll in shared mode.
    if (!shared || gateway.transport === 'long-poll') gateway.http = new Agent({ connect: { secureContext: settings.secureContext } });
    const node = await call(gateway, 'POST', '/agent/v1/register', settings.bootstrapToken, {
      role: 'gateway',
      name: gateway.name,
      zone: gateway.zone,
      pool: 'edge',
      address: gateway.address,
      version: 'bench',
    });
    Object.assign(gateway, { id: node.id, credential: node.credential, heartbeatIntervalMs: node.heartbeatIntervalMs });
    counts.registered++;
    heartbeat(gateway);
    if (gateway.transport === 'websocket') await openStream(gateway);
    else void longPoll(gateway);
  }

  process.on('message', async (message) => {
    if (message.type === 'start') {
      // One TLS context for every connection of the process, as one agent has: a context per
      // connection (what passing `ca` to each does) held most of a worker's memory at 10,000.
      settings = { ...message, secureContext: createSecureContext({ ca: message.caPem }) };
      if (message.sharedConnections > 0) shared = new Agent({ connect: { secureContext: settings.secureContext }, connections: message.sharedConnections });
      for (const spec of message.gateways) gateways.push({ ...spec, ackedRevision: 0, history: [] });
      const progress = setInterval(() => process.send({ type: 'progress', ...counts, synced: gateways.filter((g) => g.ackedRevision > 0).length }), 250);
      let next = 0;
      const registrar = async () => {
        while (next < gateways.length) {
          const gateway = gateways[next++];
          // As an agent does: a failed registration or connect is tried again after a jittered
          // backoff (registering again under the same name replaces the earlier registration).
          for (let attempt = 1; ; attempt++) {
            try {
              await start(gateway);
              break;
            } catch (error) {
              counts.failedRegistrations++;
              process.send({ type: 'error', message: `${gateway.name} (attempt ${attempt} of ${REGISTER_ATTEMPTS}): ${error.message}` });
              abandon(gateway);
              if (attempt === REGISTER_ATTEMPTS) break;
              await sleep(backoffDelay(attempt - 1, PROTOCOL_DEFAULTS.reconnectBaseMs, PROTOCOL_DEFAULTS.reconnectMaxMs, Math.random));
            }
          }
        }
      };
      await Promise.all(Array.from({ length: message.concurrency }, registrar));
      await waitFor('every gateway to ACK its first snapshot', () => gateways.every((g) => g.ackedRevision > 0), Boolean, { timeoutMs: 600_000, intervalMs: 100 });
      clearInterval(progress);
      process.send({ type: 'progress', ...counts, synced: gateways.length });
      process.send({ type: 'ready' });
    } else if (message.type === 'clock') {
      process.send({ type: 'clock', at: monotonicMs() });
    } else if (message.type === 'counts') {
      process.send({ type: 'counts', ...counts });
    } else if (message.type === 'collect') {
      collecting = { revision: message.revision, count: gateways.filter((g) => g.ackedRevision >= message.revision).length };
      if (collecting.count === gateways.length) finishCollect();
    } else if (message.type === 'stop') {
      stopping = true;
      for (const gateway of gateways) {
        clearTimeout(gateway.heartbeatTimer);
        gateway.socket?.terminate();
      }
      await Promise.all([...gateways.map((gateway) => gateway.http?.destroy()), shared?.destroy()]);
      process.exit(0);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// The benchmark: control plane, workers, writes, report.
// ---------------------------------------------------------------------------------------------

async function runBenchmark() {
  const options = readOptions({
    gateways: { type: 'string', default: '1000,10000' },
    writes: { type: 'string', default: '20' },
    transport: { type: 'string', default: 'mixed' },
    workers: { type: 'string', default: String(Math.max(2, cpus().length)) },
    routes: { type: 'string', default: '50' },
    'heartbeat-interval': { type: 'string', default: 'auto' },
    'register-concurrency': { type: 'string', default: '32' },
    'heartbeat-connections': { type: 'string', default: 'auto' },
    'shared-connections': { type: 'string', default: '16' },
  });
  const sizes = numberList(options.gateways);
  // auto: the default interval (2 s) up to 2,000 gateways, 10 s beyond. A fleet of 10,000
  // heartbeating every 2 s is 5,000 requests a second, more than these 2 cores answer beside the
  // rest; an operator of such a fleet lengthens the interval, as Consul's agents lengthen their
  // sync interval with the cluster's size.
  const heartbeatIntervalOf = (size) => (options['heartbeat-interval'] === 'auto' ? (size > 2_000 ? 10_000 : 2_000) : parseSeconds(options['heartbeat-interval']) * 1000);
  const writes = Number(options.writes);
  const workerCount = Number(options.workers);
  const routeCount = Number(options.routes);
  if (!['mixed', 'websocket', 'long-poll'].includes(options.transport)) throw new Error(`--transport=${options.transport}: use mixed, websocket or long-poll`);

  if (!['auto', 'own', 'shared'].includes(options['heartbeat-connections'])) throw new Error(`--heartbeat-connections=${options['heartbeat-connections']}: use auto, own or shared`);
  const sharedConnections = Number(options['shared-connections']);
  // The control plane's files: with their own connections, two sockets per gateway (its stream or
  // held poll, and its heartbeats' keep-alive connection); shared, one per gateway and the pools.
  // Plus its own files.
  const filesNeeded = (size, mode) => (mode === 'own' ? 2 * size : size + workerCount * sharedConnections) + 1_024;
  const largest = Math.max(...sizes);
  const limit = ensureFileLimit(filesNeeded(largest, options['heartbeat-connections'] === 'shared' ? 'shared' : 'own'));
  const fits = (size, mode) => limit.ok || filesNeeded(size, mode) <= limit.soft;
  const results = [];
  for (const size of sizes) {
    const mode = options['heartbeat-connections'] === 'auto' ? (fits(size, 'own') ? 'own' : 'shared') : options['heartbeat-connections'];
    if (!fits(size, mode)) {
      process.stdout.write(`skipping ${thousands(size)} gateways: ${limit.message}\n`);
      results.push({ size, skipped: limit.message });
      continue;
    }
    if (mode === 'shared' && options['heartbeat-connections'] === 'auto') {
      process.stdout.write(`${thousands(size)} gateways: ${limit.message.replace(/^the open-file limit/, 'with their own heartbeat connections, the open-file limit')}; heartbeats and ACK POSTs go over ${sharedConnections} shared connections per agent process instead\n`);
    }
    results.push(await measureSize(size, mode));
  }
  report(results);

  async function measureSize(size, heartbeatConnections) {
    const heartbeatMs = heartbeatIntervalOf(size);
    process.stdout.write(`\n${thousands(size)} gateways (${options.transport}), ${workerCount} agent processes, heartbeats every ${heartbeatMs} ms\n`);
    const controlPlane = await startControlPlane({ env: { PORTOLAN_HEARTBEAT_INTERVAL: `${heartbeatMs}ms`, PORTOLAN_NODE_TTL: `${3 * heartbeatMs}ms` } });
    const workers = [];
    try {
      for (let i = 0; i < routeCount; i++) {
        await controlPlane.apply({ kind: 'Service', metadata: { name: `svc-${i}` }, spec: { ports: [{ port: 8080 }], endpoints: [{ address: `10.0.0.${i % 250}`, zone: 'zone-0' }] } });
        await controlPlane.apply({ kind: 'Route', metadata: { name: `svc-${i}` }, spec: { match: { pathPrefix: `/svc-${i}` }, backendRef: { name: `svc-${i}` } } });
      }
      const policy = (write) => ({ kind: 'RetryPolicy', metadata: { name: 'mesh-retries' }, spec: { targetRef: { kind: 'Mesh' }, attempts: 2, perTryTimeout: `${1000 + write}ms` } });
      await controlPlane.apply(policy(0));
      await sleep(3_000);
      const before = processUsage(controlPlane.pid);

      // Gateways, dealt round-robin to the workers; transports alternate in mixed mode.
      // Per worker, not per gateway number: with gateways dealt round-robin, alternating by number
      // would give each of 2 workers one transport only.
      const transportOf = (g) => (options.transport === 'mixed' ? (Math.floor(g / workerCount) % 2 === 0 ? 'websocket' : 'long-poll') : options.transport);
      const slices = Array.from({ length: workerCount }, () => []);
      for (let g = 0; g < size; g++) {
        slices[g % workerCount].push({ name: `gw-${g}`, zone: `zone-${g % 3}`, address: `10.${(g >> 16) & 255}.${(g >> 8) & 255}.${g & 255}:8080`, transport: transportOf(g) });
      }
      const progress = new Map();
      /** (time since start, gateways registered) after each progress report. */
      const registrations = [[0, 0]];
      const started = monotonicMs();
      for (const slice of slices) {
        const worker = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, PORTOLAN_BENCH_ROLE: AGENTS_ROLE } });
        const entry = { worker, slice, ready: false, exited: false, answer: undefined };
        worker.on('exit', (code) => {
          entry.exited = true;
          entry.answer?.reject(new Error(`an agent process exited (${code}) before answering`));
        });
        worker.on('message', (message) => {
          if (message.type === 'progress') {
            progress.set(worker, message);
            registrations.push([monotonicMs() - started, sum([...progress.values()].map((p) => p.registered))]);
          } else if (message.type === 'ready') entry.ready = true;
          else if (message.type === 'error') process.stdout.write(`  agent error: ${message.message}\n`);
          else if (entry.answer?.type === message.type) {
            const { resolve } = entry.answer;
            entry.answer = undefined;
            resolve(message);
          }
        });
        worker.send({ type: 'start', apiUrl: controlPlane.apiUrl, caPem: controlPlane.caPem, bootstrapToken: controlPlane.bootstrapToken, gateways: slice, concurrency: Math.max(1, Math.round(Number(options['register-concurrency']) / workerCount)), sharedConnections: heartbeatConnections === 'shared' ? sharedConnections : 0 });
        workers.push(entry);
      }
      const reportProgress = setInterval(() => {
        const all = [...progress.values()];
        process.stdout.write(`  ${thousands(sum(all.map((p) => p.registered)))} registered, ${thousands(sum(all.map((p) => p.synced)))} synced after ${((monotonicMs() - started) / 1000).toFixed(0)} s\n`);
      }, 10_000);
      const registration = await waitFor('every gateway to register and ACK its first snapshot', () => (workers.some((w) => w.exited) ? 'an agent process exited' : workers.every((w) => w.ready) && 'ready'), Boolean, { timeoutMs: 1_800_000, intervalMs: 100 });
      clearInterval(reportProgress);
      if (registration !== 'ready') throw new Error(`${registration} while the gateways registered`);
      const registrationSeconds = (monotonicMs() - started) / 1000;
      process.stdout.write(`  ${thousands(size)} registered and synced in ${registrationSeconds.toFixed(1)} s\n`);

      /** One question to a worker at a time; its answer has the type asked for. */
      const ask = (entry, message, type) =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no ${type} answer from an agent process within 5 minutes`)), 300_000);
          entry.answer = { type, resolve: (answer) => (clearTimeout(timer), resolve(answer)), reject: (error) => (clearTimeout(timer), reject(error)) };
          entry.worker.send(message);
        });

      // Every routable gateway counted in the policy's rollout before measuring.
      const rollout = async () => (await controlPlane.get('RetryPolicy', 'mesh-retries')).status?.rollout;
      await waitFor(`the rollout to count ${size} gateways`, rollout, (r) => r?.gateways === size && r?.acked === size, { timeoutMs: 120_000, intervalMs: 500 });

      // Idle with every gateway connected: CPU over 10 s, and the lowest RSS sampled meanwhile
      // (RSS also holds garbage not yet collected; the lowest sample is closest to what is live).
      await sleep(5_000);
      const idleFrom = processUsage(controlPlane.pid);
      let rssConnected = idleFrom.rssBytes;
      for (let i = 0; i < 20; i++) {
        await sleep(500);
        rssConnected = Math.min(rssConnected, processUsage(controlPlane.pid).rssBytes);
      }
      const idle = processUsage(controlPlane.pid);

      let clockSkewOk = true;
      let clockRoundTrip = 0;
      for (const entry of workers) {
        const sent = monotonicMs();
        const { at } = await ask(entry, { type: 'clock' }, 'clock');
        const back = monotonicMs();
        clockRoundTrip = Math.max(clockRoundTrip, back - sent);
        if (at < sent || at > back) clockSkewOk = false;
      }
      process.stdout.write(`  clock check: ${clockSkewOk ? 'every worker reading inside the IPC round trip' : 'A WORKER READING FELL OUTSIDE THE ROUND TRIP'} (longest ${clockRoundTrip.toFixed(2)} ms)\n`);

      const rows = [];
      const workerUsageFrom = workers.map((entry) => processUsage(entry.worker.pid));
      const writesFrom = processUsage(controlPlane.pid);
      for (let write = 1; write <= writes; write++) {
        const fanoutSum = await controlPlane.metric('portolan_snapshot_fanout_seconds_sum');
        const fanoutCount = await controlPlane.metric('portolan_snapshot_fanout_seconds_count');
        const sent = monotonicMs();
        const stored = await controlPlane.apply(policy(write));
        const answered = monotonicMs();
        const revision = Number(stored.metadata.resourceVersion);
        const reports = await Promise.all(workers.map((entry) => ask(entry, { type: 'collect', revision }, 'collected')));
        const statusAt = await waitFor(`the status to count ${size} ACKs of revision ${revision}`, rollout, (r) => r?.revision === revision && r.acked === size, { timeoutMs: 60_000, intervalMs: 5 }).then(() => monotonicMs());
        const fanouts = (await controlPlane.metric('portolan_snapshot_fanout_seconds_count')) - fanoutCount;
        const fanoutMs = (((await controlPlane.metric('portolan_snapshot_fanout_seconds_sum')) - fanoutSum) / Math.max(1, fanouts)) * 1000;
        const of = (transport, what) => reports.flatMap((r) => r.report[transport][what]).map((at) => at - answered);
        const received = [...of('websocket', 'received'), ...of('long-poll', 'received')];
        const row = {
          write: answered - sent,
          fanout: fanoutMs,
          first: Math.min(...received),
          p50: percentile(received, 50),
          p99: percentile(received, 99),
          last: Math.max(...received),
          wsAck: maxOrUndefined(of('websocket', 'acked')),
          lpAck: maxOrUndefined(of('long-poll', 'acked')),
          status: statusAt - answered,
        };
        rows.push(row);
        process.stdout.write(
          `  write ${write}: answered in ${ms(row.write)}; control plane fan-out ${ms(row.fanout)}; received first ${ms(row.first)}, p50 ${ms(row.p50)}, p99 ${ms(row.p99)}, last ${ms(row.last)}; ` +
            `last ACK websocket ${ms(row.wsAck)}, long-poll ${ms(row.lpAck)}; status ${thousands(size)}/${thousands(size)} ACKed ${ms(row.status)}\n`,
        );
        await sleep(300);
      }
      const writesTo = processUsage(controlPlane.pid);
      const workerUsageTo = workers.map((entry) => processUsage(entry.worker.pid));
      const counts = await Promise.all(workers.map((entry) => ask(entry, { type: 'counts' }, 'counts')));
      return {
        size,
        rows,
        registrationSeconds,
        registrationRates: { first: registrationRate(registrations, 0, size / 10), last: registrationRate(registrations, size - size / 10, size) },
        rssBefore: before.rssBytes,
        rssConnected,
        idleVcpu: vcpuBetween(idleFrom, idle),
        writesVcpu: vcpuBetween(writesFrom, writesTo),
        agentsVcpu: sum(workerUsageFrom.map((from, i) => vcpuBetween(from, workerUsageTo[i]))),
        heartbeatMs,
        heartbeatConnections,
        failures: { registrations: sum(counts.map((c) => c.failedRegistrations)), heartbeats: sum(counts.map((c) => c.heartbeatFailures)), streams: sum(counts.map((c) => c.streamErrors)), polls: sum(counts.map((c) => c.pollErrors)) },
        clockSkewOk,
      };
    } finally {
      for (const entry of workers) if (!entry.exited) entry.worker.send({ type: 'stop' });
      await Promise.all(workers.map((entry) => new Promise((done) => (entry.worker.exitCode !== null ? done() : entry.worker.once('exit', done)))));
      await controlPlane.stop();
    }
  }

  function report(results) {
    const measured = results.filter((result) => !result.skipped);
    const skipped = results.filter((result) => result.skipped);
    const header = ['', ...results.map((result) => `${thousands(result.size)} gateways`)];
    const cell = (fn) => results.map((result) => (result.skipped ? 'not run (open-file limit)' : fn(result)));
    const spread = (pick) => cell(({ rows }) => {
      const values = rows.map(pick).filter((value) => value !== undefined);
      return values.length ? `${percentile(values, 50).toFixed(1)} / ${percentile(values, 99).toFixed(1)} / ${Math.max(...values).toFixed(1)} ms` : 'n/a';
    });
    const target = (size) => (size <= 1_000 ? 100 : 500);
    const mb = (value) => `${value.toFixed(1)} MB`;
    const table = markdownTable(header, [
      [`**p50 / p99 / max over ${writes} writes**, from the API's answer`, ...results.map(() => '')],
      ['write answered by the API (from sent)', ...spread((r) => r.write)],
      ["control plane's own fan-out (rebuild + hand-off, `portolan_snapshot_fanout_seconds`)", ...spread((r) => r.fanout)],
      ['first gateway received the snapshot', ...spread((r) => r.first)],
      ['p99 of the gateways received it', ...spread((r) => r.p99)],
      ['last gateway received it', ...spread((r) => r.last)],
      ['last WebSocket gateway sent its ACK', ...spread((r) => r.wsAck)],
      ['last long-poll gateway ACK recorded (POST answered)', ...spread((r) => r.lpAck)],
      ['**all ACKed per the policy status** (apply → all-ACK)', ...spread((r) => r.status)],
      ['apply → all-ACK p99', ...cell(({ size, rows }) => verdict(percentile(rows.map((r) => r.status), 99), target(size), { format: (v) => ms(v) }))],
      ['**control plane**', ...results.map(() => '')],
      ['heartbeat interval (node TTL: 3 intervals)', ...cell((r) => `${r.heartbeatMs / 1000} s`)],
      ['heartbeats and ACK POSTs over', ...cell((r) => (r.heartbeatConnections === 'own' ? "each gateway's own keep-alive connection (2 sockets per gateway)" : `${sharedConnections} shared keep-alive connections per agent process (1 socket per gateway)`))],
      ['registration: all registered and synced', ...cell((r) => `${r.registrationSeconds.toFixed(1)} s (${thousands(r.size / r.registrationSeconds)}/s)`)],
      ['registrations per second: first tenth → last tenth', ...cell(({ registrationRates: { first, last } }) => `${thousands(first)} → ${thousands(last)}/s (${((last / first) * 100).toFixed(0)} %)`)],
      ['RSS before any gateway → with all connected (lowest of 20 samples)', ...cell((r) => `${mib(r.rssBefore).toFixed(0)} → ${mib(r.rssConnected).toFixed(0)} MB`)],
      ['RSS per 1,000 connected gateways', ...cell((r) => `${mb(mib(r.rssConnected - r.rssBefore) / (r.size / 1000))}: ${verdict(mib(r.rssConnected - r.rssBefore) / (r.size / 1000), 25, { format: mb })}`)],
      ['CPU idle with all connected (heartbeats, pings), per 1,000 gateways', ...cell((r) => `${(r.idleVcpu / (r.size / 1000)).toFixed(3)} vCPU (total ${r.idleVcpu.toFixed(2)})`)],
      ['CPU during the writes, per 1,000 gateways', ...cell((r) => `${(r.writesVcpu / (r.size / 1000)).toFixed(3)} vCPU (total ${r.writesVcpu.toFixed(2)})`)],
      ['simulated agents: CPU during the writes (all worker processes)', ...cell((r) => `${r.agentsVcpu.toFixed(2)} vCPU`)],
      ['failed registration tries (each tried again) / heartbeats / stream errors / poll errors', ...cell((r) => `${r.failures.registrations} / ${r.failures.heartbeats} / ${r.failures.streams} / ${r.failures.polls}`)],
    ]);
    const transports = options.transport === 'mixed' ? 'half on the WebSocket stream, half on long-poll' : `all on ${options.transport}`;
    publish({
      title: 'Policy propagation (`tools/bench/propagation.bench.mjs`)',
      description:
        `One control plane (embedded store) with ${routeCount} services and routes; simulated gateways ${transports}, in ${workerCount} agent processes, ` +
        `each registering with the bootstrap token, heartbeating at the interval in the table and ACKing every snapshot. ${writes} changes of a ` +
        'mesh-wide RetryPolicy, each reaching every gateway. Times are from the moment the answer to the write arrived; "all ACKed per the policy status" ' +
        "is when `status.rollout` counted every gateway, polled every 5 ms once the agents had reported all ACKs sent (an upper bound). WebSocket ACK " +
        'times are when the agent handed the frame to its socket; long-poll ACK times when the ACK POST was answered. All processes read ' +
        `CLOCK_MONOTONIC (process.hrtime), one clock for the machine${measured.every((r) => r.clockSkewOk) ? '; each worker\'s reading fell inside an IPC round trip' : ''}. ` +
        'RSS per 1,000 gateways: VmRSS with every gateway connected minus VmRSS before any registered; CPU: utime + stime from /proc. ' +
        `Open files allowed per process: ${fileLimits().soft}.`,
      body: skipped.length ? `${table}\n\nNot run: ${skipped.map((r) => thousands(r.size)).join(', ')} gateways: ${skipped[0].skipped}.` : table,
      append: options.append,
    });
  }
}

function parseSeconds(text) {
  const match = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(text);
  if (!match) throw new Error(`${text} is not a duration like 2s or 500ms`);
  return Number(match[1]) / (match[2] === 'ms' ? 1000 : 1);
}

/** Registrations per second between the moments `from` and `to` gateways were registered (interpolated between progress reports). */
function registrationRate(samples, from, to) {
  const timeOf = (count) => {
    const after = samples.findIndex(([, registered]) => registered >= count);
    if (after <= 0) return samples[Math.max(0, after)][0];
    const [t0, r0] = samples[after - 1];
    const [t1, r1] = samples[after];
    return t0 + ((count - r0) / (r1 - r0)) * (t1 - t0);
  };
  return (to - from) / ((timeOf(to) - timeOf(from)) / 1000);
}

function sum(values) {
  return values.reduce((total, value) => total + value, 0);
}

function maxOrUndefined(values) {
  return values.length ? Math.max(...values) : undefined;
}
