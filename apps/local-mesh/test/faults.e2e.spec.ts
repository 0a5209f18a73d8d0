/**
 * Faults around real gateway processes, beyond the policies (resilience.e2e.spec.ts) and a plain
 * control-plane stop (fail-static.e2e.spec.ts):
 *
 * - upstreams that accept and never answer, or close the connection right after accepting or in the
 *   middle of an answer: the gateway answers (or cuts) that request, serves others meanwhile, and
 *   lets go of the upstream connections;
 * - slow clients (request bodies trickling in, large uploads to an upstream that reads nothing,
 *   headers trickling in): the gateway serves others meanwhile (a request that must wait for a busy
 *   upstream's connection gets its 504 at its deadline), its memory stays bounded, and every
 *   connection and try is released once they leave;
 * - a gateway killed in the middle of requests, and state directories holding a damaged file or not
 *   writable at all;
 * - the control plane killed in the middle of a rollout, restarted, and then unreachable for 60 s
 *   (its port closed for 30 s, then blackholed for 30 s): no proxied request fails, nothing
 *   acknowledged is lost, every gateway converges, and the config streams come back spread out.
 *
 * Gateways reach the control plane through an OutageProxy each, with --reconnect-max 8s so they
 * come back within seconds of the outage's end (the behaviour does not depend on the cap's size).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { BOOTSTRAP_TOKEN, eventually, GATEWAY_MAIN, GatewayProcess, route, send, service, tempDir, TestMesh, type ControlPlane, type RecordingUpstream } from './support/mesh.js';
import { OutageProxy } from './support/outage-proxy.js';

const MiB = 1024 * 1024;
const OUTAGE_MS = 60_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sleepUntil = (at: number) => sleep(Math.max(0, at - Date.now()));

/**
 * An upstream that accepts connections and never answers. With `reads: false` it does not read
 * either, so what is sent to it piles up in the sender, and it cannot see a connection close until
 * `readEverything()`. `holding` counts the connections that carry a request (some bytes arrived)
 * and are still open: an idle connection the gateway keeps in its pool does not count.
 */
class SilentUpstream {
  private readonly received = new Map<Socket, number>();
  private reading: boolean;
  private readonly server: Server = createServer((socket) => {
    this.received.set(socket, 0);
    socket.on('data', (chunk: Buffer) => this.received.set(socket, (this.received.get(socket) ?? 0) + chunk.length));
    socket.on('close', () => this.received.delete(socket));
    socket.on('error', () => undefined);
    if (!this.reading) socket.pause();
  });

  constructor(options: { reads: boolean }) {
    this.reading = options.reads;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Connections open, idle or not. */
  get open(): number {
    return this.received.size;
  }

  get holding(): number {
    return [...this.received.values()].filter((bytes) => bytes > 0).length;
  }

  readEverything(): void {
    this.reading = true;
    for (const socket of this.received.keys()) socket.resume();
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  async close(): Promise<void> {
    for (const socket of this.received.keys()) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** An upstream that closes every connection as soon as it accepts it. */
async function startClosingUpstream(): Promise<Server> {
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

/** An upstream that starts a 200 (fixed length, or chunked on /cut/chunked) and drops the connection after 100 bytes of it. */
async function startCuttingUpstream(): Promise<HttpServer> {
  const server = createHttpServer((incoming, response) => {
    incoming.resume();
    response.writeHead(200, { 'content-type': 'text/plain', ...(incoming.url?.endsWith('/chunked') ? {} : { 'content-length': '1000' }) });
    response.write('x'.repeat(100), () => setTimeout(() => response.socket?.destroy(), 20));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

const portOf = (server: Server | HttpServer) => (server.address() as AddressInfo).port;

function metric(text: string, name: string): number {
  const match = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  if (!match) throw new Error(`no ${name} in the metrics`);
  return Number(match[1]);
}

let mesh: TestMesh;
let controlPlane: ControlPlane;
let orders: RecordingUpstream;
let gateways: GatewayProcess[];
let proxies: OutageProxy[];
let silent: SilentUpstream;
let sink: SilentUpstream;
let closing: Server;
let cutting: HttpServer;
const extraGateways: GatewayProcess[] = [];

async function applyAndWait(...resources: Array<Parameters<ControlPlane['apply']>[0]>): Promise<void> {
  let revision = 0;
  for (const resource of resources) revision = Number((await controlPlane.apply(resource)).metadata.resourceVersion);
  for (const gateway of gateways) await eventually(`${gateway.name} at revision ${revision}`, () => gateway.config(), (config) => config?.revision >= revision);
}

beforeAll(async () => {
  [silent, sink, closing, cutting] = await Promise.all([new SilentUpstream({ reads: true }).start(), new SilentUpstream({ reads: false }).start(), startClosingUpstream(), startCuttingUpstream()]);
  mesh = await TestMesh.start('portolan-faults-', {
    upstreams: ['orders'],
    gateways: [],
    configure: async ({ controlPlane, upstreams }) => {
      await controlPlane.apply(service('orders', [{ port: upstreams.orders.port }]));
      await controlPlane.apply(service('silent', [{ port: silent.port }]));
      await controlPlane.apply(service('uploads', [{ port: sink.port }]));
      await controlPlane.apply(service('closing', [{ port: portOf(closing) }]));
      await controlPlane.apply(service('cutting', [{ port: portOf(cutting) }]));
      for (const [name, prefix] of [['orders', '/orders'], ['silent', '/silent'], ['uploads', '/uploads'], ['closing', '/closing'], ['cutting', '/cut']]) await controlPlane.apply(route(name, prefix));
      // Another way to the uploads' upstream, with a short deadline.
      await controlPlane.apply(route('uploads-quick', '/quick', 'uploads'));
    },
  });
  controlPlane = mesh.controlPlane;
  orders = mesh.upstreams.orders;
  const port = Number(new URL(controlPlane.apiUrl).port);
  proxies = await Promise.all(Array.from({ length: 5 }, () => new OutageProxy({ host: '127.0.0.1', port }).start()));
  gateways = proxies.map(
    (proxy, i) => new GatewayProcess(`faults-gw-${i}`, controlPlane, { zone: 'zone-a', transport: 'websocket', root: mesh.root, extraArgs: ['--control-plane', proxy.url, '--reconnect-max', '8s'] }),
  );
  await Promise.all(gateways.map((gateway) => gateway.start()));
  mesh.gateways.push(...gateways);
  await applyAndWait(
    { kind: 'TimeoutPolicy', metadata: { name: 'silent-timeout' }, spec: { targetRef: { kind: 'Route', name: 'silent' }, requestTimeout: '1500ms' } },
    { kind: 'TimeoutPolicy', metadata: { name: 'quick-timeout' }, spec: { targetRef: { kind: 'Route', name: 'uploads-quick' }, requestTimeout: '1500ms' } },
    { kind: 'TimeoutPolicy', metadata: { name: 'uploads-timeout' }, spec: { targetRef: { kind: 'Route', name: 'uploads' }, requestTimeout: '5s' } },
  );
});

afterAll(async () => {
  await Promise.all(extraGateways.map((gateway) => gateway.stop()));
  await mesh?.stop();
  await Promise.all([...(proxies ?? []).map((proxy) => proxy.close()), silent?.close(), sink?.close(), new Promise((resolve) => closing?.close(resolve)), new Promise((resolve) => cutting?.close(resolve))]);
});

describe('upstream faults', () => {
  it('answers 504 at the request timeout when the upstream accepts and never answers, serving others meanwhile, and lets go of its connections', async () => {
    const gateway = gateways[0];
    const client = new Agent({ connections: 20 });
    const hung = Array.from({ length: 10 }, () => send(gateway.proxyUrl, '/silent', { dispatcher: client }).then((answer) => ({ ...answer, at: Date.now() })));
    await eventually('the upstream to hold the requests', () => silent.holding, (holding) => holding >= 10);
    const others = await Promise.all(Array.from({ length: 10 }, () => send(gateway.proxyUrl, '/orders', { dispatcher: client }).then((answer) => ({ ...answer, at: Date.now() }))));
    const timedOut = await Promise.all(hung);
    expect(others.map((answer) => answer.status)).toEqual(Array(10).fill(200));
    expect(timedOut.map((answer) => answer.status)).toEqual(Array(10).fill(504));
    expect(Math.max(...others.map((answer) => answer.at))).toBeLessThan(Math.min(...timedOut.map((answer) => answer.at)));
    await eventually('the gateway to drop the connections that carried them', () => silent.holding, (holding) => holding === 0);
    await client.close();
  });

  it('answers 502 naming the upstream when it closes the connection right after accepting it', async () => {
    const answer = await send(gateways[0].proxyUrl, '/closing');
    expect(answer.status).toBe(502);
    expect(JSON.parse(answer.text).error).toContain(`upstream 127.0.0.1:${portOf(closing)}`);
    expect((await send(gateways[0].proxyUrl, '/orders')).status).toBe(200);
  });

  it.each(['/cut', '/cut/chunked'])('cuts the answer to the client when the upstream drops the connection in the middle of it (%s)', async (path) => {
    const response = await request(`${gateways[0].proxyUrl}${path}`);
    expect(response.statusCode).toBe(200);
    // The client must be able to tell: a truncated body never arrives as a complete one.
    await expect(response.body.text()).rejects.toThrow();
    expect((await send(gateways[0].proxyUrl, '/orders')).status).toBe(200);
  });
});

describe('slow clients', () => {
  it('serves others while bodies and headers trickle in, holds bounded memory, and frees every connection when they leave', async () => {
    const gateway = gateways[0];
    const before = await gateway.metrics();
    const baseline = { connections: metric(before, 'portolan_gateway_open_connections'), rss: metric(before, 'process_resident_memory_bytes') };
    const { hostname, port } = new URL(gateway.proxyUrl);
    const open = (head: string, body?: Buffer) =>
      new Promise<Socket>((resolve) => {
        const socket = connect(Number(port), hostname, () => {
          socket.write(head);
          if (body) socket.write(body);
          resolve(socket);
        });
        socket.on('error', () => undefined);
      });
    // 150 bodies of 60 KiB that stall after 48 KiB, then trickle a byte at a time (small enough to
    // be kept for a retry: the gateway holds them until they end)…
    const trickling = await Promise.all(Array.from({ length: 150 }, () => open(`POST /orders HTTP/1.1\r\nhost: faults\r\ncontent-length: ${60 * 1024}\r\n\r\n`, Buffer.alloc(48 * 1024, 'a'))));
    // …70 uploads of 2 MiB sent at once to an upstream that reads nothing: they stream, 64 of them
    // on every connection to it and 6 waiting for one; held whole they would take 140 MiB…
    const upload = Buffer.alloc(2 * MiB, 'u');
    const uploading = await Promise.all(Array.from({ length: 70 }, () => open(`POST /uploads HTTP/1.1\r\nhost: faults\r\ncontent-length: ${upload.length}\r\n\r\n`, upload)));
    // …and 20 requests whose headers never end.
    const heading = await Promise.all(Array.from({ length: 20 }, () => open('GET /orders HTTP/1.1\r\nhost: faults\r\n')));
    const trickle = setInterval(() => {
      for (const socket of trickling) socket.write('a');
      for (const socket of heading) socket.write('x-slow: 1\r\n');
    }, 200);
    try {
      await eventually(
        'every slow client connected, and every connection to the upload upstream busy',
        async () => ({ text: await gateway.metrics(), streaming: sink.open }),
        ({ text, streaming }) => metric(text, 'portolan_gateway_open_connections') >= baseline.connections + 240 && metric(text, 'portolan_gateway_requests_in_flight') >= 220 && streaming >= 64,
      );
      const client = new Agent({ connections: 10 });
      const [answers, waitedForUploads] = await Promise.all([
        Promise.all(Array.from({ length: 30 }, () => send(gateway.proxyUrl, '/orders', { dispatcher: client }))),
        // Behind the uploads, for a connection to the same upstream: answered at its deadline, not after them.
        send(gateway.proxyUrl, '/quick', { dispatcher: client }),
      ]);
      expect(answers.map((answer) => answer.status)).toEqual(Array(30).fill(200));
      expect(waitedForUploads.status).toBe(504);
      expect(JSON.parse(waitedForUploads.text).error).toContain('waiting for a connection');
      await client.close();
      const during = metric(await gateway.metrics(), 'process_resident_memory_bytes');
      // Generous: the gateway holds about 64 KiB per request; the uploads alone, held whole, would be 140 MiB.
      expect(during - baseline.rss).toBeLessThan(96 * MiB);
    } finally {
      clearInterval(trickle);
      for (const socket of [...trickling, ...uploading, ...heading]) socket.destroy();
      sink.readEverything();
    }
    // The clients' connections go at once. The tries to the upstream end once it reads again (their
    // clients gone, nothing is left to send), or at the request timeout (5 s) for an upload whose
    // whole body had reached the gateway and waits for its answer, as any request whose client left.
    await eventually(
      'the slow clients and the connections to the upload upstream to be let go',
      async () => ({ text: await gateway.metrics(), streaming: sink.holding }),
      ({ text, streaming }) =>
        metric(text, 'portolan_gateway_open_connections') <= baseline.connections &&
        metric(text, 'portolan_gateway_requests_in_flight') === 0 &&
        metric(text, 'portolan_gateway_upstream_requests_in_flight') === 0 &&
        streaming === 0,
    );
    expect((await send(gateway.proxyUrl, '/orders')).status).toBe(200);
  });
});

describe('a gateway killed in the middle of requests', () => {
  it('fails only its own requests; the others are answered, and it comes back serving from its last good configuration', async () => {
    const [victim, neighbour] = gateways;
    orders.respond = () => ({ status: 200, delayMs: 1_500 });
    const seen = orders.requests.length;
    // Settled at once, so a failure is not an unhandled rejection while the test waits for the kill.
    const onVictim = Array.from({ length: 5 }, () => send(victim.proxyUrl, '/orders').then((answer) => answer.status, (error: Error) => error.message));
    const onNeighbour = Array.from({ length: 5 }, () => send(neighbour.proxyUrl, '/orders'));
    await eventually('the requests to reach the upstream', () => orders.requests.length, (n) => n >= seen + 10);
    victim.signal('SIGKILL');
    expect(await victim.exited()).toBe('SIGKILL');
    // Out of routing at once, not after its TTL (three heartbeats): its stream ended without a goodbye.
    const taken = await eventually('the control plane to take it out of routing', () => controlPlane.gatewayNode(victim.name), (node) => node.status?.phase === 'Offline');
    expect(taken.status.conditions).toEqual([expect.objectContaining({ type: 'Ready', reason: 'StreamLost' })]);
    for (const outcome of await Promise.all(onVictim)) expect(outcome).toMatch(/other side closed|socket hang up|ECONNRESET/);
    expect((await Promise.all(onNeighbour)).map((answer) => answer.status)).toEqual(Array(5).fill(200));
    orders.respond = () => ({ status: 200 });

    await victim.start();
    expect(victim.output()).toContain('serving the last good configuration from disk');
    expect((await send(victim.proxyUrl, '/orders')).status).toBe(200);
    expect(readdirSync(victim.stateDir).filter((name) => name.includes('.corrupt-'))).toEqual([]);
    await eventually('the control plane to see it synced', () => controlPlane.gatewayNode(victim.name), (node) => node.status?.synced === true && node.status?.phase === 'Healthy');
  });
});

describe('the gateway state directory', () => {
  it('moves a damaged last good configuration aside, says so, and starts with the configuration the control plane sends', async () => {
    const gateway = new GatewayProcess('faults-damaged-state', controlPlane, { zone: 'zone-a', root: mesh.root });
    extraGateways.push(gateway);
    const damaged = '{"version": "41.c0ffee", "revision": 41, "routes": [{"route": {"na';
    mkdirSync(gateway.stateDir, { recursive: true });
    writeFileSync(join(gateway.stateDir, 'last-good-config.json'), damaged);
    const revision = Number((await controlPlane.get('TimeoutPolicy', 'uploads-timeout')).metadata.resourceVersion);
    await gateway.start();
    await eventually('the configuration from the control plane', () => gateway.config(), (config) => config?.revision >= revision);
    const logged = gateway.output().split('\n').find((line) => line.includes('the last good configuration on disk is damaged'));
    const aside = readdirSync(gateway.stateDir).filter((name) => name.startsWith('last-good-config.json.corrupt-'));
    expect(aside).toHaveLength(1);
    expect(JSON.parse(logged!)).toMatchObject({ level: 'error', file: join(gateway.stateDir, 'last-good-config.json'), movedTo: join(gateway.stateDir, aside[0]), reason: expect.stringMatching(/^not JSON/) });
    expect(readFileSync(join(gateway.stateDir, aside[0]), 'utf8')).toBe(damaged);
    expect(JSON.parse(readFileSync(join(gateway.stateDir, 'last-good-config.json'), 'utf8')).revision).toBeGreaterThanOrEqual(revision);
    expect((await send(gateway.proxyUrl, '/orders')).status).toBe(200);
    await gateway.stop();
  });

  it('starts and runs its configuration (ACKed, not NACKed) when it cannot write its state directory, saying so in its log and metrics', async () => {
    // Permissions do not stop root: as root the gateway runs as nobody, in a directory it may read but not write.
    const runAs = process.getuid?.() === 0 ? { uid: 65_534, gid: 65_534 } : {};
    const dir = tempDir('portolan-faults-readonly-');
    chmodSync(dir, 0o755);
    copyFileSync(controlPlane.caFile, join(dir, 'ca.crt'));
    chmodSync(join(dir, 'ca.crt'), 0o644);
    const stateDir = join(dir, 'state');
    mkdirSync(stateDir, { mode: 0o555 });
    chmodSync(stateDir, 0o555);
    let output = '';
    const child: ChildProcess = spawn(
      process.execPath,
      [GATEWAY_MAIN, '--control-plane', controlPlane.apiUrl, '--ca-file', join(dir, 'ca.crt'), '--bootstrap-token', BOOTSTRAP_TOKEN, '--name', 'faults-readonly-state', '--zone', 'zone-a', '--pool', 'edge', '--listen', '127.0.0.1:0', '--admin-listen', '127.0.0.1:0', '--state-dir', stateDir],
      { env: { ...process.env, PORTOLAN_LOG_LEVEL: 'info' }, stdio: ['ignore', 'ignore', 'pipe'], ...runAs },
    );
    child.stderr!.on('data', (chunk) => (output += chunk));
    const exited = new Promise((resolve) => child.on('exit', resolve));
    try {
      const lines = () => output.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, any>);
      const listening = await eventually('the gateway to listen', () => lines().find((line) => line.msg === 'gateway listening'), (line) => line !== undefined);
      const node = await eventually('the control plane to see it synced', () => controlPlane.gatewayNode('faults-readonly-state'), (found) => found.status?.synced === true);
      expect(node.status.lastNack).toBeUndefined();
      expect((await send(listening!.proxyUrl, '/orders')).status).toBe(200);
      const metrics = await (await request(`${listening!.adminUrl}/metrics`)).body.text();
      expect(metric(metrics, 'portolan_gateway_config_persisted')).toBe(0);
      expect(lines().find((line) => line.msg.startsWith('cannot write the state directory'))).toMatchObject({ level: 'warn', stateDir });
      const saveFailures = lines().filter((line) => line.msg.startsWith('cannot save the configuration to the state directory'));
      expect(saveFailures).toHaveLength(1);
      expect(saveFailures[0]).toMatchObject({ level: 'error', file: join(stateDir, 'last-good-config.json') });
      expect(saveFailures[0].msg).toContain('make the directory writable by the user the gateway runs as, or set --state-dir');
      expect(existsSync(join(stateDir, 'last-good-config.json'))).toBe(false);
    } finally {
      child.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** Requests sent one after another through a gateway until stopped; every answer and failure kept with its time. */
function keepSending(gatewayUrl: string, everyMs: number) {
  const answered: number[] = [];
  const failed: Array<{ at: number; status?: number; error?: string }> = [];
  const client = new Agent({ connections: 1 });
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const at = Date.now();
      try {
        const { status } = await send(gatewayUrl, '/orders', { dispatcher: client });
        if (status >= 200 && status < 300) answered.push(at);
        else failed.push({ at, status });
      } catch (error) {
        failed.push({ at, error: (error as Error).message });
      }
      await sleep(everyMs);
    }
  })();
  return {
    answered,
    failed,
    stop: async () => {
      stopped = true;
      await loop;
      await client.close();
    },
  };
}

describe('the control plane killed mid-rollout, then unreachable for 60 s', () => {
  it('fails no proxied request, loses nothing acknowledged, converges every gateway, and brings the config streams back spread out', async () => {
    const traffic = gateways.map((gateway) => keepSending(gateway.proxyUrl, 100));

    // A rollout in progress: four writers add routes, each pushed to every gateway as it commits;
    // the control plane is killed once 20 writes were acknowledged.
    const acknowledged = new Map<string, number>();
    let reached!: () => void;
    const twentyAcknowledged = new Promise<void>((resolve) => (reached = resolve));
    const writer = async (id: number) => {
      for (let i = 0; ; i++) {
        const name = `rollout-${id}-${i}`;
        try {
          const stored = await controlPlane.apply(route(name, `/rollout/${id}/${i}`, 'orders'));
          acknowledged.set(name, Number(stored.metadata.resourceVersion));
          if (acknowledged.size >= 20) reached();
        } catch {
          return;
        }
      }
    };
    const writers = Array.from({ length: 4 }, (_, id) => writer(id));
    await Promise.race([twentyAcknowledged, Promise.all(writers)]);
    const outageStart = Date.now();
    const killed = controlPlane.kill();
    for (const proxy of proxies) proxy.refuse();
    await killed;
    await Promise.all(writers);
    expect(acknowledged.size).toBeGreaterThanOrEqual(20);

    // Restarted while the gateways cannot reach it: every acknowledged write is there, at the revision it was acknowledged with.
    await controlPlane.start();
    const stored = new Map<string, any>((await controlPlane.call('GET', '/apis/mesh.portolan.dev/v1alpha1/namespaces/default/routes')).body.items.map((item: any) => [item.metadata.name, item]));
    for (const [name, resourceVersion] of acknowledged) expect(Number(stored.get(name)?.metadata.resourceVersion), name).toBe(resourceVersion);
    const finalRevision = Number((await controlPlane.apply({ kind: 'TimeoutPolicy', metadata: { name: 'after-outage' }, spec: { targetRef: { kind: 'Mesh' }, requestTimeout: '9s' } })).metadata.resourceVersion);

    await sleepUntil(outageStart + OUTAGE_MS / 2);
    for (const proxy of proxies) proxy.blackhole();
    await sleepUntil(outageStart + OUTAGE_MS);
    const returnedAt = Date.now();
    for (const proxy of proxies) proxy.forward();

    for (const gateway of gateways) {
      const config = await eventually(`${gateway.name} to converge`, () => gateway.config(), (c) => c?.revision >= finalRevision, 40_000);
      const routes = new Set(config.routes.map((r: any) => r.route.name));
      for (const name of acknowledged.keys()) expect(routes.has(name), `${gateway.name} runs ${name}`).toBe(true);
      await eventually(`the control plane to see ${gateway.name} synced`, () => controlPlane.gatewayNode(gateway.name), (node) => node.status?.synced === true && node.status?.phase === 'Healthy', 20_000);
    }
    await Promise.all(traffic.map((sender) => sender.stop()));

    const phases = [
      ['before the kill', 0, outageStart],
      ['port closed', outageStart, outageStart + OUTAGE_MS / 2],
      ['blackholed', outageStart + OUTAGE_MS / 2, returnedAt],
      ['back', returnedAt, Infinity],
    ] as const;
    for (const [i, sender] of traffic.entries()) {
      expect(sender.failed, gateways[i].name).toEqual([]);
      for (const [phase, from, to] of phases) expect(sender.answered.filter((at) => at >= from && at < to).length, `${gateways[i].name} ${phase}`).toBeGreaterThan(0);
    }

    // Full jitter spreads the streams' return over seconds; without it, gateways cut off at the same
    // instant would retry in lockstep and all come back within a few milliseconds of each other.
    // Five independent waits of 0 to 8 s all within 100 ms: well under once in 100,000 runs.
    const reconnectedAt = proxies.map((proxy) => proxy.accepted.find((connection) => connection.alpn === false && connection.at >= returnedAt)?.at);
    expect(reconnectedAt.every((at) => at !== undefined), JSON.stringify(reconnectedAt)).toBe(true);
    const times = reconnectedAt as number[];
    expect(Math.max(...times) - Math.min(...times), JSON.stringify(times.map((at) => at - returnedAt))).toBeGreaterThan(100);
  });
});
