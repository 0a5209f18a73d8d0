/**
 * Boots the control plane: data directory, TLS material, the backend (embedded or Consul), tokens, the Nest app on
 * HTTPS, and the plain-HTTP ops listener. Used by main.ts and by in-process tests.
 */
import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import express, { type NextFunction, type Request, type Response } from 'express';
import { readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type pino from 'pino';
import { failureStatus } from '@portolan/api';
import { AGENT_API_PREFIX } from '@portolan/agent-client';
import { AppModule } from './app.module';
import { startAutoscaling, type RunningAutoscaling } from './autoscaling/autoscaling';
import { PoolTrafficWindow } from './autoscaling/pool-traffic-window';
import { openBackend } from './backend';
import { startFailover } from './failover/failover';
import { startRolloutGuard } from './rollout-guard/rollout-guard';
import { AgentCertificateGate, readAgentClientCa } from './auth/agent-certificate/agent-certificate-gate';
import { AuthLockout } from './auth/auth-lockout';
import { BootstrapToken } from './auth/bootstrap-token';
import { startKubernetesIntegration, type KubernetesIntegration } from './auth/delegated/kubernetes-integration';
import { TokenService } from './auth/token-service';
import { attachAgentLane } from './agent-lane/agent-lane';
import { AgentConfigController } from './distribution/agent-config.controller';
import { attachAgentStream } from './distribution/agent-stream';
import { DistributionService } from './distribution/distribution.service';
import { answerLongPoll } from './distribution/long-poll';
import type { BootConfig } from './config/boot-config';
import { prepareDataDir } from './config/data-dir';
import { serveDashboard } from './dashboard/serve-dashboard';
import { ApiExceptionFilter } from './errors/api-exception.filter';
import { answerClientErrors } from './errors/raw-refusals';
import { listenOps, type OpsListener } from './health/ops-listener';
import { renderKubeconfig } from './kubeconfig';
import { attachLiveFeed } from './live/live-feed';
import { AgentRegistryController } from './registry/agent-registry.controller';
import { TapService } from './tap/tap.service';
import { ResourcesService } from './resources/resources.service';
import { createRootLogger, JsonLogger } from './telemetry/logger';
import { MetricsRegistry } from './telemetry/metrics';
import { runWithContext, traceIdFrom, type RequestContext } from './telemetry/request-context';
import { ensureServingCertificate, readCertificateAuthorityFiles } from './tls/certificates';
import { OTLP_TRACES_PATH, otlpBodyHandlers } from './tracing/otlp/otlp-body';
import { endRequestSpan, startRequestSpan, startSelfTracing, tracesRequest } from './tracing/self-tracing';
import { TracingService } from './tracing/tracing.service';

export interface RunningControlPlane {
  apiUrl: string;
  /** Which store the control plane runs on, for the start banner. */
  backend: string;
  opsUrl?: string;
  caPem: string;
  /** Set when no token was configured and an admin token was generated. */
  adminTokenFile?: string;
  /** Set when no bootstrap token was configured and one was generated. */
  bootstrapTokenFile?: string;
  caFile: string;
  kubeconfigFile: string;
  /** Every HTTP route the API serves, as "METHOD /path/:param" (for the role-matrix test and debugging). */
  routes: string[];
  close(): Promise<void>;
}

const BODY_TYPES = ['application/json', 'application/merge-patch+json', 'application/json-patch+json', 'application/*+json'];
const YAML_TYPES = ['application/apply-patch+yaml', 'application/yaml', 'application/x-yaml', 'text/yaml'];
const BODY_LIMIT = '3mb';
const BODY_LIMIT_BYTES = 3 * 1024 * 1024;
/**
 * Connections the kernel holds for the API before the control plane accepts them (capped by
 * net.core.somaxconn, 4096 by default since Linux 5.4). Node's default, 511, overflowed when
 * thousands of gateways connected at once (docs/benchmarks.md): the kernel then drops their SYNs,
 * each waits out a retransmission (1 s, then 3 s, 7 s...), times out and connects again, and the
 * retries keep the queue full.
 */
const LISTEN_BACKLOG = 4096;
/**
 * How long the API keeps an idle keep-alive connection: at least nginx's default (75 s), and longer
 * than three heartbeat intervals, so each gateway heartbeats over one TLS connection. Node's
 * default, 5 s, was shorter than a heartbeat interval of 5 s or more, so every heartbeat opened a
 * new connection and paid a full TLS handshake (an RSA signature, about 1.1 ms of CPU here): 1,000
 * handshakes a second for 10,000 gateways at 10 s.
 */
const keepAliveTimeoutMs = (heartbeatIntervalMs: number) => Math.max(75_000, 3 * heartbeatIntervalMs);

export async function startControlPlane(config: BootConfig, options: { logDestination?: pino.DestinationStream } = {}): Promise<RunningControlPlane> {
  const logger = createRootLogger(config.logLevel, options.logDestination);
  prepareDataDir(config.dataDir);
  // Read before waiting for any backend: a wrong file is the operator's to fix now.
  const operatorCa = config.tlsCa && readCertificateAuthorityFiles(config.tlsCa);
  const agentClientCa = config.agentClientCaFile ? readAgentClientCa(config.agentClientCaFile) : undefined;
  const metrics = new MetricsRegistry();
  // The backend's services log through Nest's Logger before the app exists: JSON from the start.
  Logger.overrideLogger(new JsonLogger(logger));
  const ops: OpsListener | undefined = config.opsPort >= 0 ? await listenOps(config.host, config.opsPort) : undefined;
  const backend = await openBackend(config, logger, metrics, { onWaiting: (reason) => ops?.starting(reason ?? 'starting') }).catch(async (error: Error) => {
    await ops?.close();
    throw error;
  });
  // A start that fails past this point closes what it opened: the leader lock, the backend's loops, the listeners.
  let app: NestExpressApplication | undefined;
  let autoscaling: RunningAutoscaling | undefined;
  let failover: { close(): void } | undefined;
  let rolloutGuard: { close(): void } | undefined;
  let closeLiveFeeds: (() => Promise<void>) | undefined;
  let kubernetes: KubernetesIntegration | undefined;
  try {
    const certificate = ensureServingCertificate(config.dataDir, config.tlsSans, operatorCa || backend.certificateAuthority);
    const { store, registry, leadership, ackLedger } = backend;
    const tokens = new TokenService({ dataDir: config.dataDir, tokensFile: config.tokensFile, adminToken: config.adminToken }, backend.apiTokens);
    const bootstrapToken = new BootstrapToken(config.dataDir, config.bootstrapToken);
    const lockout = new AuthLockout(config.authLockout, metrics, logger);
    kubernetes = startKubernetesIntegration(config.kubernetes, { ...certificate, agentClientCaPem: agentClientCa?.pem }, logger);
    const agentCertificates = agentClientCa && new AgentCertificateGate(agentClientCa, registry, logger);
    // Asked for, never required by TLS itself: kubectl and the dashboard have no certificate. The CA
    // is offered so a client holding several certificates (a browser, a Go agent) picks the right one.
    const agentTlsOptions = agentClientCa ? { requestCert: true, rejectUnauthorized: false, ca: agentClientCa.pem } : {};

    const traffic = new PoolTrafficWindow();
    const nest = await NestFactory.create<NestExpressApplication>(
      AppModule.register({ store, registry, tokens, bootstrapToken, lockout, metrics, leadership, ackLedger, tracing: config.tracing, events: backend.events, audit: backend.audit, traffic, kubernetesDelegation: kubernetes.delegation }),
      {
        httpsOptions: { key: certificate.keyPem, cert: certificate.certPem, ...kubernetes.tlsOptions, ...agentTlsOptions },
        bodyParser: false,
        logger: new JsonLogger(logger),
      },
    );
    app = nest;
    app.disable('x-powered-by');
    // First: the dashboard's static files are not API requests, so they get no span and no request metric.
    app.use(serveDashboard(config.dashboardDir));
    const selfTracing = startSelfTracing({
      settings: config.selfTracing,
      traceBackend: config.tracing,
      replicaName: leadership.identity,
      tracingService: app.get(TracingService),
      onExportFailure: (error) => logger.warn({ err: error }, 'cannot export the control plane\'s own spans; dropping them until an export succeeds'),
    });
    app.use((request: Request, response: Response, next: NextFunction) => {
      const started = process.hrtime.bigint();
      const span = tracesRequest(request) ? startRequestSpan(selfTracing.tracer, request) : undefined;
      const context: RequestContext = { traceId: span ? span.spanContext().traceId : traceIdFrom(request.headers.traceparent as string | undefined) };
      // 'close' rather than 'finish': it also comes when the client leaves first (a request it gives up on), so no span stays open.
      response.once('close', () => {
        const route = (request.route as { path?: string } | undefined)?.path;
        if (response.writableFinished) {
          const routeLabel = route ?? 'unmatched';
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          metrics.httpRequestDuration.labels(request.method, routeLabel, String(response.statusCode)).observe(seconds);
          logger.debug({ method: request.method, route: routeLabel, code: response.statusCode, seconds }, 'request served');
        }
        if (span) endRequestSpan(span, request, response, route, context.principal);
      });
      runWithContext(context, next);
    });
    // An agent without its certificate is refused before its body is read.
    if (agentCertificates) app.use(AGENT_API_PREFIX, agentCertificates.authenticate);
    // The OTLP receiver reads its own (raw, larger) body first; the JSON parser below then skips it.
    app.use(OTLP_TRACES_PATH, ...otlpBodyHandlers());
    app.use(express.json({ type: BODY_TYPES, limit: BODY_LIMIT, strict: false }));
    app.use(express.text({ type: YAML_TYPES, limit: BODY_LIMIT }));
    app.use((error: { status?: number; message: string }, _request: Request, response: Response, next: NextFunction) => {
      if (typeof error?.status !== 'number') return next(error);
      const status = error.status === 413
        ? failureStatus(413, 'RequestEntityTooLarge', `the request body is larger than ${BODY_LIMIT}`)
        : error.status === 415
          ? failureStatus(415, 'UnsupportedMediaType', `the request body could not be read: ${error.message}`)
          : failureStatus(400, 'BadRequest', `the request body could not be parsed: ${error.message}`);
      response.status(status.code).json(status);
    });
    // A body no parser above read would be ignored: a write could then succeed as if none had been
    // sent (a zone drained without the reason given, a heartbeat without its fields).
    app.use((request: Request, response: Response, next: NextFunction) => {
      const sent = Number(request.headers['content-length']) > 0 || request.headers['transfer-encoding'] !== undefined;
      if (request.body !== undefined || !sent || request.path === OTLP_TRACES_PATH) return next();
      const status = failureStatus(415, 'UnsupportedMediaType', `the request body is ${request.headers['content-type'] ? `of type ${request.headers['content-type']}` : 'sent without a Content-Type'}: the API reads JSON (application/json, application/merge-patch+json, application/json-patch+json) and YAML (application/apply-patch+yaml, application/yaml)`);
      response.status(415).json(status);
    });
    if (agentCertificates) app.use(AGENT_API_PREFIX, agentCertificates.authorize);
    app.useGlobalFilters(new ApiExceptionFilter(logger));
    app.enableShutdownHooks();
    // Initialised, then listened on directly: Nest's `listen` has no way to pass the backlog.
    await app.init();
    const server = app.getHttpServer();
    server.keepAliveTimeout = keepAliveTimeoutMs(registry.settings.heartbeatIntervalMs);
    await new Promise<void>((listening, failed) => server.once('error', failed).listen({ port: config.apiPort, host: config.host, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', failed);
      listening();
    }));
    answerClientErrors(server);
    const delegation = kubernetes.delegation;
    const agentRegistry = app.get(AgentRegistryController);
    const agentConfig = app.get(AgentConfigController);
    const distribution = app.get(DistributionService);
    attachAgentLane(server, {
      registry,
      lockout,
      handlers: { heartbeat: (id, body) => agentRegistry.heartbeat(id, body), acks: (id, body) => agentConfig.ack(id, body) },
      answerPoll: (id, poll, response) => answerLongPoll(distribution, id, poll, response),
      metrics,
      logger,
      bodyLimitBytes: BODY_LIMIT_BYTES,
      needsFullAuthentication: (request) => agentCertificates !== undefined || delegation?.claimsIdentity(request) === true,
    });
    kubernetes.attach(server);
    const closeAgentStreams = attachAgentStream(server, registry, app.get(DistributionService), lockout, logger, { clientCertificates: agentCertificates });
    closeLiveFeeds = attachLiveFeed(server, {
      tokens,
      lockout,
      store,
      registry,
      distribution: app.get(DistributionService),
      statusChanges: app.get(ResourcesService),
      traffic,
      journal: backend.events,
      taps: app.get(TapService),
      logger,
    });
    const apiPort = (server.address() as AddressInfo).port;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    const apiUrl = `https://${host}:${apiPort}`;

    ops?.serve(app.getHttpAdapter().getInstance() as express.Express, apiUrl);
    const opsUrl = ops?.url;
    autoscaling = startAutoscaling({
      settings: config.autoscaling,
      controllers: backend.controllers,
      store,
      journal: backend.events,
      registry,
      traffic,
      metrics,
      logger,
      self: { apiUrl, caFile: certificate.caFile, bootstrapToken: bootstrapToken.file ? readFileSync(bootstrapToken.file, 'utf8').trim() : config.bootstrapToken!, dataDir: config.dataDir },
    });
    failover = startFailover({
      controllers: backend.controllers,
      store,
      registry,
      traffic,
      journal: backend.events,
      distribution: app.get(DistributionService),
      metrics,
      logger,
      ...(backend.preparedQueries ? { preparedQueries: backend.preparedQueries } : {}),
    });
    rolloutGuard = startRolloutGuard({ controllers: backend.controllers, store, journal: backend.events, distribution: app.get(DistributionService), registry, traffic, metrics, logger });

    const kubeconfigFile = join(config.dataDir, 'kubeconfig');
    if (tokens.generatedAdminTokenFile) {
      const token = readFileSync(tokens.generatedAdminTokenFile, 'utf8').trim();
      writeFileSync(kubeconfigFile, renderKubeconfig({ server: apiUrl, caPem: certificate.caPem, token }), { mode: 0o600 });
    }
    writeFileSync(join(config.dataDir, 'endpoint.json'), `${JSON.stringify({ apiUrl, opsUrl, pid: process.pid }, null, 2)}\n`);

    const router = (app.getHttpAdapter().getInstance() as { router: { stack: Array<{ route?: { path: string; methods: Record<string, boolean> } }> } }).router;
    const routes = router.stack.flatMap((layer) =>
      layer.route ? Object.keys(layer.route.methods).map((method) => `${method.toUpperCase()} ${layer.route!.path}`) : [],
    );

    return {
      apiUrl,
      backend: backend.describe,
      opsUrl,
      routes,
      caPem: certificate.caPem,
      adminTokenFile: tokens.generatedAdminTokenFile,
      bootstrapTokenFile: bootstrapToken.file,
      caFile: certificate.caFile,
      kubeconfigFile,
      close: async () => {
        await ops?.close();
        failover?.close();
        rolloutGuard?.close();
        kubernetes?.close();
        // While the API still answers: the gateways the local scaler started drain through it.
        await autoscaling?.close();
        await closeAgentStreams();
        await closeLiveFeeds?.();
        nest.getHttpServer().closeAllConnections?.();
        await nest.close();
        // After the server: the last requests' spans have ended, and go out (or into the store) now.
        await selfTracing.shutdown();
        await backend.close();
      },
    };
  } catch (error) {
    failover?.close();
    rolloutGuard?.close();
    kubernetes?.close();
    await closeLiveFeeds?.();
    await autoscaling?.close().catch(() => undefined);
    await app?.close().catch(() => undefined);
    await backend.close().catch(() => undefined);
    await ops?.close();
    throw error;
  }
}
