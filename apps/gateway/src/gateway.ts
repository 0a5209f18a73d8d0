/**
 * One gateway process: the proxy, its admin listener and the agent, wired together.
 *
 * Start order serves traffic as early as possible: the last good configuration on disk (if any)
 * is applied before the control plane is even contacted, so a gateway restarted during a
 * control-plane outage serves at once (fail static). Registration and config sync then run in the
 * background, retrying with backoff for as long as it takes.
 *
 * Stop order (SIGTERM) is the one that avoids 503s during rollouts and scale-downs: drain at the
 * control plane and wait until the other gateways heard of it, keep accepting until --drain-delay
 * has passed (load balancers in front follow the registry or /ready, and need a moment to notice),
 * stop accepting, finish in-flight requests, deregister, and last export the spans of the requests
 * that were finished.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgentClient, type Snapshot } from '@portolan/agent-client';
import type { Tracing } from '@portolan/telemetry';
import type { GatewayConfig } from './config.js';
import { LastGoodConfig, type LoadedConfig } from './last-good-config.js';
import { AdminServer } from './admin-server.js';
import { ProxyServer } from './proxy/proxy-server.js';
import { HeartbeatStatsCollector } from './telemetry/heartbeat-stats.js';
import { RequestTap } from './telemetry/request-tap.js';
import { GatewayMetrics } from './telemetry/metrics.js';
import { log } from './telemetry/log.js';
import { GATEWAY_VERSION } from './version.js';

const TAP_SEND_INTERVAL_MS = 1_000;

export class Gateway {
  readonly metrics: GatewayMetrics;
  readonly stats = new HeartbeatStatsCollector();
  readonly tap = new RequestTap();
  readonly proxy: ProxyServer;
  private tapSender: NodeJS.Timeout | undefined;
  private readonly admin: AdminServer;
  private readonly lastGood: LastGoodConfig;
  private agent: AgentClient | undefined;
  private stopping: Promise<void> | undefined;
  private persistFailing = false;

  constructor(
    private readonly config: GatewayConfig,
    private readonly tracing?: Tracing,
  ) {
    this.metrics = new GatewayMetrics({ pool: config.pool, droppedTraceSpans: tracing?.droppedSpans });
    this.proxy = new ProxyServer({ zone: config.zone, pool: config.pool, tracer: tracing?.tracer, metrics: this.metrics, stats: this.stats, tap: this.tap });
    this.admin = new AdminServer({ metrics: this.metrics, proxy: this.proxy, ready: () => this.proxy.hasConfig() && !this.stopping });
    this.lastGood = new LastGoodConfig(config.stateDir);
  }

  async start(): Promise<{ proxyUrl: string; adminUrl: string }> {
    this.applyPersisted(this.lastGood.load());
    const proxyAddress = await this.proxy.listen(this.config.listen.host, this.config.listen.port);
    const adminAddress = await this.admin.listen(this.config.adminListen.host, this.config.adminListen.port);
    const urls = { proxyUrl: `http://${proxyAddress}`, adminUrl: `http://${adminAddress}` };
    try {
      mkdirSync(this.config.stateDir, { recursive: true });
      writeFileSync(join(this.config.stateDir, 'listening.json'), `${JSON.stringify({ ...urls, pid: process.pid })}\n`);
    } catch (error) {
      // Serving matters more than fail static: start, and say what a restart would lose.
      log.warn(
        { stateDir: this.config.stateDir, error: (error as Error).message },
        'cannot write the state directory: the gateway serves and takes its configuration from the control plane, but cannot keep it for a restart while the control plane is unreachable; make the directory writable by the user the gateway runs as, or set --state-dir',
      );
    }

    this.agent = new AgentClient({
      controlPlaneUrl: this.config.controlPlane,
      caPem: this.config.caPem,
      clientCertificate: this.config.clientCertificate,
      bootstrapToken: this.config.bootstrapToken,
      transport: this.config.transport,
      reconnectMaxMs: this.config.reconnectMaxMs,
      registration: {
        role: 'gateway',
        name: this.config.name,
        zone: this.config.zone,
        pool: this.config.pool,
        address: proxyAddress,
        version: GATEWAY_VERSION,
      },
      onSnapshot: async (snapshot) => this.applySnapshot(snapshot),
      collectStats: () => this.stats.collect(...this.proxy.healthReport()),
      onTap: (tap) => this.tap.start(tap),
      onEvent: (event) => this.onAgentEvent(event),
    });
    // Tapped requests go out once a second, only when there are some (a tap is rare and short).
    this.tapSender = setInterval(() => {
      const batch = this.tap.take();
      if (batch.length > 0) this.agent?.sendTapped(batch).catch((error: Error) => log.debug({ error: error.message }, 'could not send tapped requests; dropped'));
    }, TAP_SEND_INTERVAL_MS);
    this.tapSender.unref();
    this.agent.start().catch((error: Error) =>
      log.error({ error: error.message }, 'the control plane refused the registration; serving the last good configuration (if any) without updates'),
    );
    return urls;
  }

  /** Graceful stop; see the file comment for the order. Resolves when everything is closed. */
  stop(): Promise<void> {
    this.stopping ??= this.drainAndStop();
    return this.stopping;
  }

  /** What start() found on disk: serve it, or say why the gateway waits for the control plane instead. */
  private applyPersisted(persisted: LoadedConfig): void {
    if (persisted.kind === 'loaded') {
      const { snapshot } = persisted;
      const { errors } = this.proxy.apply(snapshot);
      log.info({ version: snapshot.version, revision: snapshot.revision, rejected: errors.length }, 'serving the last good configuration from disk until the control plane answers');
      this.metrics.appliedRevision.set(snapshot.revision);
      this.metrics.configPersisted.set(1);
    } else if (persisted.kind === 'damaged') {
      const { file, reason, movedTo, moveError } = persisted;
      log.error(
        { file, reason, ...(movedTo ? { movedTo } : { moveError }) },
        movedTo
          ? 'the last good configuration on disk is damaged; moved it aside for inspection and starting without it: requests are answered 503 until the control plane sends the configuration'
          : 'the last good configuration on disk is damaged and could not be moved aside; starting without it, and saving nothing over it: move it away (and fix the state directory) so the gateway can keep its configuration again',
      );
    } else if (persisted.kind === 'unreadable') {
      log.error(
        { file: persisted.file, reason: persisted.reason },
        'cannot read the last good configuration on disk; starting without it until the control plane sends the configuration: make the file readable by the user the gateway runs as',
      );
    }
  }

  private applySnapshot(snapshot: Snapshot) {
    const { errors } = this.proxy.apply(snapshot);
    this.persist(snapshot);
    this.metrics.appliedRevision.set(snapshot.revision);
    if (errors.length > 0) {
      this.metrics.configRejections.inc();
      log.warn({ version: snapshot.version, revision: snapshot.revision, errors }, 'parts of the snapshot were rejected; keeping their last good version');
      return { status: 'NACK' as const, errors };
    }
    log.info({ version: snapshot.version, revision: snapshot.revision, routes: snapshot.routes.length }, 'applied snapshot');
    return { status: 'ACK' as const };
  }

  /**
   * The snapshot runs whether or not it can be kept: a save that fails is logged (once until a save
   * works again) and shown by portolan_gateway_config_persisted, and the ACK still goes out.
   */
  private persist(snapshot: Snapshot): void {
    try {
      this.lastGood.save(snapshot);
    } catch (error) {
      if (this.persistFailing) return;
      this.persistFailing = true;
      this.metrics.configPersisted.set(0);
      log.error(
        { file: this.lastGood.file, revision: snapshot.revision, error: (error as Error).message },
        'cannot save the configuration to the state directory: it runs, but a restart while the control plane is unreachable would not have it; make the directory writable by the user the gateway runs as, or set --state-dir',
      );
      return;
    }
    if (this.persistFailing) log.info({ file: this.lastGood.file, revision: snapshot.revision }, 'saving the configuration to the state directory works again');
    this.persistFailing = false;
    this.metrics.configPersisted.set(1);
  }

  private onAgentEvent(event: { type: string; [key: string]: unknown }): void {
    if (event.type === 'connected') this.metrics.controlPlaneConnected.set(1);
    if (event.type === 'disconnected') this.metrics.controlPlaneConnected.set(0);
    log.debug(event, 'agent event');
  }

  private async drainAndStop(): Promise<void> {
    clearInterval(this.tapSender);
    const drainStarted = Date.now();
    const agent = this.agent;
    if (agent) {
      try {
        const propagation = await agent.drain({ waitMs: this.config.propagationWaitMs });
        log.info(propagation, 'draining: the control plane no longer routes to this gateway');
      } catch (error) {
        log.warn({ error: (error as Error).message }, 'could not announce the drain (control plane unreachable); stopping anyway');
      }
    }
    const stillAccepting = this.config.drainDelayMs - (Date.now() - drainStarted);
    if (stillAccepting > 0) await new Promise((resolve) => setTimeout(resolve, stillAccepting));
    const finished = await this.proxy.drain(this.config.drainTimeoutMs);
    log.info(finished, 'stopped accepting; in-flight requests done');
    if (agent) {
      await agent.deregister().catch((error: Error) => log.warn({ error: error.message }, 'could not deregister; the control plane will mark this gateway Offline'));
      await agent.stop();
    }
    await this.admin.close();
    await this.proxy.close();
    await this.tracing?.shutdown();
  }
}
