/**
 * The agent side of the protocol in protocol.ts, for any gateway (or service instance) that talks
 * to a Portolan control plane.
 *
 * - start() registers with the bootstrap token, retrying while the control plane is unreachable
 *   (capped exponential backoff, full jitter), then runs heartbeats and config sync with the node
 *   credential it got back.
 * - Heartbeats go every interval ±10%, carrying the applied revision, the draining flag and the
 *   caller's stats. Failures are reported as events and never stop anything: the gateway keeps
 *   serving its last configuration (fail static). A 404 from any node endpoint means the control
 *   plane removed the node (say after a long outage): the client registers again and resubscribes.
 * - Config sync (only with onSnapshot) pushes over a WebSocket by default, with keepalive pings and
 *   backoff reconnects (1 s doubling to 30 s, reset once a connection stays up). In `auto` mode it
 *   falls back to HTTP long-poll when the upgrade is refused or keeps failing, and tries WebSocket
 *   again every few minutes. Snapshots from either transport reach onSnapshot one at a time, in
 *   order, never twice in a row for the same version; each answer goes back as an ACK/NACK on the
 *   transport that delivered the snapshot.
 * - drain(), deregister() and stop() end it; stop() leaves no timer or socket behind.
 */
import { readFileSync } from 'node:fs';
import type { TappedRequest } from '@portolan/api';
import { backoffDelay } from './backoff.js';
import type { ClientCertificate } from './client-tls.js';
import { runConfigSync, type TransportMode } from './config-sync.js';
import { AgentClientError, abortedError, isTransient } from './errors.js';
import type { AgentEvent, AgentEventListener, SyncTransport } from './events.js';
import { runHeartbeats } from './heartbeat.js';
import { HttpTransport, type HeldSnapshot } from './http-transport.js';
import { pause } from './pause.js';
import { MAX_TAP_BATCH, PATHS, PROTOCOL_DEFAULTS, type DrainResponse, type HeartbeatRequest, type HeartbeatStats, type Lifecycle, type RegisterRequest, type RegisterResponse, type TapRequest } from './protocol.js';
import { SnapshotDelivery, type SnapshotHandler } from './snapshot-delivery.js';
import type { SyncSettings } from './sync-context.js';

export const AGENT_CLIENT_DEFAULTS = {
  transport: 'auto',
  longPollWaitMs: 30_000,
  websocketFailuresBeforeFallback: 3,
  websocketRetryMs: 5 * 60_000,
  requestTimeoutMs: 10_000,
  /** What the control plane waits by default for the other gateways to hear of a drain. */
  drainWaitMs: 10_000,
} as const;

export interface AgentClientOptions {
  /** The control plane's API, e.g. `https://control-plane:7443`. */
  controlPlaneUrl: string | URL;
  /** PEM of the control plane's CA. */
  caPem?: string;
  /** Path of the control plane's CA, when caPem is not given; neither means the system store. */
  caFile?: string;
  /** Presented on every connection: required when the control plane verifies agents (PORTOLAN_TLS_AGENT_CLIENT_CA_FILE). */
  clientCertificate?: ClientCertificate;
  bootstrapToken: string;
  registration: RegisterRequest;
  /** Applies a snapshot. Without it the client registers and heartbeats only (a service instance). */
  onSnapshot?: SnapshotHandler;
  /** Traffic counters since the previous call, sent with each heartbeat. */
  collectStats?: () => HeartbeatStats;
  /** An operator taps this node (renewed with each heartbeat answer while they watch); see sendTapped. */
  onTap?: (tap: TapRequest) => void;
  onEvent?: AgentEventListener;
  /** Default `auto`: WebSocket, falling back to long-poll. */
  transport?: TransportMode;
  /** Default 30 s; the control plane caps it at PROTOCOL_DEFAULTS.maxWaitMs. */
  longPollWaitMs?: number;
  /** Default PROTOCOL_DEFAULTS.pingIntervalMs (10 s); a peer silent for two periods is dropped. */
  pingIntervalMs?: number;
  /** Default PROTOCOL_DEFAULTS.reconnectBaseMs (1 s). */
  reconnectBaseMs?: number;
  /** Default PROTOCOL_DEFAULTS.reconnectMaxMs (30 s). */
  reconnectMaxMs?: number;
  /** A WebSocket up this long resets the reconnect backoff. Default: one ping interval. */
  stableAfterMs?: number;
  /** Default 3. */
  websocketFailuresBeforeFallback?: number;
  /** Default 5 min. */
  websocketRetryMs?: number;
  /** Timeout of each call (and of the WebSocket handshake); default 10 s. */
  requestTimeoutMs?: number;
  /** Randomness of backoff and heartbeat jitter; Math.random by default. */
  random?: () => number;
  /** Aborting it stops the client, like stop(). */
  signal?: AbortSignal;
}

export type ConnectionState = 'disconnected' | 'connecting' | 'connected';

export interface AgentClientState {
  /** The current registration; undefined before it, while registering again, and after deregister(). */
  node: { id: string; name: string } | undefined;
  /** As of the last heartbeat answer. */
  lifecycle: Lifecycle | undefined;
  transport: SyncTransport | undefined;
  connection: ConnectionState;
  /** The last snapshot onSnapshot returned for. */
  applied: HeldSnapshot | undefined;
  draining: boolean;
  stopped: boolean;
}

export class AgentClient {
  private readonly http: HttpTransport;
  private readonly controlPlaneUrl: URL;
  private readonly caPem: string | undefined;
  private readonly delivery: SnapshotDelivery | undefined;
  private readonly settings: SyncSettings;
  /** Aborted by stop(): every call and loop. */
  private readonly lifetime = new AbortController();
  /** Aborted by deregister() and stop(): registration, heartbeats and sync started by start(). */
  private readonly loops = new AbortController();
  /** Aborted when the node is removed and a new registration replaces it. */
  private sessionLoops: AbortController | undefined;
  private session: RegisterResponse | undefined;
  private readonly tasks = new Set<Promise<unknown>>();
  private starting: Promise<void> | undefined;
  private stopping: Promise<void> | undefined;
  private draining = false;
  private connection: ConnectionState = 'disconnected';
  private transport: SyncTransport | undefined;
  private lifecycle: Lifecycle | undefined;

  constructor(private readonly options: AgentClientOptions) {
    this.controlPlaneUrl = new URL(options.controlPlaneUrl);
    this.caPem = options.caPem ?? (options.caFile === undefined ? undefined : readFileSync(options.caFile, 'utf8'));
    const requestTimeoutMs = options.requestTimeoutMs ?? AGENT_CLIENT_DEFAULTS.requestTimeoutMs;
    this.http = new HttpTransport({ controlPlaneUrl: this.controlPlaneUrl, caPem: this.caPem, clientCertificate: options.clientCertificate, requestTimeoutMs });
    const pingIntervalMs = options.pingIntervalMs ?? PROTOCOL_DEFAULTS.pingIntervalMs;
    this.settings = {
      reconnectBaseMs: options.reconnectBaseMs ?? PROTOCOL_DEFAULTS.reconnectBaseMs,
      reconnectMaxMs: options.reconnectMaxMs ?? PROTOCOL_DEFAULTS.reconnectMaxMs,
      pingIntervalMs,
      stableAfterMs: options.stableAfterMs ?? pingIntervalMs,
      handshakeTimeoutMs: requestTimeoutMs,
      longPollWaitMs: options.longPollWaitMs ?? AGENT_CLIENT_DEFAULTS.longPollWaitMs,
      websocketFailuresBeforeFallback: options.websocketFailuresBeforeFallback ?? AGENT_CLIENT_DEFAULTS.websocketFailuresBeforeFallback,
      websocketRetryMs: options.websocketRetryMs ?? AGENT_CLIENT_DEFAULTS.websocketRetryMs,
      random: options.random ?? Math.random,
    };
    this.delivery = options.onSnapshot && new SnapshotDelivery(options.onSnapshot, this.emit);
    options.signal?.addEventListener('abort', () => void this.stop(), { once: true });
  }

  get state(): AgentClientState {
    return {
      node: this.session && { id: this.session.id, name: this.session.name },
      lifecycle: this.lifecycle,
      transport: this.transport,
      connection: this.connection,
      applied: this.delivery?.applied,
      draining: this.draining,
      stopped: this.lifetime.signal.aborted,
    };
  }

  /**
   * Registers (again, if already registered: the control plane replaces a registration of the
   * same name). Retries while the control plane is unreachable or failing; rejects at once when it
   * refuses the registration (bad token, invalid request), and when `signal` aborts or stop().
   */
  async register(signal?: AbortSignal): Promise<RegisterResponse> {
    const session = await this.registerUntilAnswered(this.withLifetime(signal), false);
    // Loops of the previous registration would use an id the control plane just replaced.
    if (this.sessionLoops && !this.loops.signal.aborted) {
      this.sessionLoops.abort();
      this.runLoops(session);
    }
    return session;
  }

  /**
   * Registers, then runs heartbeats and config sync until deregister() or stop(). Resolves once
   * registered (or when stopped first); rejects when the registration is refused. Idempotent.
   */
  start(): Promise<void> {
    this.starting ??= this.registerAndRun();
    return this.starting;
  }

  /**
   * Tells the control plane this node is leaving: it stops routing to it and resolves once the
   * other gateways have heard (or `waitMs` passed). Later heartbeats say `draining` too.
   */
  async drain(options: { waitMs?: number; signal?: AbortSignal } = {}): Promise<DrainResponse> {
    const session = this.requireSession('drain');
    this.draining = true;
    return this.http.drain(session, options.waitMs ?? AGENT_CLIENT_DEFAULTS.drainWaitMs, this.withLifetime(options.signal));
  }

  /** Sends requests sampled for a live tap (at most MAX_TAP_BATCH); dropped when not registered. */
  async sendTapped(requests: TappedRequest[], signal?: AbortSignal): Promise<void> {
    const session = this.session;
    if (!session || requests.length === 0) return;
    await this.http.postTap(session, { requests: requests.slice(0, MAX_TAP_BATCH) }, this.withLifetime(signal));
  }

  /** Removes the node at the control plane; heartbeats and sync end first. Already removed counts as done. */
  async deregister(signal?: AbortSignal): Promise<void> {
    const session = this.requireSession('deregister');
    // A heartbeat after the DELETE would be answered 404, and the client would register again.
    this.loops.abort();
    this.connection = 'disconnected';
    try {
      await this.http.deregister(session, this.withLifetime(signal));
    } catch (error) {
      if (!(error instanceof AgentClientError && error.code === 'PORTOLAN_AGENT_NOT_FOUND')) throw error;
    }
    this.session = undefined;
  }

  /** Closes timers, sockets and calls in flight, without deregistering. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async registerAndRun(): Promise<void> {
    let session: RegisterResponse;
    try {
      session = await this.registerUntilAnswered(this.loops.signal, false);
    } catch (error) {
      if (error instanceof AgentClientError && error.code === 'PORTOLAN_AGENT_ABORTED') return;
      throw error;
    }
    this.runLoops(session);
  }

  private async registerUntilAnswered(signal: AbortSignal, renewal: boolean): Promise<RegisterResponse> {
    for (let attempt = 0; ; attempt++) {
      try {
        const session = await this.http.register(this.options.bootstrapToken, this.options.registration, signal);
        this.session = session;
        this.emit({ type: 'registered', id: session.id, name: session.name, renewal });
        return session;
      } catch (error) {
        if (!(error instanceof AgentClientError) || error.code === 'PORTOLAN_AGENT_ABORTED') throw error;
        // A renewal runs in the background with nobody to throw to; it keeps trying and reporting
        // while the gateway keeps serving, in case the refusal was the control plane's mistake.
        if (!renewal && !isTransient(error)) throw error;
        const retryInMs = backoffDelay(attempt, this.settings.reconnectBaseMs, this.settings.reconnectMaxMs, this.settings.random);
        this.emit({ type: 'registration-failed', error, attempt: attempt + 1, retryInMs });
        if (!(await pause(retryInMs, signal, { keepAlive: !renewal }))) throw abortedError(`POST ${PATHS.register}`, signal.reason);
      }
    }
  }

  private runLoops(session: RegisterResponse): void {
    const sessionLoops = new AbortController();
    this.sessionLoops = sessionLoops;
    const signal = AbortSignal.any([this.loops.signal, sessionLoops.signal]);
    const nodeGone = () => this.registerAgain(session);
    const heartbeat = (): HeartbeatRequest => ({
      appliedRevision: this.delivery?.applied?.revision,
      draining: this.draining,
      stats: this.options.collectStats?.(),
    });
    this.track(runHeartbeats({ http: this.http, session, intervalMs: session.heartbeatIntervalMs, random: this.settings.random, heartbeat, emit: this.emit, nodeGone, onTap: this.options.onTap }, signal));
    if (!this.delivery) return;
    const context = {
      http: this.http,
      session,
      controlPlaneUrl: this.controlPlaneUrl,
      caPem: this.caPem,
      clientCertificate: this.options.clientCertificate,
      delivery: this.delivery,
      settings: this.settings,
      emit: this.emit,
      nodeGone,
    };
    this.track(runConfigSync(context, this.options.transport ?? AGENT_CLIENT_DEFAULTS.transport, signal));
  }

  private registerAgain(gone: RegisterResponse): void {
    // Heartbeat and long-poll can both notice; the first one renews.
    if (this.session !== gone) return;
    this.session = undefined;
    this.sessionLoops?.abort();
    this.connection = 'disconnected';
    this.lifecycle = undefined;
    this.emit({ type: 'node-removed', id: gone.id });
    const renewal = this.registerUntilAnswered(this.loops.signal, true).then(
      (session) => this.runLoops(session),
      (error: unknown) => {
        if (!(error instanceof AgentClientError && error.code === 'PORTOLAN_AGENT_ABORTED')) throw error;
      },
    );
    this.track(renewal);
  }

  private async shutdown(): Promise<void> {
    this.lifetime.abort();
    this.loops.abort();
    this.delivery?.close();
    await Promise.allSettled(this.tasks);
    await this.http.close();
    this.connection = 'disconnected';
  }

  private track(task: Promise<unknown>): void {
    this.tasks.add(task);
    void task.finally(() => this.tasks.delete(task));
  }

  private requireSession(what: string): RegisterResponse {
    if (this.lifetime.signal.aborted) throw abortedError(what, 'the agent client was stopped');
    if (!this.session) throw new AgentClientError('PORTOLAN_AGENT_NOT_REGISTERED', `${what}: the node is not registered`);
    return this.session;
  }

  private withLifetime(signal: AbortSignal | undefined): AbortSignal {
    return signal ? AbortSignal.any([signal, this.lifetime.signal]) : this.lifetime.signal;
  }

  private readonly emit = (event: AgentEvent): void => {
    if (event.type === 'connecting' || event.type === 'connected') this.connection = event.type;
    if (event.type === 'disconnected') this.connection = 'disconnected';
    if (event.type === 'transport-changed') this.transport = event.transport;
    if (event.type === 'lifecycle') this.lifecycle = event.lifecycle;
    this.options.onEvent?.(event);
  };
}
