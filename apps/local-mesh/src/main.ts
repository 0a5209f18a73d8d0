#!/usr/bin/env node
/**
 * `npm start`: the whole mesh on one machine. Starts the control plane, sample upstreams for the
 * examples' `checkout` service in three zones (they register themselves as ServiceInstances), two
 * gateways per zone, applies `examples/`, and runs a light traffic generator. Prints where to look.
 * The control plane runs the Local scaler, so the example AutoscalePolicy starts and stops more
 * gateways on this machine; the traffic generator follows the registry, as a load balancer in
 * front of the gateways would, so they take traffic as soon as they are up.
 * Ctrl-C drains the gateways (SIGTERM: deregister, finish in-flight requests), then stops the rest.
 *
 * Every part is a real process or server on loopback; the ports are free ones unless set.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { parseAllDocuments } from 'yaml';
import { AgentClient } from '@portolan/agent-client';
import { kindDefinition, type Resource } from '@portolan/api';
import { startSampleUpstream, type SampleUpstream } from './sample-upstream.js';
import { followRoutableGateways } from './gateway-discovery.js';
import { startTraffic } from './traffic.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const ZONES = ['zone-a', 'zone-b', 'zone-c'];
const GATEWAYS_PER_ZONE = 2;

interface Child {
  name: string;
  process: ChildProcess;
  exited: Promise<number | null>;
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function startChild(name: string, script: string, args: string[], env: NodeJS.ProcessEnv, verbose: boolean): Child {
  const child = spawn(process.execPath, [script, ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const prefix = (chunk: Buffer) => {
    if (!verbose) return;
    for (const line of String(chunk).split('\n').filter(Boolean)) process.stderr.write(`[${name}] ${line}\n`);
  };
  child.stdout!.on('data', prefix);
  child.stderr!.on('data', prefix);
  const exited = new Promise<number | null>((resolveExit) => child.on('exit', (code) => resolveExit(code)));
  return { name, process: child, exited };
}

async function waitFor<T>(what: string, read: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const value = await read();
      if (value !== undefined) return value;
    } catch {
      // not there yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((done) => setTimeout(done, 100));
  }
}

/** Applies every manifest in examples/ with server-side apply semantics (create or update). */
async function applyExamples(apiUrl: string, token: string, dispatcher: Agent): Promise<string[]> {
  const dir = join(REPO_ROOT, 'examples');
  const applied: string[] = [];
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.yaml')).sort()) {
    for (const document of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      const object = document.toJS() as Resource;
      const definition = kindDefinition(object.kind);
      if (!definition) throw new Error(`${file}: ${object.kind} is not a Portolan kind`);
      const namespace = object.metadata.namespace ?? 'default';
      const url = `${apiUrl}/apis/mesh.portolan.dev/v1alpha1/namespaces/${namespace}/${definition.plural}/${object.metadata.name}?fieldManager=local-mesh`;
      const response = await request(url, {
        method: 'PATCH',
        dispatcher,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/apply-patch+yaml' },
        body: JSON.stringify(object),
      });
      const body = await response.body.text();
      if (response.statusCode >= 300) throw new Error(`applying ${file} failed (${response.statusCode}): ${body}`);
      applied.push(`${object.kind}/${object.metadata.name}`);
    }
  }
  return applied;
}

export async function main(): Promise<void> {
  const dataDir = resolve(process.env.PORTOLAN_DATA_DIR ?? '.portolan');
  const verbose = process.env.PORTOLAN_LOCAL_MESH_VERBOSE === '1';
  const apiPort = process.env.PORTOLAN_API_PORT ?? '7443';
  const opsPort = process.env.PORTOLAN_OPS_PORT ?? '7080';
  const gatewayBasePort = Number(process.env.PORTOLAN_LOCAL_MESH_GATEWAY_PORT ?? '8081');
  const trafficRps = Number(process.env.PORTOLAN_LOCAL_MESH_TRAFFIC_RPS ?? '5');
  mkdirSync(dataDir, { recursive: true });
  rmSync(join(dataDir, 'endpoint.json'), { force: true });

  const children: Child[] = [];
  const controlPlane = startChild('control-plane', join(REPO_ROOT, 'apps/control-plane/dist/main.js'), [], {
    PORTOLAN_DATA_DIR: dataDir,
    PORTOLAN_API_PORT: apiPort,
    PORTOLAN_OPS_PORT: opsPort,
    PORTOLAN_LOG_LEVEL: process.env.PORTOLAN_LOG_LEVEL ?? 'warn',
    PORTOLAN_LOCAL_SCALER_GATEWAY: join(REPO_ROOT, 'apps/gateway/dist/main.js'),
    // Livelier than the HPA's 15 s, for a mesh one watches on a laptop.
    PORTOLAN_AUTOSCALE_INTERVAL: process.env.PORTOLAN_AUTOSCALE_INTERVAL ?? '5s',
    // Gateways the autoscaler starts send their spans where the others do (the ops port's receiver).
    PORTOLAN_LOCAL_SCALER_GATEWAY_ARGS: Number(opsPort) > 0 ? `--otlp-endpoint http://127.0.0.1:${opsPort}/v1/traces --trace-sampling 1` : '',
  }, verbose);
  children.push(controlPlane);
  const endpoint = await waitFor('the control plane', () => {
    const file = join(dataDir, 'endpoint.json');
    return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { apiUrl: string; opsUrl?: string }) : undefined;
  });
  const caFile = join(dataDir, 'tls', 'ca.crt');
  const caPem = readFileSync(caFile, 'utf8');
  const bootstrapToken = process.env.PORTOLAN_BOOTSTRAP_TOKEN ?? readFileSync(join(dataDir, 'bootstrap.token'), 'utf8').trim();
  const adminToken = process.env.PORTOLAN_ADMIN_TOKEN ?? readFileSync(join(dataDir, 'admin.token'), 'utf8').trim();
  const dispatcher = new Agent({ connect: { ca: caPem } });
  const applied = await applyExamples(endpoint.apiUrl, adminToken, dispatcher);
  // Every span goes to the control plane's OTLP receiver on its plain-HTTP ops port; the local mesh
  // keeps every trace (sampling 1) so any request can be looked up.
  const otlpEndpoint = endpoint.opsUrl ? `${endpoint.opsUrl}/v1/traces` : undefined;

  const upstreams: SampleUpstream[] = [];
  const instanceAgents: AgentClient[] = [];
  for (const zone of ZONES) {
    const upstream = await startSampleUpstream({ name: `checkout-${zone}`, zone, service: 'checkout', knobs: { latencyMs: 5 }, otlpEndpoint });
    upstreams.push(upstream);
    const agent = new AgentClient({
      controlPlaneUrl: endpoint.apiUrl,
      caPem,
      bootstrapToken,
      registration: { role: 'instance', name: `checkout-${zone}`, service: { namespace: 'default', name: 'checkout' }, zone, address: '127.0.0.1', port: upstream.port, version: 'sample' },
    });
    await agent.start();
    instanceAgents.push(agent);
  }

  const gatewayUrls: string[] = [];
  let slot = 0;
  for (const zone of ZONES) {
    for (let n = 1; n <= GATEWAYS_PER_ZONE; n++, slot++) {
      const name = `edge-${zone}-${n}`;
      const port = gatewayBasePort === 0 ? 0 : gatewayBasePort + slot;
      const adminPort = gatewayBasePort === 0 ? 0 : gatewayBasePort + 100 + slot;
      const child = startChild(name, join(REPO_ROOT, 'apps/gateway/dist/main.js'), [
        '--control-plane', endpoint.apiUrl,
        '--ca-file', caFile,
        '--bootstrap-token', bootstrapToken,
        '--name', name,
        '--zone', zone,
        '--pool', 'edge',
        '--listen', `127.0.0.1:${port}`,
        '--admin-listen', `127.0.0.1:${adminPort}`,
        '--state-dir', join(dataDir, 'gateways', name),
        ...(otlpEndpoint ? ['--otlp-endpoint', otlpEndpoint] : []),
        '--trace-sampling', '1',
      ], {}, verbose);
      children.push(child);
      const ready = await waitFor(`${name} to listen`, () => {
        const file = join(dataDir, 'gateways', name, 'listening.json');
        return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { proxyUrl: string; adminUrl: string }) : undefined;
      });
      gatewayUrls.push(ready.proxyUrl);
      log(`  gateway ${name.padEnd(16)} ${ready.proxyUrl}   metrics: ${ready.adminUrl}/metrics`);
    }
  }

  // The traffic follows the registry: gateways the autoscaler adds take traffic, draining ones stop getting it.
  const trafficTargets = [...gatewayUrls];
  const discovery = followRoutableGateways(endpoint.apiUrl, adminToken, dispatcher, (urls) => trafficTargets.splice(0, trafficTargets.length, ...urls));
  const traffic = trafficRps > 0 ? startTraffic({ targets: trafficTargets, paths: ['/checkout', '/checkout/cart'], requestsPerSecond: trafficRps, host: 'shop.example.com' }) : undefined;
  log(
    [
      '',
      'Portolan local mesh is up.',
      `  Control plane API (HTTPS): ${endpoint.apiUrl}`,
      `  Dashboard:                 ${endpoint.apiUrl}/ui/ (sign in with the token in ${join(dataDir, 'admin.token')})`,
      endpoint.opsUrl ? `  Health:                    ${endpoint.opsUrl}/healthz   Metrics: ${endpoint.opsUrl}/metrics` : '',
      otlpEndpoint ? `  Traces (OTLP/HTTP):        ${otlpEndpoint} (gateways and upstreams; answers carry x-portolan-trace-id)` : '',
      `  kubectl:                   export KUBECONFIG=${join(dataDir, 'kubeconfig')}; kubectl get gatewaynodes,serviceinstances,ratelimitpolicies`,
      `  Applied:                   ${applied.join(', ')}`,
      `  Upstreams (knobs at /_knobs): ${upstreams.map((u) => `${u.name} http://127.0.0.1:${u.port}`).join(', ')}`,
      `  Try:                       curl -H 'Host: shop.example.com' ${gatewayUrls[0]}/checkout`,
      `  Traffic:                   ${trafficRps} requests/s over the routable gateways (${gatewayUrls.length} now)`,
      `  Autoscaling:               kubectl get autoscalepolicies; curl -X PUT -d '{"latencyMs": 120}' http://127.0.0.1:${upstreams[0].port}/_knobs scales ${upstreams[0].zone} up`,
      '  Ctrl-C stops everything (gateways drain first).',
      '',
    ].filter(Boolean).join('\n'),
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping the local mesh`);
    await traffic?.stop();
    discovery.stop();
    const gateways = children.filter((child) => child !== controlPlane);
    for (const child of gateways) child.process.kill('SIGTERM');
    const codes = await Promise.all(gateways.map((child) => child.exited));
    log(`  gateways drained (exit codes ${codes.join(', ')})`);
    await Promise.all(instanceAgents.map((agent) => agent.deregister().catch(() => undefined).finally(() => agent.stop())));
    await Promise.all(upstreams.map((upstream) => upstream.close()));
    controlPlane.process.kill('SIGTERM');
    await controlPlane.exited;
    await dispatcher.close();
    log('  stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  void controlPlane.exited.then((code) => {
    if (!stopping) {
      log(`the control plane exited (code ${code}); stopping`);
      void stop('control plane exit');
    }
  });
}

main().catch((error: Error) => {
  log(`local mesh: cannot start: ${error.stack ?? error.message}`);
  process.exit(1);
});
