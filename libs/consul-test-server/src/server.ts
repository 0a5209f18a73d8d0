/**
 * A TEST DOUBLE of Consul's HTTP API, not Consul (see index.ts): built from Consul's API docs; the
 * adapter suite also runs against a real Consul when CONSUL_HTTP_ADDR is set.
 *
 * The HTTP front of the double: routing, the ACL token, Consul's response headers, errors as
 * plain text, and the listener's outage controls (stop/resume keep every piece of state and every
 * timer running, as Consul's servers do while a client cannot reach them).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import {
  agentChecks,
  agentService,
  agentServices,
  checkUpdate,
  clearCheckTimers,
  deregisterCheck,
  deregisterServiceRoute,
  registerService,
  serviceMaintenance,
  startReaper,
  ttlUpdate,
} from './agent.js';
import { catalogNodes, catalogService, catalogServices, healthChecks, healthNode, healthService, healthState } from './health-catalog.js';
import { resolveAclTokens, type AclOptions, type KeyAuthorizer } from './acl.js';
import { HttpError, type ConsulReply, type ConsulRequest } from './http.js';
import { kvDeleteRoute, kvGet, kvPut } from './kv.js';
import { createQuery, deleteQuery, executeQuery, explainQuery, listQueries, readQuery, updateQuery } from './prepared-queries.js';
import { clearSessionTimers, createSession, destroySession, renewSession, sessionInfo, sessionList } from './sessions.js';
import { ConsulState, type ResolvedOptions } from './state.js';
import { transaction } from './txn.js';

export interface ConsulTestServerOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (any free port). */
  port?: number;
  /**
   * Turns ACLs on with this token allowed everything. With ACLs on, every request but /v1/status/*
   * must carry a known token (X-Consul-Token, `Authorization: Bearer`, or the deprecated `?token=`):
   * none is 403 "Permission denied", an unknown one 403 "ACL not found".
   */
  aclToken?: string;
  /** Turns ACLs on with these tokens, each limited by its key rules (see acl.ts). */
  acl?: AclOptions;
  /** Shortest session TTL accepted; Consul's is 10s (api-docs/session: "between 10s and 86400s"). */
  minSessionTtlMs?: number;
  /** Period of the DeregisterCriticalServiceAfter reaper; Consul's is 30s. */
  reapIntervalMs?: number;
  /** Floor of DeregisterCriticalServiceAfter; Consul's is 1m. */
  minDeregisterAfterMs?: number;
  /**
   * Consul's `limits.http_max_conns_per_client` (default 200): how many connections one client IP
   * may hold open at once; past it a new connection is answered 429 and closed. 0 turns it off.
   */
  maxConnsPerClient?: number;
  /** The single node/agent; default 'portolan-test-node'. */
  nodeName?: string;
  /** Default 'dc1'. */
  datacenter?: string;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
}

type Handler = (state: ConsulState, request: ConsulRequest) => ConsulReply | Promise<ConsulReply | undefined>;

interface Route {
  pattern: RegExp;
  methods: Partial<Record<string, Handler>>;
}

const PUT = ['PUT', 'POST'];
/** go-connlimit's body for a connection past `http_max_conns_per_client`. */
const TOO_MANY_CONNECTIONS = 'Your IP is issuing too many concurrent connections, please rate limit your calls\n';

function route(pattern: RegExp, methods: Record<string, Handler>): Route {
  const expanded: Partial<Record<string, Handler>> = {};
  for (const [method, handler] of Object.entries(methods)) {
    for (const alias of method === 'PUT' ? PUT : [method]) expanded[alias] = handler;
  }
  return { pattern, methods: expanded };
}

const ROUTES: Route[] = [
  route(/^\/v1\/kv\/(.*)$/s, { GET: kvGet, PUT: kvPut, DELETE: kvDeleteRoute }),
  route(/^\/v1\/txn$/, { PUT: transaction }),
  route(/^\/v1\/session\/create$/, { PUT: createSession }),
  route(/^\/v1\/session\/destroy\/([^/]+)$/, { PUT: destroySession }),
  route(/^\/v1\/session\/renew\/([^/]+)$/, { PUT: renewSession }),
  route(/^\/v1\/session\/info\/([^/]+)$/, { GET: sessionInfo }),
  route(/^\/v1\/session\/list$/, { GET: sessionList }),
  route(/^\/v1\/session\/node\/([^/]+)$/, { GET: sessionList }),
  route(/^\/v1\/agent\/services$/, { GET: agentServices }),
  route(/^\/v1\/agent\/checks$/, { GET: agentChecks }),
  route(/^\/v1\/agent\/service\/register$/, { PUT: registerService }),
  route(/^\/v1\/agent\/service\/deregister\/(.+)$/, { PUT: deregisterServiceRoute }),
  route(/^\/v1\/agent\/service\/maintenance\/(.+)$/, { PUT: serviceMaintenance }),
  route(/^\/v1\/agent\/service\/(.+)$/, { GET: agentService }),
  route(/^\/v1\/agent\/check\/pass\/(.+)$/, { PUT: ttlUpdate('passing') }),
  route(/^\/v1\/agent\/check\/warn\/(.+)$/, { PUT: ttlUpdate('warning') }),
  route(/^\/v1\/agent\/check\/fail\/(.+)$/, { PUT: ttlUpdate('critical') }),
  route(/^\/v1\/agent\/check\/update\/(.+)$/, { PUT: checkUpdate }),
  route(/^\/v1\/agent\/check\/deregister\/(.+)$/, { PUT: deregisterCheck }),
  route(/^\/v1\/health\/service\/(.+)$/, { GET: healthService }),
  route(/^\/v1\/health\/checks\/(.+)$/, { GET: healthChecks }),
  route(/^\/v1\/health\/state\/(.+)$/, { GET: healthState }),
  route(/^\/v1\/health\/node\/(.+)$/, { GET: healthNode }),
  route(/^\/v1\/catalog\/services$/, { GET: catalogServices }),
  route(/^\/v1\/catalog\/service\/(.+)$/, { GET: catalogService }),
  route(/^\/v1\/catalog\/nodes$/, { GET: catalogNodes }),
  route(/^\/v1\/catalog\/datacenters$/, { GET: (state) => ({ body: [state.options.datacenter] }) }),
  // agent/prepared_query_endpoint.go: POST creates and PUT updates, nothing else (no PUT/POST aliasing).
  { pattern: /^\/v1\/query$/, methods: { GET: listQueries, POST: createQuery } },
  { pattern: /^\/v1\/query\/(.+)\/execute$/s, methods: { GET: executeQuery } },
  { pattern: /^\/v1\/query\/(.+)\/explain$/s, methods: { GET: explainQuery } },
  { pattern: /^\/v1\/query\/(.+)$/s, methods: { GET: readQuery, PUT: updateQuery, DELETE: deleteQuery } },
  route(/^\/v1\/status\/leader$/, { GET: () => ({ body: '127.0.0.1:8300' }) }),
  route(/^\/v1\/status\/peers$/, { GET: () => ({ body: ['127.0.0.1:8300'] }) }),
  // api-docs/agent#read-configuration: the agent's Config (and Member, Stats, which no client here reads).
  route(/^\/v1\/agent\/self$/, { GET: (state) => ({ body: { Config: { Datacenter: state.options.datacenter, NodeName: state.options.nodeName, Server: true }, Member: { Name: state.options.nodeName } } }) }),
];

export class ConsulTestServer {
  /** Requests seen, oldest first (for tests that assert how a client used the API). */
  readonly requests: RecordedRequest[] = [];
  private readonly state: ConsulState;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  /** Open connections per client IP, as Consul counts them for `maxConnsPerClient`. */
  private readonly connectionsByClient = new Map<string, number>();
  /** Connections past the limit: their request is answered 429, then they are closed. */
  private readonly overLimit = new WeakSet<Socket>();
  private refused = 0;
  private peakPerClient = 0;
  private readonly reaper: NodeJS.Timeout;
  private boundPort: number;
  private closed = false;

  private constructor(options: ResolvedOptions) {
    this.state = new ConsulState(options);
    this.boundPort = options.port;
    this.reaper = startReaper(this.state);
  }

  static async start(options: ConsulTestServerOptions = {}): Promise<ConsulTestServer> {
    const server = new ConsulTestServer({
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 0,
      aclTokens: resolveAclTokens(options.aclToken, options.acl),
      minSessionTtlMs: options.minSessionTtlMs ?? 10_000,
      reapIntervalMs: options.reapIntervalMs ?? 30_000,
      minDeregisterAfterMs: options.minDeregisterAfterMs ?? 60_000,
      nodeName: options.nodeName ?? 'portolan-test-node',
      datacenter: options.datacenter ?? 'dc1',
      maxConnsPerClient: options.maxConnsPerClient ?? 200,
    });
    await server.listen();
    return server;
  }

  get host(): string {
    return this.state.options.host;
  }

  get port(): number {
    return this.boundPort;
  }

  /** e.g. 'http://127.0.0.1:8500' */
  get address(): string {
    return `http://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  /** Connections answered 429 because their client IP already held `maxConnsPerClient`. */
  get refusedConnections(): number {
    return this.refused;
  }

  /** The most connections one client IP held open at once, since the start. */
  get peakConnectionsPerClient(): number {
    return this.peakPerClient;
  }

  /** The raft index of the last write. */
  get index(): number {
    return this.state.index;
  }

  /**
   * Simulates an outage: closes the listener and destroys every open socket (in-flight blocking
   * queries end with a socket error) but keeps all state and timers: TTL checks and sessions keep
   * expiring, as on Consul servers a client cannot reach.
   */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
    await closed;
  }

  /** Listens again on the same port, with the same state. */
  async resume(): Promise<void> {
    if (this.closed) throw new Error('ConsulTestServer is closed');
    if (!this.server) await this.listen();
  }

  /** Stops for good and clears every timer. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.reaper);
    clearSessionTimers(this.state);
    clearCheckTimers(this.state);
    await this.stop();
  }

  private async listen(): Promise<void> {
    const server = createServer((request, response) => (this.overLimit.has(request.socket) ? refuseConnection(response) : void this.handle(request, response)));
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      this.countConnection(socket);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.boundPort, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    if (address && typeof address === 'object') this.boundPort = address.port;
    this.server = server;
  }

  /**
   * Consul's per-client connection limit (agent.go hands its HTTP server go-connlimit's
   * HTTPConnStateFuncWithDefault429Handler): a connection is counted from accept to close, whatever
   * it carries, idle keep-alive ones included; one past the limit is refused and not counted.
   */
  private countConnection(socket: Socket): void {
    const client = socket.remoteAddress ?? '';
    const open = this.connectionsByClient.get(client) ?? 0;
    const limit = this.state.options.maxConnsPerClient;
    if (limit > 0 && open >= limit) {
      this.overLimit.add(socket);
      this.refused++;
      return;
    }
    this.connectionsByClient.set(client, open + 1);
    this.peakPerClient = Math.max(this.peakPerClient, open + 1);
    socket.once('close', () => {
      const left = (this.connectionsByClient.get(client) ?? 1) - 1;
      if (left > 0) this.connectionsByClient.set(client, left);
      else this.connectionsByClient.delete(client);
    });
  }

  private async handle(incoming: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(incoming.url ?? '/', 'http://consul');
    const method = (incoming.method ?? 'GET').toUpperCase();
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      path = url.pathname;
    }
    const query = Object.fromEntries(url.searchParams);
    this.requests.push({ method, path, query });

    const aborted = new Promise<void>((resolve) => response.on('close', () => resolve()));
    try {
      const body = await readBody(incoming);
      const acl = this.authorize(path, incoming, url.searchParams);
      const handler = this.findHandler(method, path);
      const request: ConsulRequest = { method, path, query, params: url.searchParams, headers: incoming.headers, body, route: handler.captures, aborted, acl };
      const reply = await handler.handle(this.state, request);
      if (reply === undefined || response.destroyed) return; // the socket went away during a blocking query
      this.send(response, reply);
    } catch (error) {
      if (response.destroyed) return;
      const status = error instanceof HttpError ? error.status : 500;
      this.send(response, { status, body: (error as Error).message, contentType: 'text/plain; charset=utf-8' });
    }
  }

  /** The request token's key rules; 403 for a missing or unknown token; undefined when ACLs are off. */
  private authorize(path: string, incoming: IncomingMessage, params: URLSearchParams): KeyAuthorizer | undefined {
    const tokens = this.state.options.aclTokens;
    if (tokens === undefined || path.startsWith('/v1/status/')) return undefined; // api-docs/status: ACL required "none"
    const header = incoming.headers['x-consul-token'];
    const bearer = /^Bearer\s+(.+)$/i.exec(incoming.headers.authorization ?? '')?.[1];
    const token = (Array.isArray(header) ? header[0] : header) || bearer || params.get('token') || '';
    if (token === '') throw new HttpError(403, 'Permission denied');
    const known = tokens.get(token);
    if (!known) throw new HttpError(403, 'ACL not found');
    return known;
  }

  private findHandler(method: string, path: string): { handle: Handler; captures: string[] } {
    for (const candidate of ROUTES) {
      const match = candidate.pattern.exec(path);
      if (!match) continue;
      const handle = candidate.methods[method];
      if (!handle) throw new HttpError(405, `method ${method} not allowed`);
      return { handle, captures: match.slice(1) };
    }
    throw new HttpError(404, '404 page not found');
  }

  private send(response: ServerResponse, reply: ConsulReply): void {
    const index = Math.max(1, reply.index ?? this.state.index);
    const isBuffer = Buffer.isBuffer(reply.body);
    const payload = isBuffer ? (reply.body as Buffer) : reply.body === undefined ? '' : typeof reply.body === 'string' && reply.contentType ? reply.body : JSON.stringify(reply.body);
    response.writeHead(reply.status ?? 200, {
      'Content-Type': reply.contentType ?? 'application/json',
      'X-Consul-Index': String(index),
      'X-Consul-KnownLeader': 'true',
      'X-Consul-LastContact': '0',
      'X-Consul-Default-Acl-Policy': this.state.options.aclTokens === undefined ? 'allow' : 'deny',
      ...(reply.contentType?.startsWith('text/plain') ? { 'X-Content-Type-Options': 'nosniff' } : {}),
      ...reply.headers,
    });
    response.end(payload);
  }
}

/**
 * go-connlimit writes its 429 on the new connection before reading anything, then closes it; the
 * double answers the connection's first request with the same status, headers and body, then
 * closes it, which a client sees the same way without racing its own request write.
 */
function refuseConnection(response: ServerResponse): void {
  response.writeHead(429, { 'Content-Type': 'text/plain', Connection: 'close' });
  response.end(TOO_MANY_CONNECTIONS);
}

function readBody(incoming: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => resolve(Buffer.concat(chunks)));
    incoming.on('error', reject);
  });
}
