/**
 * A small mesh for system tests, every part real: the built control plane and gateways as child
 * processes on loopback, and recording upstreams in the test process. Tests drive it the way an
 * operator does: manifests through the API, traffic through the gateways.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
const CONTROL_PLANE_MAIN = join(REPO_ROOT, 'apps/control-plane/dist/main.js');
export const GATEWAY_MAIN = join(REPO_ROOT, 'apps/gateway/dist/main.js');
export const BOOTSTRAP_TOKEN = 'mesh-test-bootstrap-token';
export const ADMIN_TOKEN = 'mesh-test-admin-token-0123456789';

export async function eventually<T>(what: string, read: () => Promise<T> | T, accept: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  for (;;) {
    try {
      last = await read();
      if (accept(last)) return last;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(last)}${lastError ? `; last error: ${(lastError as Error).message}` : ''}`);
    await new Promise((done) => setTimeout(done, 50));
  }
}

interface Process {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | string>;
}

function spawnNode(script: string, args: string[], env: Record<string, string>): Process {
  if (!existsSync(script)) throw new Error(`${script} is missing: build first (npm test builds everything)`);
  let log = '';
  const child = spawn(process.execPath, [script, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (chunk) => (log += chunk));
  child.stderr!.on('data', (chunk) => (log += chunk));
  const exited = new Promise<number | string>((done) => child.on('exit', (code, signal) => done(code ?? signal ?? -1)));
  return { child, output: () => log, exited };
}

export interface ApiAnswer {
  status: number;
  body: any;
}

export class ControlPlane {
  private process: Process | undefined;
  apiUrl = '';
  /** The plain-HTTP ops port (metrics, health), when the test turned it on with PORTOLAN_OPS_PORT. */
  opsUrl: string | undefined;
  caPem = '';
  readonly dispatcher: { agent?: Agent } = {};

  constructor(readonly dataDir: string, private readonly env: Record<string, string>) {}

  async start(): Promise<void> {
    const endpointFile = join(this.dataDir, 'endpoint.json');
    rmSync(endpointFile, { force: true });
    const apiPort = this.apiUrl ? new URL(this.apiUrl).port : '0';
    this.process = spawnNode(CONTROL_PLANE_MAIN, [], {
      PORTOLAN_DATA_DIR: this.dataDir,
      PORTOLAN_API_PORT: apiPort,
      PORTOLAN_OPS_PORT: '-1',
      PORTOLAN_LOG_LEVEL: 'warn',
      PORTOLAN_BOOTSTRAP_TOKEN: BOOTSTRAP_TOKEN,
      PORTOLAN_ADMIN_TOKEN: ADMIN_TOKEN,
      ...this.env,
    });
    const started = this.process;
    const endpoint = await eventually(
      'the control plane to listen',
      () => {
        if (started.child.exitCode !== null) throw new Error(`the control plane exited:\n${started.output()}`);
        const parsed = existsSync(endpointFile) ? (JSON.parse(readFileSync(endpointFile, 'utf8')) as { apiUrl: string; opsUrl?: string; pid: number }) : undefined;
        return parsed?.pid === started.child.pid ? parsed : undefined;
      },
      (value) => value !== undefined,
      60_000,
    );
    this.apiUrl = endpoint!.apiUrl;
    this.opsUrl = endpoint!.opsUrl;
    this.caPem = readFileSync(this.caFile, 'utf8');
    await this.dispatcher.agent?.close();
    this.dispatcher.agent = new Agent({ connect: { ca: this.caPem } });
  }

  get caFile(): string {
    return join(this.dataDir, 'tls', 'ca.crt');
  }

  output(): string {
    return this.process?.output() ?? '';
  }

  async kill(): Promise<void> {
    this.process?.child.kill('SIGKILL');
    await this.process?.exited;
  }

  async stop(): Promise<void> {
    this.process?.child.kill('SIGTERM');
    await this.process?.exited;
    await this.dispatcher.agent?.close();
  }

  async call(method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<ApiAnswer> {
    const response = await request(`${this.apiUrl}${path}`, {
      method: method as 'GET',
      dispatcher: this.dispatcher.agent,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': contentType }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.body.text();
    return { status: response.statusCode, body: text ? JSON.parse(text) : undefined };
  }

  /** Creates or replaces a resource (server-side apply); returns the stored object. */
  async apply(resource: { kind: string; metadata: { name: string; namespace?: string }; [key: string]: unknown }): Promise<any> {
    const plural = PLURALS[resource.kind];
    const answer = await this.call(
      'PATCH',
      `/apis/mesh.portolan.dev/v1alpha1/namespaces/${resource.metadata.namespace ?? 'default'}/${plural}/${resource.metadata.name}?fieldManager=test`,
      { apiVersion: 'mesh.portolan.dev/v1alpha1', ...resource },
      'application/apply-patch+yaml',
    );
    if (answer.status >= 300) throw new Error(`apply ${resource.kind}/${resource.metadata.name} failed: ${JSON.stringify(answer.body)}`);
    return answer.body;
  }

  async remove(kind: string, name: string): Promise<void> {
    await this.call('DELETE', `/apis/mesh.portolan.dev/v1alpha1/namespaces/default/${PLURALS[kind]}/${name}`);
  }

  async gatewayNode(name: string): Promise<any> {
    return (await this.call('GET', `/apis/mesh.portolan.dev/v1alpha1/namespaces/default/gatewaynodes/${name}`)).body;
  }

  async get(kind: string, name: string): Promise<any> {
    return (await this.call('GET', `/apis/mesh.portolan.dev/v1alpha1/namespaces/default/${PLURALS[kind]}/${name}`)).body;
  }
}

const PLURALS: Record<string, string> = {
  Service: 'services',
  Route: 'routes',
  RateLimitPolicy: 'ratelimitpolicies',
  RetryPolicy: 'retrypolicies',
  CircuitBreakerPolicy: 'circuitbreakerpolicies',
  TimeoutPolicy: 'timeoutpolicies',
  AutoscalePolicy: 'autoscalepolicies',
  FailoverPolicy: 'failoverpolicies',
  Zone: 'zones',
};

export class GatewayProcess {
  private process: Process | undefined;
  proxyUrl = '';
  adminUrl = '';
  readonly stateDir: string;

  constructor(
    readonly name: string,
    private readonly controlPlane: ControlPlane,
    private readonly options: { zone: string; pool?: string; transport?: 'websocket' | 'long-poll' | 'auto'; root: string; extraArgs?: string[] },
  ) {
    this.stateDir = join(options.root, name);
  }

  async start(): Promise<void> {
    const listening = join(this.stateDir, 'listening.json');
    rmSync(listening, { force: true });
    const port = this.proxyUrl ? new URL(this.proxyUrl).port : '0';
    this.process = spawnNode(GATEWAY_MAIN, [
      '--control-plane', this.controlPlane.apiUrl,
      '--ca-file', this.controlPlane.caFile,
      '--bootstrap-token', BOOTSTRAP_TOKEN,
      '--name', this.name,
      '--zone', this.options.zone,
      '--pool', this.options.pool ?? 'edge',
      '--listen', `127.0.0.1:${port}`,
      '--admin-listen', '127.0.0.1:0',
      '--state-dir', this.stateDir,
      '--transport', this.options.transport ?? 'auto',
      '--propagation-wait', '5s',
      ...(this.options.extraArgs ?? []),
    ], { PORTOLAN_LOG_LEVEL: 'info' });
    const started = this.process;
    const urls = await eventually(
      `gateway ${this.name} to listen`,
      () => {
        if (started.child.exitCode !== null) throw new Error(`gateway ${this.name} exited:\n${started.output()}`);
        return existsSync(listening) ? (JSON.parse(readFileSync(listening, 'utf8')) as { proxyUrl: string; adminUrl: string; pid: number }) : undefined;
      },
      (value) => value?.pid === started.child.pid,
      30_000,
    );
    this.proxyUrl = urls!.proxyUrl;
    this.adminUrl = urls!.adminUrl;
  }

  output(): string {
    return this.process?.output() ?? '';
  }

  /** The snapshot the gateway runs (from its admin port). */
  async config(): Promise<any> {
    const response = await request(`${this.adminUrl}/config`);
    return response.body.json();
  }

  async metrics(): Promise<string> {
    return (await request(`${this.adminUrl}/metrics`)).body.text();
  }

  signal(signal: NodeJS.Signals): void {
    this.process?.child.kill(signal);
  }

  exited(): Promise<number | string> {
    return this.process!.exited;
  }

  async stop(): Promise<void> {
    if (!this.process || this.process.child.exitCode !== null) return;
    this.process.child.kill('SIGKILL');
    await this.process.exited;
  }
}

export interface RecordedRequest {
  at: number;
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
}

/**
 * An upstream that records every request and answers what the test scripts: `respond` decides
 * per request (status, delay); the default is 200 at once.
 */
export class RecordingUpstream {
  readonly requests: RecordedRequest[] = [];
  port = 0;
  respond: (request: RecordedRequest, index: number) => { status: number; delayMs?: number } = () => ({ status: 200 });
  private readonly server: Server;

  constructor(readonly name: string) {
    // A request whose client left (a gateway killed mid-request) ends in an `aborted` error: nothing to answer.
    this.server = createServer((incoming, response) => void this.handle(incoming, response).catch(() => response.destroy()));
  }

  private async handle(incoming: IncomingMessage, response: ServerResponse): Promise<void> {
    const recorded = { at: Date.now(), method: incoming.method ?? 'GET', path: incoming.url ?? '/', headers: incoming.headers };
    const index = this.requests.push(recorded) - 1;
    for await (const _chunk of incoming) {
      // drain the body
    }
    const { status, delayMs } = this.respond(recorded, index);
    if (delayMs) await new Promise((done) => setTimeout(done, delayMs));
    const body = JSON.stringify({ upstream: this.name, index });
    response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    response.end(body);
  }

  async start(): Promise<this> {
    await new Promise<void>((done) => this.server.listen(0, '127.0.0.1', done));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((done) => this.server.close(() => done()));
  }
}

/** Sends one request through a gateway; never throws for HTTP errors. */
export async function send(gatewayUrl: string, path: string, options: { method?: string; headers?: Record<string, string>; body?: string; dispatcher?: Agent } = {}) {
  const response = await request(`${gatewayUrl}${path}`, {
    method: (options.method ?? 'GET') as 'GET',
    headers: options.headers,
    body: options.body,
    dispatcher: options.dispatcher,
  });
  const text = await response.body.text();
  return { status: response.statusCode, headers: response.headers, text };
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export const service = (name: string, endpoints: Array<{ port: number; zone?: string }>) => ({
  kind: 'Service',
  metadata: { name },
  spec: { ports: [{ port: endpoints[0]?.port ?? 80 }], endpoints: endpoints.map((endpoint) => ({ address: '127.0.0.1', port: endpoint.port, ...(endpoint.zone ? { zone: endpoint.zone } : {}) })) },
});

export const route = (name: string, pathPrefix: string, backend = name) => ({
  kind: 'Route',
  metadata: { name },
  spec: { match: { pathPrefix }, backendRef: { name: backend } },
});

export interface GatewaySpec {
  name: string;
  zone?: string;
  pool?: string;
  transport?: 'websocket' | 'long-poll' | 'auto';
}

/** A control plane, recording upstreams and gateways started together and stopped together. */
export class TestMesh {
  readonly gateways: GatewayProcess[] = [];
  readonly upstreams: Record<string, RecordingUpstream> = {};

  private constructor(
    readonly root: string,
    readonly controlPlane: ControlPlane,
  ) {}

  /** `configure` runs after the upstreams start and before the gateways do (services, routes). */
  static async start(prefix: string, options: { upstreams: string[]; gateways: GatewaySpec[]; controlPlaneEnv?: Record<string, string>; configure?: (mesh: TestMesh) => Promise<void> }): Promise<TestMesh> {
    const root = tempDir(prefix);
    const mesh = new TestMesh(root, new ControlPlane(root, options.controlPlaneEnv ?? {}));
    await mesh.controlPlane.start();
    for (const name of options.upstreams) mesh.upstreams[name] = await new RecordingUpstream(name).start();
    await options.configure?.(mesh);
    for (const spec of options.gateways) {
      const gateway = new GatewayProcess(spec.name, mesh.controlPlane, { zone: spec.zone ?? 'zone-a', pool: spec.pool, transport: spec.transport, root });
      await gateway.start();
      mesh.gateways.push(gateway);
    }
    return mesh;
  }

  async stop(): Promise<void> {
    await Promise.all(this.gateways.map((gateway) => gateway.stop()));
    await Promise.all(Object.values(this.upstreams).map((upstream) => upstream.close()));
    await this.controlPlane.stop();
    rmSync(this.root, { recursive: true, force: true });
  }
}
