#!/usr/bin/env node
// Fan-out across control-plane replicas on Consul: three real control planes (dist/main.js,
// PORTOLAN_STORE=consul) on the Consul HTTP API test double, G gateways as WebSocket agents in this
// process spread evenly over the replicas, each ACKing every snapshot. For R policy changes written
// through replica 0 it measures: the write, when the first and last gateway (on any replica)
// received the change, and when replica 0's policy status counted every gateway's ACK (ACKs of
// gateways on replicas 1 and 2 reach it through Consul).
// The double answers from memory on loopback: this measures Portolan's path (CAS transaction,
// blocking-query feed, rebuild, push, shared ACKs), not Consul's raft latency, which adds to it.
// Run after `npm run build`:   node tools/bench/replicas.bench.mjs [gateways=300] [changes=5]
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import WebSocket from 'ws';
import { ConsulTestServer } from '@portolan/consul-test-server';

const [gatewayCount = 300, changes = 5] = process.argv.slice(2).map(Number);
const root = new URL('../..', import.meta.url).pathname;
const BOOTSTRAP = 'replicas-bench-bootstrap';
const ADMIN = 'replicas-bench-admin-token';
const consul = await ConsulTestServer.start();

async function startReplica(name) {
  const dataDir = mkdtempSync(join(tmpdir(), `portolan-replica-${name}-`));
  const child = spawn(process.execPath, [join(root, 'apps/control-plane/dist/main.js')], {
    env: {
      ...process.env,
      PORTOLAN_STORE: 'consul',
      CONSUL_HTTP_ADDR: consul.address,
      PORTOLAN_REPLICA_NAME: name,
      PORTOLAN_DATA_DIR: dataDir,
      PORTOLAN_API_PORT: '0',
      PORTOLAN_OPS_PORT: '-1',
      PORTOLAN_LOG_LEVEL: 'warn',
      PORTOLAN_BOOTSTRAP_TOKEN: BOOTSTRAP,
      PORTOLAN_ADMIN_TOKEN: ADMIN,
      PORTOLAN_NODE_TTL: '10m',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const endpointFile = join(dataDir, 'endpoint.json');
  while (!existsSync(endpointFile)) await new Promise((done) => setTimeout(done, 50));
  const { apiUrl } = JSON.parse(readFileSync(endpointFile, 'utf8'));
  const ca = readFileSync(join(dataDir, 'tls', 'ca.crt'), 'utf8');
  return { name, child, dataDir, apiUrl, ca, dispatcher: new Agent({ connect: { ca }, connections: 32 }) };
}

const replicas = [];
for (const name of ['cp-0', 'cp-1', 'cp-2']) replicas.push(await startReplica(name));

async function call(replica, method, path, token, body, contentType = 'application/json') {
  const response = await request(`${replica.apiUrl}${path}`, {
    method,
    dispatcher: replica.dispatcher,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': contentType } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.body.text();
  if (response.statusCode >= 300) throw new Error(`${method} ${path}: ${response.statusCode} ${text}`);
  return text ? JSON.parse(text) : undefined;
}

const ns = `/apis/mesh.portolan.dev/v1alpha1/namespaces/default`;
const apply = (object) => call(replicas[0], 'PATCH', `${ns}/${object.kind === 'Service' ? 'services' : object.kind === 'Route' ? 'routes' : 'retrypolicies'}/${object.metadata.name}?fieldManager=bench`, ADMIN, { apiVersion: 'mesh.portolan.dev/v1alpha1', ...object }, 'application/apply-patch+yaml');
for (let i = 0; i < 20; i++) {
  await apply({ kind: 'Service', metadata: { name: `svc-${i}` }, spec: { ports: [{ port: 8080 }], endpoints: [{ address: `10.0.0.${i}`, zone: 'zone-0' }] } });
  await apply({ kind: 'Route', metadata: { name: `svc-${i}` }, spec: { match: { pathPrefix: `/svc-${i}` }, backendRef: { name: `svc-${i}` } } });
}

/** Per gateway: the highest revision received and when. */
const latest = Array.from({ length: gatewayCount }, () => ({ revision: 0, at: 0 }));
const sockets = [];
const registerStart = performance.now();
for (let g = 0; g < gatewayCount; g++) {
  const replica = replicas[g % replicas.length];
  const node = await call(replica, 'POST', '/agent/v1/register', BOOTSTRAP, { role: 'gateway', name: `gw-${g}`, zone: `zone-${g % 3}`, pool: 'edge', address: `10.1.${Math.floor(g / 250)}.${g % 250}:8080`, version: 'bench' });
  const socket = new WebSocket(`${replica.apiUrl.replace('https', 'wss')}/agent/v1/nodes/${node.id}/stream`, { ca: replica.ca, headers: { authorization: `Bearer ${node.credential}` } });
  socket.on('message', (data) => {
    const at = performance.now();
    const { snapshot } = JSON.parse(data);
    if (snapshot.revision > latest[g].revision) latest[g] = { revision: snapshot.revision, at };
    socket.send(JSON.stringify({ type: 'ack', ack: { version: snapshot.version, revision: snapshot.revision, status: 'ACK' } }));
  });
  sockets.push(new Promise((resolve, reject) => socket.once('open', () => resolve(socket)).once('error', reject)));
}
await Promise.all(sockets);
console.log(`3 replicas on the Consul test double; ${gatewayCount} gateways (${gatewayCount / 3} per replica) registered and connected in ${((performance.now() - registerStart) / 1000).toFixed(1)} s; node ${process.version}`);

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
for (let round = 1; round <= changes; round++) {
  const sent = performance.now();
  const stored = await apply({ kind: 'RetryPolicy', metadata: { name: 'mesh-retries' }, spec: { targetRef: { kind: 'Mesh' }, attempts: round } });
  const written = performance.now() - sent;
  const revision = Number(stored.metadata.resourceVersion);
  while (latest.some((entry) => entry.revision < revision)) await new Promise((done) => setTimeout(done, 1));
  const times = latest.map((entry) => entry.at - sent).sort((a, b) => a - b);
  const byReplica = replicas.map((_, r) => Math.max(...latest.filter((_, g) => g % replicas.length === r).map((entry) => entry.at - sent)));
  let acked;
  for (;;) {
    const policy = await call(replicas[0], 'GET', `${ns}/retrypolicies/mesh-retries`, ADMIN);
    if (policy.status?.rollout?.acked === gatewayCount) {
      acked = performance.now() - sent;
      break;
    }
    await new Promise((done) => setTimeout(done, 2));
  }
  console.log(
    `change ${round}: write via cp-0 ${written.toFixed(1)} ms; received by all ${gatewayCount}: first ${times[0].toFixed(1)} ms, p50 ${percentile(times, 50).toFixed(1)} ms, last ${times.at(-1).toFixed(1)} ms (last per replica: ${byReplica.map((ms) => ms.toFixed(1)).join(' / ')} ms); cp-0 status ${gatewayCount}/${gatewayCount} ACKed after ${acked.toFixed(1)} ms`,
  );
}

for (const socket of await Promise.all(sockets)) socket.terminate();
for (const replica of replicas) {
  await replica.dispatcher.close();
  replica.child.kill('SIGTERM');
  await new Promise((done) => replica.child.on('exit', done));
  rmSync(replica.dataDir, { recursive: true, force: true });
}
await consul.close();
