/**
 * The control plane's own spans (docs/tracing.md): one SERVER span per HTTPS API request, named by
 * its route template, continuing the caller's W3C trace. Kept by the same rule as the gateway's
 * (sampled, failed or slow) and sent, in this order of preference, to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
 * to the embedded trace store in process, or nowhere (Jaeger without an endpoint: the trace ids
 * still reach the logs). The tracer provider is not global, so several control planes in one
 * process (in-process tests) each keep their own.
 */
import type { Request, Response } from 'express';
import type { TLSSocket } from 'node:tls';
import { AGENT_API_PREFIX } from '@portolan/agent-client';
import { createTracing, extractTraceContext, SpanKind, SpanStatusCode, type Span, type Tracer, type Tracing } from '@portolan/telemetry';
import type { SelfTracingSettings, TracingSettings } from '../config/boot-config';
import { PRINCIPAL_ATTRIBUTE, TraceStoreExporter } from './trace-store-exporter';
import type { TracingService } from './tracing.service';

export const CONTROL_PLANE_SERVICE_NAME = 'portolan-control-plane';

export interface SelfTracingOptions {
  settings: SelfTracingSettings;
  traceBackend: TracingSettings;
  /** Resource `service.instance.id`. */
  replicaName: string;
  tracingService: Pick<TracingService, 'receive'>;
  onExportFailure: (error: Error) => void;
}

export function startSelfTracing({ settings, traceBackend, replicaName, tracingService, onExportFailure }: SelfTracingOptions): Tracing {
  const destination = settings.otlpEndpoint
    ? { endpoint: settings.otlpEndpoint }
    : traceBackend.kind === 'embedded'
      ? { exporter: new TraceStoreExporter(tracingService) }
      : {};
  return createTracing({
    serviceName: CONTROL_PLANE_SERVICE_NAME,
    resourceAttributes: { 'service.instance.id': replicaName },
    sampleRatio: settings.sampleRatio,
    // The store's idea of slow, so a trace kept for being slow is also protected there as slow.
    slowThresholdMs: traceBackend.kind === 'embedded' ? traceBackend.slowThresholdMs : undefined,
    onExportFailure,
    ...destination,
  });
}

const SERVER_SPAN = { kind: SpanKind.SERVER };

/**
 * Which requests get a span: callers' requests on the HTTPS API, except
 * - the agent protocol (`/agent/v1/...`): gateways' registration, heartbeats every interval, ACKs
 *   and long-polls are machine traffic at heartbeat rate that would crowd callers' traces out of the
 *   store (Istio does not trace xDS either);
 * - watches (`watch=true` or `1`): held as long as the client likes, so always "slow" and kept.
 * The ops port serves probes, scrapes and the OTLP receiver, not callers' requests.
 */
export function tracesRequest(request: Request): boolean {
  if (!(request.socket as TLSSocket).encrypted) return false;
  if (request.path === AGENT_API_PREFIX || request.path.startsWith(`${AGENT_API_PREFIX}/`)) return false;
  const watch = request.query.watch;
  return watch !== 'true' && watch !== '1';
}

/** Named by the method alone until routing has found the route template (OpenTelemetry's HTTP convention). */
export function startRequestSpan(tracer: Tracer, request: Request): Span {
  return tracer.startSpan(request.method, SERVER_SPAN, extractTraceContext(request.headers));
}

/**
 * Ends the span when the response is done or abandoned by the client: the status code is recorded once headers were sent; 5xx is an ERROR.
 */
export function endRequestSpan(span: Span, request: Request, response: Response, route: string | undefined, principal: string | undefined): void {
  if (route !== undefined) {
    span.updateName(`${request.method} ${route}`);
    span.setAttribute('http.route', route);
  }
  span.setAttribute('http.request.method', request.method);
  const url = request.originalUrl;
  const query = url.indexOf('?');
  span.setAttribute('url.path', query < 0 ? url : url.slice(0, query));
  if (response.headersSent) {
    span.setAttribute('http.response.status_code', response.statusCode);
    if (response.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
  }
  if (principal !== undefined) span.setAttribute(PRINCIPAL_ATTRIBUTE, principal);
  span.end();
}
