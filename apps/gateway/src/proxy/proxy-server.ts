/**
 * The data path. Every request goes through a fixed chain, each step compiled per config change
 * (enforcement/), never per request:
 *
 *   route match -> rate limit -> connection limit -> circuit breaker -> [retry loop: pick endpoint
 *   (zone preference, outlier ejection, least request) -> per-try timeout -> upstream] -> response
 *
 * Bodies are streamed both ways. A request body is held in memory only while it may still be
 * needed for a retry, and only up to RETRY_BUFFER_LIMIT; a larger body is streamed once and not
 * retried (undici's rule too: never resend a body that was already streamed).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { HeartbeatStats, NackError, Snapshot } from '@portolan/agent-client';
import { createTracing, type Tracer } from '@portolan/telemetry';
import { compileSnapshot, type CompiledRoute, type RouteTable } from './route-runtime.js';
import type { HeartbeatStatsCollector, ServiceCounters } from '../telemetry/heartbeat-stats.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import { RequestTracing, type RequestSpan } from '../telemetry/request-spans.js';
import type { RequestTap } from '../telemetry/request-tap.js';
import { downstreamHeaders, upstreamHeaders } from './forwarded-headers.js';
import { relayAnswer } from './relay-answer.js';
import { UpstreamPools } from './upstream-pools.js';

/** Envoy's default per-request buffer for retries is 1 MiB; 64 KiB covers API calls without letting retries hold much memory. */
const RETRY_BUFFER_LIMIT = 64 * 1024;

/** What one upstream try produced (the retry policy sees it as a TryOutcome). */
type UpstreamResult =
  | { kind: 'response'; status: number; response: Dispatcher.ResponseData }
  | { kind: 'error'; cause: 'connect-failure' | 'reset' | 'timeout'; message: string };

interface ProxyOptions {
  zone: string;
  /** Default `default`, the gateway's default pool. */
  pool?: string;
  /** Default: a tracer that exports nothing (trace ids and context still flow). */
  tracer?: Tracer;
  metrics: GatewayMetrics;
  stats: HeartbeatStatsCollector;
  /** Summaries of finished requests while an operator taps this gateway. */
  tap?: RequestTap;
  clock?: () => number;
  random?: () => number;
}

class RequestBody {
  /** Buffered chunks while the body may be replayed; undefined once it must be streamed. */
  private chunks: Buffer[] | undefined = [];
  /** Chunks already read from a body too large to replay; sent before the rest of the stream. */
  private prefix: Buffer[] = [];
  private streamed = false;

  private constructor(
    private readonly source: AsyncIterator<Buffer>,
    readonly empty: boolean,
  ) {}

  /**
   * Reads up to the retry limit; the rest, if any, stays unread in the request. The iterator is
   * advanced by hand, not with for-await, because leaving a for-await loop destroys the stream.
   */
  static async read(request: IncomingMessage): Promise<RequestBody> {
    const length = request.headers['content-length'];
    const empty = length === undefined ? request.headers['transfer-encoding'] === undefined : Number(length) === 0;
    const body = new RequestBody(request[Symbol.asyncIterator]() as AsyncIterator<Buffer>, empty);
    if (empty) return body;
    if (Number(length) > RETRY_BUFFER_LIMIT) {
      body.chunks = undefined;
      return body;
    }
    let size = 0;
    for (;;) {
      const { value, done } = await body.source.next();
      if (done) return body;
      body.chunks!.push(value);
      size += value.length;
      if (size > RETRY_BUFFER_LIMIT) {
        body.prefix = body.chunks!;
        body.chunks = undefined;
        return body;
      }
    }
  }

  get replayable(): boolean {
    return this.empty || this.chunks !== undefined;
  }

  /** The body for one try: the buffered copy, or (once) the live stream. */
  forTry(): Buffer | Readable | undefined {
    if (this.empty) return undefined;
    if (this.chunks) return Buffer.concat(this.chunks);
    if (this.streamed) throw new Error('the request body was already streamed');
    this.streamed = true;
    const { prefix, source } = this;
    return Readable.from(
      (async function* () {
        yield* prefix;
        for (let next = await source.next(); !next.done; next = await source.next()) yield next.value;
      })(),
    );
  }
}

function errorCause(error: unknown): 'connect-failure' | 'reset' | 'timeout' {
  const code = (error as { code?: string }).code ?? '';
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'connect-failure';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || (error as Error).name === 'AbortError' || code === 'UND_ERR_ABORTED') return 'timeout';
  return 'reset';
}

/** undici's timers tick every half second and fire up to a second late (lib/util/timers.js RESOLUTION_MS). */
const COARSE_TIMER_RESOLUTION_MS = 1_000;

/** A timer for one try: aborts it (through undici's signal) and rejects `passed` once `ms` ran out. */
function preciseDeadline(ms: number, message: string): { signal: AbortSignal; passed: Promise<never>; cancel: () => void } {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const passed = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      const reason = Object.assign(new Error(message), { code: 'UND_ERR_HEADERS_TIMEOUT' });
      controller.abort(reason);
      reject(reason);
    }, ms);
  });
  return { signal: controller.signal, passed, cancel: () => clearTimeout(timer) };
}

const statusClass = (status: number) => `${Math.floor(status / 100)}xx`;

/**
 * The client closed its connection before the answer was complete (mid-stream the relay then fails
 * with ERR_STREAM_PREMATURE_CLOSE, while reading its body with an `aborted` error). The response
 * is then destroyed without an error, whereas one the gateway gives up on (an upstream failing
 * mid-stream) is destroyed with that failure.
 */
const clientWentAway = (response: ServerResponse) => response.destroyed && !response.writableFinished && !response.errored;

export class ProxyServer {
  private table: RouteTable | undefined;
  private snapshot: Snapshot | undefined;
  private rejected: NackError[] = [];
  private readonly pools = new UpstreamPools();
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly clock: () => number;
  private readonly random: () => number;
  private readonly tracing: RequestTracing;
  private inFlight = 0;
  private draining = false;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly options: ProxyOptions) {
    this.clock = options.clock ?? Date.now;
    this.random = options.random ?? Math.random;
    this.tracing = new RequestTracing(options.tracer ?? createTracing({ serviceName: 'portolan-gateway' }).tracer, { zone: options.zone, pool: options.pool ?? 'default' });
    this.server = createServer((request, response) => void this.handle(request, response));
    this.server.keepAliveTimeout = 65_000;
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    options.metrics.watchProxy(() => ({ connections: this.sockets.size, requests: this.inFlight, upstreamRequests: this.pools.inFlight() }));
  }

  /** Compiles and swaps in a snapshot; parts that fail keep their previous version. */
  apply(snapshot: Snapshot): { errors: NackError[] } {
    const { table, errors } = compileSnapshot(snapshot, this.options.zone, this.table, { clock: this.clock, random: this.random, metrics: this.options.metrics });
    this.table = table;
    this.snapshot = snapshot;
    this.rejected = errors;
    this.pools.retainOnly(table.origins());
    return { errors };
  }

  hasConfig(): boolean {
    return this.table !== undefined;
  }

  /** The last snapshot received, with the parts that were rejected (and run in their previous version). */
  currentSnapshot(): (Snapshot & { rejected: NackError[] }) | undefined {
    return this.snapshot && { ...this.snapshot, rejected: this.rejected };
  }

  /** Breakers that are not closed and ejected endpoints, for heartbeats. */
  healthReport(): [HeartbeatStats['breakers'], HeartbeatStats['ejectedEndpoints']] {
    return this.table ? this.table.health(this.clock()) : [[], []];
  }

  async listen(host: string, port: number): Promise<string> {
    await new Promise<void>((resolve, reject) => this.server.once('error', reject).listen(port, host, resolve));
    const address = this.server.address() as AddressInfo;
    return `${host.includes(':') ? `[${host}]` : host}:${address.port}`;
  }

  /**
   * Stops accepting connections, lets requests already on open connections finish (answering them
   * with `Connection: close`), closes idle keep-alive connections, and resolves when nothing is in
   * flight or `timeoutMs` passed.
   */
  async drain(timeoutMs: number): Promise<{ inFlightAtStart: number; timedOut: boolean }> {
    this.draining = true;
    const inFlightAtStart = this.inFlight;
    this.server.close();
    this.server.closeIdleConnections();
    let timedOut = false;
    if (this.inFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          timedOut = true;
          resolve();
        }, timeoutMs);
        this.idleWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return { inFlightAtStart, timedOut };
  }

  async close(): Promise<void> {
    this.server.close();
    for (const socket of this.sockets) socket.destroy();
    await this.pools.close();
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const started = this.clock();
    this.inFlight++;
    let finished = false;
    const done = () => {
      if (finished) return;
      finished = true;
      this.inFlight--;
      if (this.draining) this.server.closeIdleConnections();
      if (this.inFlight === 0) for (const wake of this.idleWaiters.splice(0)) wake();
    };
    response.on('close', done);
    if (this.draining) response.setHeader('connection', 'close');
    const route = this.table?.match(request.headers.host, request.url ?? '/', request.headers);
    const span = this.tracing.start(request, route);
    response.setHeader('x-portolan-trace-id', span.traceId);
    // Looked up once here and passed along: counting per service costs one Map lookup per request.
    const service = route && this.options.stats.startRequest(route.serviceName);
    try {
      await this.serve(request, response, route, service, span, started);
    } catch (error) {
      if (clientWentAway(response)) {
        span.clientAborted();
      } else {
        span.failed(`proxy failure: ${(error as Error).message}`);
        if (!response.headersSent) this.reject(response, 502, `upstream failed: ${(error as Error).message}`);
        else response.destroy(error as Error);
      }
    } finally {
      const status = response.statusCode;
      span.end(status);
      const finishedAt = this.clock();
      const seconds = (finishedAt - started) / 1000;
      if (this.options.tap?.wants(finishedAt)) {
        this.options.tap.record({
          time: new Date(finishedAt).toISOString(),
          method: request.method ?? 'GET',
          path: request.url ?? '/',
          status,
          latencyMs: finishedAt - started,
          ...(route ? { route: route.name, service: route.serviceName } : {}),
          ...span.decisions(),
          traceId: span.traceId,
        });
      }
      this.options.metrics.requestDuration
        .labels(route?.name ?? 'none', route?.serviceName ?? 'none', statusClass(status), this.options.zone)
        .observe(seconds);
      this.options.stats.recordResponse(status, seconds * 1000, service);
    }
  }

  private reject(response: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
    const body = JSON.stringify({ error: message, status });
    response.writeHead(status, { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    response.end(body);
  }

  /** Runs the chain for one request; `route` is the one it matched, if any, and `service` its service's counters. */
  private async serve(request: IncomingMessage, response: ServerResponse, route: CompiledRoute | undefined, service: ServiceCounters | undefined, span: RequestSpan, started: number): Promise<void> {
    const { stats, metrics } = this.options;
    if (!this.table) {
      stats.recordError('noRoute');
      span.failed('no configuration');
      this.reject(response, 503, 'the gateway has no configuration yet');
      return;
    }
    if (!route) {
      const path = request.url ?? '/';
      stats.recordError('noRoute');
      this.reject(response, 404, `no route for host ${JSON.stringify(request.headers.host ?? '')} and path ${JSON.stringify(path.split('?')[0])}`);
      return;
    }

    // One clock read for the three decisions: they judge the same moment.
    const now = this.clock();
    span.breakerState(route.breakerState(now));
    const limited = route.checkRateLimit(request, now);
    if (limited) {
      span.markRateLimited();
      stats.recordError('rateLimited', service);
      metrics.rateLimited.labels(route.name).inc();
      this.reject(response, limited.statusCode, `rate limited by ${limited.policy}`, limited.headers);
      return;
    }

    const admission = route.admit(now);
    if (!admission.admitted) {
      stats.recordError('breakerOpen', service);
      metrics.breakerRejections.labels(route.name, route.serviceName, admission.reason).inc();
      span.failed(admission.reason === 'max-concurrent-requests' ? 'max concurrent requests' : `breaker ${admission.reason}`);
      this.reject(response, 503, admission.message, { 'x-portolan-breaker': `${route.serviceName} ${admission.reason}`, ...(admission.retryAfterSeconds ? { 'retry-after': String(admission.retryAfterSeconds) } : {}) });
      return;
    }

    let outcomeIsFailure = true;
    try {
      const body = await RequestBody.read(request);
      outcomeIsFailure = await this.forward(route, service, request, response, body, span, started);
    } finally {
      // A client that left says nothing about the upstream: not a failure for the breaker.
      admission.release(outcomeIsFailure && !clientWentAway(response), this.clock());
    }
  }

  /**
   * The retry loop; returns whether the request failed (for the breaker). Each attempt is a CLIENT
   * span that ends with the attempt (for the last one, once the answer is streamed), before the
   * backoff that precedes the next one.
   */
  private async forward(route: CompiledRoute, service: ServiceCounters | undefined, request: IncomingMessage, response: ServerResponse, body: RequestBody, span: RequestSpan, started: number): Promise<boolean> {
    const { stats, metrics } = this.options;
    const requestDeadline = started + route.timeouts.requestTimeoutMs;
    let headers = upstreamHeaders(request.headers, { remoteAddress: request.socket.remoteAddress ?? '', protocol: 'http', host: request.headers.host });
    const method = request.method ?? 'GET';
    const retry = route.startRetries(method, body.replayable);
    const tried = new Set<string>();
    let backoffMs = 0;
    let spilledOnConnectFailure = false;
    try {
      for (;;) {
        const endpoint = route.pickEndpoint(tried);
        if (!endpoint) {
          stats.recordError('noEndpoint');
          span.failed('no healthy endpoint');
          this.reject(response, 503, `no healthy endpoint for service ${route.serviceName}`);
          return true;
        }
        tried.add(endpoint.key);
        const now = this.clock();
        if (now >= requestDeadline) {
          stats.recordError('timeout', service);
          span.failed('timeout');
          this.reject(response, 504, `request timeout (${route.timeouts.requestTimeoutMs} ms) expired`);
          return true;
        }
        const tryDeadline = Math.min(requestDeadline, retry.perTryTimeoutMs ? now + retry.perTryTimeoutMs : requestDeadline);
        const attempt = span.startAttempt(route.spans, endpoint.spans, backoffMs, headers);
        try {
          const outcome = await this.tryOnce(route, endpoint, method, request.url ?? '/', headers, body, tryDeadline);
          const answeredAt = this.clock();
          const upstreamFailed = outcome.kind === 'error' || outcome.status >= 500;
          // Per endpoint zone, whichever zone this gateway is in: what the failover controller judges a zone by.
          stats.recordTry(endpoint.zone, upstreamFailed, answeredAt - now);
          const ejected = route.recordEndpointResult(endpoint, !upstreamFailed, answeredAt);
          attempt.record(outcome.kind === 'error' ? { error: outcome.cause, message: outcome.message } : { status: outcome.status }, ejected);

          const decision = retry.next(outcome.kind === 'error' ? { error: outcome.cause } : { status: outcome.status, retryAfter: outcome.response.headers['retry-after'] as string | undefined });
          if (decision.retry && this.clock() + decision.delayMs < requestDeadline) {
            if (outcome.kind === 'response') await outcome.response.body.dump().catch(() => undefined);
            stats.recordRetry(service);
            metrics.retries.labels(route.name, route.serviceName).inc();
            backoffMs = decision.delayMs;
          } else if (outcome.kind === 'error' && outcome.cause === 'connect-failure' && !spilledOnConnectFailure && body.replayable && this.clock() < requestDeadline && route.hasUntriedEndpoint(tried)) {
            // Nothing reached the upstream, so trying another endpoint is safe for any method: the
            // gateway's own reaction to a dead endpoint (Istio retries connect-failure by default),
            // once per request and at once, to the next zone when this zone has no other endpoint.
            spilledOnConnectFailure = true;
            stats.recordRetry(service);
            metrics.retries.labels(route.name, route.serviceName).inc();
            backoffMs = 0;
          } else {
            if (decision.budgetExhausted) metrics.retriesBudgetExhausted.labels(route.name, route.serviceName).inc();
            if (outcome.kind === 'error') {
              const timedOut = outcome.cause === 'timeout';
              stats.recordError(timedOut ? 'timeout' : 'connectFailure', service);
              span.failed(timedOut ? 'timeout' : outcome.cause === 'connect-failure' ? 'connect failure' : 'connection reset');
              this.reject(response, timedOut ? 504 : outcome.cause === 'connect-failure' ? 503 : 502, `upstream ${endpoint.key}: ${outcome.message}`);
              return true;
            }
            response.writeHead(outcome.status, downstreamHeaders(outcome.response.headers));
            await relayAnswer(outcome.response.body, response);
            return upstreamFailed;
          }
        } finally {
          attempt.end();
        }
        // The next attempt carries its own traceparent; a fresh object leaves the headers undici
        // may still hold for this attempt untouched.
        headers = { ...headers };
        if (backoffMs > 0) await new Promise((resolve) => setTimeout(resolve, backoffMs));
      }
    } finally {
      retry.finish();
    }
  }

  /**
   * One try. The deadline is enforced by undici's own timers (headersTimeout until the answer
   * starts, then one plain timer while the body streams) rather than an AbortSignal per request:
   * AbortSignal.timeout cost about a tenth of the gateway's CPU in the proxy benchmark. A precise
   * timer aborts the try only where undici's cannot: a deadline under a second (its timers are
   * coarse), and a try that waits for a connection because every one to the endpoint is busy (no
   * undici timer runs in its queue; a body small enough to replay is sent at once when a
   * connection frees, so the deadline then covers the wait and the answer, as headersTimeout
   * would). A body too large to replay streams as it arrives, under undici's header timer (which
   * restarts whenever the upstream holds the body back).
   */
  private async tryOnce(
    route: CompiledRoute,
    endpoint: { key: string; origin: string },
    method: string,
    path: string,
    headers: Record<string, string | string[]>,
    body: RequestBody,
    deadline: number,
  ): Promise<UpstreamResult> {
    const pool = this.pools.get(endpoint.origin, route.timeouts.connectTimeoutMs);
    const remaining = Math.max(1, deadline - this.clock());
    const waitsForConnection = pool.full && body.replayable;
    const precise =
      remaining < COARSE_TIMER_RESOLUTION_MS || waitsForConnection
        ? preciseDeadline(remaining, `request deadline (${remaining} ms left) passed before the answer started${waitsForConnection ? ', waiting for a connection: every one to the endpoint was busy' : ''}`)
        : undefined;
    let sent: Promise<Dispatcher.ResponseData>;
    try {
      sent = pool.dispatcher.request({
        method: method as Dispatcher.HttpMethod,
        path,
        headers,
        body: body.forTry(),
        headersTimeout: Math.min(remaining, route.timeouts.idleTimeoutMs),
        bodyTimeout: route.timeouts.idleTimeoutMs,
        ...(precise ? { signal: precise.signal } : {}),
      });
    } catch (error) {
      precise?.cancel();
      return { kind: 'error', cause: errorCause(error), message: (error as Error).message };
    }
    pool.began();
    // The pool's count follows the request itself, whether this try still waits for it or not.
    sent.then(
      (response) => response.body.once('close', () => pool.ended()),
      () => pool.ended(),
    );
    try {
      // An aborted request still waiting in undici's queue only fails once a connection takes it:
      // the race answers at the deadline all the same.
      const response = precise ? await Promise.race([sent, precise.passed]) : await sent;
      precise?.cancel();
      const left = deadline - this.clock();
      const timer = setTimeout(() => response.body.destroy(Object.assign(new Error(`request deadline passed while streaming the answer`), { code: 'UND_ERR_BODY_TIMEOUT' })), Math.max(1, left));
      response.body.once('close', () => clearTimeout(timer));
      return { kind: 'response', status: response.statusCode, response };
    } catch (error) {
      precise?.cancel();
      // Given up on: an answer that still comes is dropped, which frees its connection.
      sent.then(
        (late) => late.body.destroy(),
        () => undefined,
      );
      return { kind: 'error', cause: errorCause(error), message: (error as Error).message };
    }
  }
}
