/**
 * A small in-process control plane speaking the agent protocol over real HTTPS and WebSocket, with
 * knobs for the failures the client must survive (refused upgrades, removed nodes, dropped or
 * silent streams, unavailable registration) and a record of everything the client sent.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { failureStatus, parseDuration, type StatusReason } from '@portolan/api';
import { PATHS, type AckRequest, type HeartbeatRequest, type Snapshot, type TapBatch, type TapRequest } from '../protocol.js';
import type { TestCertificate } from './test-certificate.js';

export const BOOTSTRAP_TOKEN = 'bootstrap-secret';

export interface FakeControlPlaneOptions {
  certificate: TestCertificate;
  heartbeatIntervalMs?: number;
  /** The server pings every stream this often; by default it never does. */
  pingIntervalMs?: number;
  /** False: never answer the client's pings, like a host that vanished without closing. */
  autoPong?: boolean;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: unknown;
}

export interface RecordedAck {
  nodeId: string;
  transport: 'websocket' | 'long-poll';
  ack: AckRequest;
}

interface FakeNode {
  id: string;
  name: string;
  credential: string;
  draining: boolean;
}

interface LongPollWaiter {
  isNew: (snapshot: Snapshot) => boolean;
  answer: (snapshot: Snapshot) => void;
}

const NODE_PATH = /^\/agent\/v1\/nodes\/([^/]+)(?:\/(heartbeat|snapshot|acks|drain|stream|tap))?$/;

export function testSnapshot(revision: number, version = `${revision}.v`): Snapshot {
  return {
    version,
    revision,
    gateway: { id: 'gw', name: 'edge-1', zone: 'zone-a', pool: 'edge' },
    share: { pool: 'edge', size: 1, index: 0 },
    routes: [],
  };
}

export class FakeControlPlane {
  readonly requests: RecordedRequest[] = [];
  readonly registrations: Array<{ authorization: string | undefined; body: unknown }> = [];
  readonly heartbeats: Array<{ nodeId: string; at: number; body: HeartbeatRequest }> = [];
  readonly acks: RecordedAck[] = [];
  readonly longPolls: Array<{ ifNoneMatch: string | undefined; revision: string | null; status: number }> = [];
  readonly upgrades: Array<{ nodeId: string; authorization: string | undefined; status: number }> = [];
  /** How each accepted stream ended: the close code `ws` reported (1006: no close frame came). */
  readonly streamCloseCodes: number[] = [];
  /** While set, upgrades are answered with this status, as by a proxy that strips them. */
  refuseUpgrades: number | undefined;
  /** This many registrations are answered 503 before one succeeds. */
  unavailableRegistrations = 0;
  /** While set, heartbeats are answered with this status. */
  heartbeatStatus: number | undefined;
  /** While set, heartbeat answers carry this tap (an operator taps the node). */
  tap: TapRequest | undefined;
  readonly tapBatches: Array<{ nodeId: string; body: TapBatch }> = [];
  private readonly connections = new Set<Duplex>();
  private readonly nodes = new Map<string, FakeNode>();
  private readonly waiters = new Set<LongPollWaiter>();
  private readonly wss: WebSocketServer;
  private readonly pinger: NodeJS.Timeout | undefined;
  private current: Snapshot | undefined;
  private registered = 0;
  private port = 0;

  private constructor(
    private readonly server: Server,
    private readonly options: FakeControlPlaneOptions,
  ) {
    this.wss = new WebSocketServer({ noServer: true, autoPong: options.autoPong ?? true });
    server.on('connection', (socket: Duplex) => {
      this.connections.add(socket);
      socket.on('close', () => this.connections.delete(socket));
    });
    server.on('request', (request: IncomingMessage, response: ServerResponse) => void this.handle(request, response));
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => this.upgrade(request, socket, head));
    if (options.pingIntervalMs) this.pinger = setInterval(() => this.wss.clients.forEach((client) => client.ping()), options.pingIntervalMs);
  }

  static async start(options: FakeControlPlaneOptions): Promise<FakeControlPlane> {
    const server = createServer({ key: options.certificate.keyPem, cert: options.certificate.certPem });
    const controlPlane = new FakeControlPlane(server, options);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    controlPlane.port = (server.address() as AddressInfo).port;
    return controlPlane;
  }

  /** Stays valid after close(), to point a client at a port nobody listens on. */
  get url(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  get nodeIds(): string[] {
    return [...this.nodes.keys()];
  }

  /** TCP connections from clients still open, streams and idle keep-alive ones included. */
  get openConnections(): number {
    return this.connections.size;
  }

  get openStreams(): number {
    return this.wss.clients.size;
  }

  /** Makes `snapshot` current: pushed to every stream, answered to every waiting long-poll. */
  publish(snapshot: Snapshot): Snapshot {
    this.current = snapshot;
    for (const client of this.wss.clients) this.push(client, snapshot);
    for (const waiter of [...this.waiters]) if (waiter.isNew(snapshot)) waiter.answer(snapshot);
    return snapshot;
  }

  /** Forgets a node, as the control plane does after a long Offline: its endpoints answer 404. */
  removeNode(id: string): void {
    this.nodes.delete(id);
  }

  dropStreams(): void {
    for (const client of this.wss.clients) client.terminate();
  }

  async close(): Promise<void> {
    clearInterval(this.pinger);
    this.dropStreams();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private push(client: WebSocket, snapshot: Snapshot): void {
    // Split in two fragments, as the real control plane writes shared route bytes separately.
    const frame = JSON.stringify({ type: 'snapshot', snapshot });
    const middle = Math.floor(frame.length / 2);
    client.send(frame.slice(0, middle), { fin: false, binary: false });
    client.send(frame.slice(middle), { fin: true, binary: false });
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const url = new URL(request.url ?? '/', 'https://127.0.0.1');
    const body: unknown = text ? JSON.parse(text) : undefined;
    this.requests.push({ method: request.method ?? '', path: url.pathname, query: url.searchParams, headers: request.headers, body });

    if (request.method === 'POST' && url.pathname === PATHS.register) return this.register(request, response, body);
    const match = NODE_PATH.exec(url.pathname);
    const node = match && this.authenticate(request.headers.authorization, decodeURIComponent(match[1]), response);
    if (!match) return fail(response, 404, 'NotFound', `no route for ${url.pathname}`);
    if (!node) return;
    const endpoint = match[2];
    if (request.method === 'POST' && endpoint === 'heartbeat') {
      this.heartbeats.push({ nodeId: node.id, at: performance.now(), body: body as HeartbeatRequest });
      if (this.heartbeatStatus) return fail(response, this.heartbeatStatus, 'ServiceUnavailable', 'heartbeats are failing on purpose');
      return json(response, 200, { lifecycle: node.draining ? 'Draining' : 'Healthy', heartbeatIntervalMs: this.heartbeatIntervalMs, ttlMs: 3 * this.heartbeatIntervalMs, ...(this.tap ? { tap: this.tap } : {}) });
    }
    if (request.method === 'POST' && endpoint === 'tap') {
      this.tapBatches.push({ nodeId: node.id, body: body as TapBatch });
      response.writeHead(204).end();
      return;
    }
    if (request.method === 'GET' && endpoint === 'snapshot') return this.longPoll(request, response, url);
    if (request.method === 'POST' && endpoint === 'acks') {
      this.acks.push({ nodeId: node.id, transport: 'long-poll', ack: body as AckRequest });
      response.writeHead(204).end();
      return;
    }
    if (request.method === 'POST' && endpoint === 'drain') {
      node.draining = true;
      return json(response, 200, { lifecycle: 'Draining', propagated: true, pending: [] });
    }
    if (request.method === 'DELETE' && endpoint === undefined) {
      this.nodes.delete(node.id);
      return json(response, 200, { id: node.id, name: node.name, removed: true });
    }
    fail(response, 405, 'MethodNotAllowed', `${request.method} ${url.pathname} is not allowed`);
  }

  private get heartbeatIntervalMs(): number {
    return this.options.heartbeatIntervalMs ?? 50;
  }

  private register(request: IncomingMessage, response: ServerResponse, body: unknown): void {
    this.registrations.push({ authorization: request.headers.authorization, body });
    if (request.headers.authorization !== `Bearer ${BOOTSTRAP_TOKEN}`) return fail(response, 401, 'Unauthorized', 'Unauthorized: the bearer token is not valid');
    if (this.unavailableRegistrations > 0) {
      this.unavailableRegistrations--;
      return fail(response, 503, 'ServiceUnavailable', 'the registry is starting');
    }
    const registration = body as { name?: string; zone?: string };
    if (!registration.zone) {
      return fail(response, 422, 'Invalid', 'GatewayNode is invalid: spec.zone: Required value', { causes: [{ field: 'spec.zone', message: 'Required value', reason: 'FieldValueRequired' }] });
    }
    const n = ++this.registered;
    const node = { id: `node-${n}`, name: registration.name ?? `gateway-${n}`, credential: `credential-${n}`, draining: false };
    this.nodes.set(node.id, node);
    json(response, 201, { id: node.id, name: node.name, credential: node.credential, heartbeatIntervalMs: this.heartbeatIntervalMs, ttlMs: 3 * this.heartbeatIntervalMs });
  }

  private authenticate(authorization: string | undefined, id: string, response: ServerResponse): FakeNode | undefined {
    const node = this.nodes.get(id);
    if (!node) {
      fail(response, 404, 'NotFound', `node ${id} is not registered (removed, or registered again under a new id): register again`);
      return undefined;
    }
    if (authorization !== `Bearer ${node.credential}`) {
      fail(response, 401, 'Unauthorized', `Unauthorized: node ${id} needs its registration credential`);
      return undefined;
    }
    return node;
  }

  private longPoll(request: IncomingMessage, response: ServerResponse, url: URL): void {
    const ifNoneMatch = request.headers['if-none-match'];
    const held = ifNoneMatch?.replace(/^"|"$/g, '');
    const revision = url.searchParams.has('revision') ? Number(url.searchParams.get('revision')) : undefined;
    const isNew = (snapshot: Snapshot) => (held !== undefined ? snapshot.version !== held : revision === undefined || snapshot.revision > revision);
    const record = (status: number) => this.longPolls.push({ ifNoneMatch, revision: url.searchParams.get('revision'), status });
    const answer = (snapshot: Snapshot) => {
      record(200);
      response.writeHead(200, { 'content-type': 'application/json', etag: `"${snapshot.version}"`, 'x-portolan-revision': String(snapshot.revision) });
      response.end(JSON.stringify(snapshot));
    };
    if (this.current && isNew(this.current)) return answer(this.current);
    const waiter: LongPollWaiter = {
      isNew,
      answer: (snapshot) => {
        finish();
        answer(snapshot);
      },
    };
    const finish = () => {
      clearTimeout(timer);
      this.waiters.delete(waiter);
    };
    const timer = setTimeout(() => {
      finish();
      record(304);
      response.writeHead(304).end();
    }, parseDuration(url.searchParams.get('wait') ?? '30s'));
    response.on('close', finish);
    this.waiters.add(waiter);
  }

  private upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const match = NODE_PATH.exec(new URL(request.url ?? '/', 'https://127.0.0.1').pathname);
    const nodeId = match ? decodeURIComponent(match[1]) : '';
    const node = this.nodes.get(nodeId);
    const authorization = request.headers.authorization;
    const refusal: [number, StatusReason] | undefined =
      match?.[2] !== 'stream'
        ? [404, 'NotFound']
        : this.refuseUpgrades !== undefined
          ? [this.refuseUpgrades, 'BadRequest']
          : !node || authorization !== `Bearer ${node.credential}`
            ? [401, 'Unauthorized']
            : undefined;
    this.upgrades.push({ nodeId, authorization, status: refusal?.[0] ?? 101 });
    if (refusal) {
      const body = JSON.stringify(failureStatus(refusal[0], refusal[1], `the upgrade was refused with ${refusal[0]} on purpose`));
      socket.end(`HTTP/1.1 ${refusal[0]} ${refusal[1]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      return;
    }
    this.wss.handleUpgrade(request, socket, head, (client) => {
      client.on('message', (data) => {
        const message = JSON.parse(data.toString()) as { type: string; ack: AckRequest };
        if (message.type === 'ack') this.acks.push({ nodeId, transport: 'websocket', ack: message.ack });
      });
      client.on('close', (code) => this.streamCloseCodes.push(code));
      if (this.current) this.push(client, this.current);
    });
  }
}

function json(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

function fail(response: ServerResponse, status: number, reason: StatusReason, message: string, details?: Parameters<typeof failureStatus>[3]): void {
  json(response, status, failureStatus(status, reason, message, details));
}
