#!/usr/bin/env node
// Policy fan-out, end to end: a real control plane (dist/main.js) with G registered gateways, each
// a WebSocket agent in this process that ACKs every snapshot. For each of R policy changes it
// measures, from the moment the write was sent to the API: when the first and the last gateway
// received the new snapshot, and when the policy's status showed every gateway ACKed.
// Run after `npm run build`:   node tools/bench/fanout.bench.mjs [gateways=1000] [changes=5]
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import WebSocket from 'ws';

const [gatewayCount = 1000, changes = 5] = process.argv.slice(2).map(Number);
const root = new URL('../..', import.meta.url).pathname;
const dataDir = mkdtempSync(join(tmpdir(), 'portolan-fanout-'));
const BOOTSTRAP = 'fanout-bench-bootstrap';
const ADMIN = 'fanout-bench-admin-token';

const child = spawn(process.execPath, [join(root, 'apps/control-plane/dist/main.js')], {
  env: { ...process.env, PORTOLAN_DATA_DIR: dataDir, PORTOLAN_API_PORT: '0', PORTOLAN_OPS_PORT: '0', PORTOLAN_LOG_LEVEL: 'warn', PORTOLAN_BOOTSTRAP_TOKEN: BOOTSTRAP, PORTOLAN_ADMIN_TOKEN: ADMIN, PORTOLAN_HEARTBEAT_INTERVAL: '2s', PORTOLAN_NODE_TTL: '10m' },
  stdio: ['ignore', 'inherit', 'inherit'],
});
const endpointFile = join(dataDir, 'endpoint.json');
while (!existsSync(endpointFile)) await new Promise((done) => setTimeout(done, 50));
const { apiUrl, opsUrl } = JSON.parse(readFileSync(endpointFile, 'utf8'));
const ca = readFileSync(join(dataDir, 'tls', 'ca.crt'), 'utf8');
const dispatcher = new Agent({ connect: { ca }, connections: 64 });

async function call(method, path, token, body, contentType = 'application/json') {
  const response = await request(`${apiUrl}${path}`, {
    method,
    dispatcher,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': contentType } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.body.text();
  return text ? JSON.parse(text) : undefined;
}

const ns = `/apis/mesh.portolan.dev/v1alpha1/namespaces/default`;
const apply = (plural, object) => call('PATCH', `${ns}/${plural}/${object.metadata.name}?fieldManager=bench`, ADMIN, { apiVersion: 'mesh.portolan.dev/v1alpha1', ...object }, 'application/apply-patch+yaml');
for (let i = 0; i < 50; i++) {
  await apply('services', { kind: 'Service', metadata: { name: `svc-${i}` }, spec: { ports: [{ port: 8080 }], endpoints: [{ address: `10.0.0.${i}`, zone: 'zone-0' }] } });
  await apply('routes', { kind: 'Route', metadata: { name: `svc-${i}` }, spec: { match: { pathPrefix: `/svc-${i}` }, backendRef: { name: `svc-${i}` } } });
}

/** revision -> receipt times of that revision across gateways */
const receipts = new Map();
const sockets = [];
const registerStart = performance.now();
for (let g = 0; g < gatewayCount; g++) {
  const node = await call('POST', '/agent/v1/register', BOOTSTRAP, { role: 'gateway', name: `gw-${g}`, zone: `zone-${g % 3}`, pool: 'edge', address: `10.1.${Math.floor(g / 250)}.${g % 250}:8080`, version: 'bench' });
  const socket = new WebSocket(`${apiUrl.replace('https', 'wss')}/agent/v1/nodes/${node.id}/stream`, { ca, headers: { authorization: `Bearer ${node.credential}` } });
  socket.on('message', (data) => {
    const at = performance.now();
    const { snapshot } = JSON.parse(data);
    const list = receipts.get(snapshot.revision) ?? [];
    list.push(at);
    receipts.set(snapshot.revision, list);
    socket.send(JSON.stringify({ type: 'ack', ack: { version: snapshot.version, revision: snapshot.revision, status: 'ACK' } }));
  });
  sockets.push(new Promise((resolve, reject) => socket.once('open', () => resolve(socket)).once('error', reject)));
}
await Promise.all(sockets);
console.log(`${gatewayCount} gateways registered and connected in ${((performance.now() - registerStart) / 1000).toFixed(1)} s; mesh: 50 services, 50 routes; node ${process.version}`);

/** Sum and count of the control plane's own fan-out histogram, to separate its cost from the clients'. */
async function fanoutMetric() {
  const text = await (await request(`${opsUrl}/metrics`)).body.text();
  const read = (name) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  return { sum: read('portolan_snapshot_fanout_seconds_sum'), count: read('portolan_snapshot_fanout_seconds_count') };
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
for (let round = 1; round <= changes; round++) {
  const before = await fanoutMetric();
  const sent = performance.now();
  const stored = await apply('retrypolicies', { kind: 'RetryPolicy', metadata: { name: 'mesh-retries' }, spec: { targetRef: { kind: 'Mesh' }, attempts: round } });
  const answered = performance.now();
  const revision = Number(stored.metadata.resourceVersion);
  while ((receipts.get(revision)?.length ?? 0) < gatewayCount) await new Promise((done) => setTimeout(done, 1));
  const times = receipts.get(revision).map((at) => at - sent).sort((a, b) => a - b);
  let acked;
  for (;;) {
    const policy = await call('GET', `${ns}/retrypolicies/mesh-retries`, ADMIN);
    if (policy.status.rollout.acked === gatewayCount) {
      acked = performance.now() - sent;
      break;
    }
  }
  const after = await fanoutMetric();
  const serverMs = ((after.sum - before.sum) / Math.max(1, after.count - before.count)) * 1000;
  console.log(
    `change ${round}: control plane rebuild + hand-off to ${gatewayCount} sockets ${serverMs.toFixed(1)} ms; write ${(answered - sent).toFixed(1)} ms; received by all ${gatewayCount}: first ${times[0].toFixed(1)} ms, p50 ${percentile(times, 50).toFixed(1)} ms, p99 ${percentile(times, 99).toFixed(1)} ms, last ${times.at(-1).toFixed(1)} ms; status ${gatewayCount}/${gatewayCount} ACKed after ${acked.toFixed(1)} ms`,
  );
}

for (const socket of await Promise.all(sockets)) socket.terminate();
await dispatcher.close();
child.kill('SIGTERM');
await new Promise((done) => child.on('exit', done));
rmSync(dataDir, { recursive: true, force: true });
