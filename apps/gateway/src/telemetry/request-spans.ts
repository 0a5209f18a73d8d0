/**
 * The spans of one proxied request: a SERVER span for the request and a CLIENT span per upstream
 * attempt (retries are separate children of the server span), with the policy decisions as
 * attributes. The names and attributes are a contract with the control plane's trace store and
 * self-check; do not rename them.
 *
 * Spans are made by hand rather than by OpenTelemetry's http/undici auto-instrumentation: the
 * proxy is ESM (auto-instrumentation patches CommonJS `require` unless a loader hook is set up),
 * and what operators need on a span is the gateway's own decisions per attempt (attempt number,
 * backoff, breaker state, ejection), which no generic instrumentation knows.
 *
 * Whatever does not change per request (span names, route, service and endpoint attributes) is
 * built once per config change (route-runtime.ts) or once per gateway.
 */
import type { IncomingMessage } from 'node:http';
import { extractTraceContext, injectTraceContext, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type Tracer } from '@portolan/telemetry';

/** What the compiled route provides for its spans, built when the route is compiled. */
export interface RouteSpans {
  serverName(method: string): string;
  serverAttributes: Attributes;
  clientName: string;
}

export interface EndpointSpans {
  attributes: Attributes;
}

export type BreakerStateName = 'closed' | 'open' | 'half-open';

/** Span names per HTTP method, cached: Node's parser accepts a fixed set of methods, so the map stays small. */
function spanNamesByMethod(target: string): (method: string) => string {
  const names = new Map<string, string>();
  return (method) => {
    let name = names.get(method);
    if (name === undefined) {
      name = `${method} ${target}`;
      names.set(method, name);
    }
    return name;
  };
}

export function routeSpans(identity: { route: string; service: string; zone: string; pool: string }): RouteSpans {
  return {
    serverName: spanNamesByMethod(identity.route),
    serverAttributes: { 'portolan.route': identity.route, 'portolan.service': identity.service, 'portolan.zone': identity.zone, 'portolan.pool': identity.pool },
    clientName: `upstream ${identity.service}`,
  };
}

export function endpointSpans(identity: { service: string; address: string; port: number; zone: string | undefined }): EndpointSpans {
  return {
    attributes: {
      'portolan.service': identity.service,
      'server.address': identity.address,
      'server.port': identity.port,
      ...(identity.zone ? { 'portolan.endpoint.zone': identity.zone } : {}),
    },
  };
}

/** How one upstream attempt ended, as the proxy saw it. */
export type AttemptResult = { status: number } | { error: 'connect-failure' | 'reset' | 'timeout'; message: string };

export class AttemptSpan {
  constructor(private readonly span: Span) {}

  /** Records the result; `ejected` when this result took the endpoint out of load balancing. */
  record(result: AttemptResult, ejected: boolean): void {
    const span = this.span;
    if ('status' in result) {
      span.setAttribute('http.response.status_code', result.status);
      if (result.status >= 500) {
        span.setAttribute('error.type', String(result.status));
        span.setStatus({ code: SpanStatusCode.ERROR, message: `upstream answered ${result.status}` });
      }
    } else {
      span.setAttribute('error.type', result.error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: `${result.error}: ${result.message}` });
    }
    if (ejected) span.setAttribute('portolan.outlier.ejected', true);
  }

  end(): void {
    this.span.end();
  }
}

export class RequestSpan {
  /** Upstream attempts made so far. */
  attempts = 0;
  private limited = false;
  private breaker: BreakerStateName | undefined;
  private failure: string | undefined;
  private readonly context: Context;

  constructor(
    private readonly tracer: Tracer,
    private readonly span: Span,
    parent: Context,
  ) {
    this.context = trace.setSpan(parent, span);
  }

  get traceId(): string {
    return this.span.spanContext().traceId;
  }

  markRateLimited(): void {
    this.limited = true;
  }

  /** The route's breaker state as this request met it; routes without a breaker have none. */
  breakerState(state: BreakerStateName | undefined): void {
    this.breaker = state;
  }

  /** Why the gateway answered an error itself ('breaker open', 'timeout', …); becomes the ERROR status message. */
  failed(reason: string): void {
    this.failure = reason;
  }

  /**
   * The client closed the connection before the answer was complete. Not an ERROR: nothing failed
   * on the gateway's or the upstream's side, and an ERROR would keep every such trace.
   */
  clientAborted(): void {
    this.span.setAttribute('portolan.client_aborted', true);
  }

  /**
   * A CLIENT span for the next attempt, child of this request's span; sets the attempt's
   * `traceparent` on the upstream request headers.
   */
  startAttempt(route: RouteSpans, endpoint: EndpointSpans, backoffMs: number, headers: Record<string, string | string[]>): AttemptSpan {
    const span = this.tracer.startSpan(route.clientName, { kind: SpanKind.CLIENT, attributes: endpoint.attributes }, this.context);
    span.setAttribute('portolan.attempt', ++this.attempts);
    span.setAttribute('portolan.retry.backoff_ms', backoffMs);
    injectTraceContext(trace.setSpan(this.context, span), headers);
    return new AttemptSpan(span);
  }

  /** What the gateway decided for this request, for a live tap. */
  decisions(): { tries: number; rateLimited: boolean; breaker?: string; failure?: string } {
    return { tries: this.attempts, rateLimited: this.limited, ...(this.breaker ? { breaker: this.breaker } : {}), ...(this.failure ? { failure: this.failure } : {}) };
  }

  end(status: number): void {
    const span = this.span;
    span.setAttribute('http.response.status_code', status);
    span.setAttribute('portolan.retry.attempts', this.attempts);
    span.setAttribute('portolan.rate_limited', this.limited);
    if (this.breaker) span.setAttribute('portolan.breaker.state', this.breaker);
    if (status >= 500 || this.failure) span.setStatus({ code: SpanStatusCode.ERROR, message: this.failure ?? `upstream answered ${status}` });
    span.end();
  }
}

/** Starts the span of each request; one per gateway. */
export class RequestTracing {
  private readonly unmatched: RouteSpans;

  constructor(
    private readonly tracer: Tracer,
    identity: { zone: string; pool: string },
  ) {
    this.unmatched = { serverName: spanNamesByMethod('unmatched'), serverAttributes: { 'portolan.zone': identity.zone, 'portolan.pool': identity.pool }, clientName: '' };
  }

  /** The request's SERVER span, continuing the caller's trace when it sent one. */
  start(request: IncomingMessage, route: { spans: RouteSpans } | undefined): RequestSpan {
    const spans = route?.spans ?? this.unmatched;
    const method = request.method ?? 'GET';
    const parent = extractTraceContext(request.headers);
    const span = this.tracer.startSpan(spans.serverName(method), { kind: SpanKind.SERVER, attributes: spans.serverAttributes }, parent);
    const url = request.url ?? '/';
    const query = url.indexOf('?');
    span.setAttribute('http.request.method', method);
    span.setAttribute('url.path', query === -1 ? url : url.slice(0, query));
    return new RequestSpan(this.tracer, span, parent);
  }
}
