/**
 * The gateway's Prometheus metrics (docs/metrics.md). Labels are bounded by configuration (routes,
 * services, pools, zones, endpoints), never by request data, so cardinality cannot explode with
 * traffic.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { LATENCY_BUCKETS_MS } from '@portolan/agent-client';

/**
 * Request latency buckets in seconds: 1 ms to 10 s, about three per decade, so latency quantiles
 * (histogram_quantile) resolve both a fast in-zone hop and a request that waits out a timeout. The
 * same buckets as the heartbeats' histogram (agent protocol), so both give the autoscaler one answer.
 */
const REQUEST_DURATION_BUCKETS = LATENCY_BUCKETS_MS.map((ms) => ms / 1000);

/** What the proxy holds at a scrape: client connections, requests received, tries sent upstream. */
interface ProxyLoad {
  connections: number;
  requests: number;
  upstreamRequests: number;
}

export class GatewayMetrics {
  private readonly pool: string;
  readonly registry = new Registry();
  private readonly requestDurationHistogram = new Histogram({
    name: 'portolan_gateway_request_duration_seconds',
    help: 'Time from request received to response finished, by route, service, status class, gateway pool and gateway zone.',
    labelNames: ['route', 'service', 'status_class', 'pool', 'zone'] as const,
    buckets: REQUEST_DURATION_BUCKETS,
    registers: [this.registry],
  });
  /**
   * Where the proxy records request durations: it names route, service, status class and its zone;
   * the pool is filled in from this gateway's configuration, so the proxy does not need to know it
   * and the autoscaler can still aggregate per pool and zone.
   */
  readonly requestDuration = {
    labels: (route: string, service: string, statusClass: string, zone: string) =>
      this.requestDurationHistogram.labels({ route, service, status_class: statusClass, pool: this.pool, zone }),
  };
  readonly rateLimited = new Counter({
    name: 'portolan_gateway_rate_limited_total',
    help: 'Requests answered 429 (or the policy status) by a RateLimitPolicy.',
    labelNames: ['route'] as const,
    registers: [this.registry],
  });
  readonly retries = new Counter({
    name: 'portolan_gateway_retries_total',
    help: 'Upstream tries after the first, by route and service.',
    labelNames: ['route', 'service'] as const,
    registers: [this.registry],
  });
  readonly retriesBudgetExhausted = new Counter({
    name: 'portolan_gateway_retry_budget_exhausted_total',
    help: 'Retries skipped because the retry budget was used up.',
    labelNames: ['route', 'service'] as const,
    registers: [this.registry],
  });
  readonly breakerOpens = new Counter({
    name: 'portolan_gateway_breaker_opens_total',
    help: 'Times a circuit breaker opened.',
    labelNames: ['route', 'service'] as const,
    registers: [this.registry],
  });
  readonly breakerRejections = new Counter({
    name: 'portolan_gateway_breaker_rejections_total',
    help: 'Requests failed fast (503) by an open breaker or a connection limit.',
    labelNames: ['route', 'service', 'reason'] as const,
    registers: [this.registry],
  });
  readonly ejections = new Counter({
    name: 'portolan_gateway_outlier_ejections_total',
    help: 'Upstream endpoints ejected by outlier detection.',
    labelNames: ['service', 'endpoint'] as const,
    registers: [this.registry],
  });
  readonly appliedRevision = new Gauge({
    name: 'portolan_gateway_applied_revision',
    help: 'Mesh revision of the configuration the gateway runs.',
    registers: [this.registry],
  });
  readonly configRejections = new Counter({
    name: 'portolan_gateway_config_rejections_total',
    help: 'Snapshots NACKed (at least one part rejected).',
    registers: [this.registry],
  });
  readonly controlPlaneConnected = new Gauge({
    name: 'portolan_gateway_control_plane_connected',
    help: '1 while the gateway has a live config stream (WebSocket) or a working long-poll, else 0.',
    registers: [this.registry],
  });
  readonly configPersisted = new Gauge({
    name: 'portolan_gateway_config_persisted',
    help: '1 while the state directory holds the configuration the gateway runs (a restart during a control-plane outage serves it), else 0: no configuration yet, or saving it failed (the log says why).',
    registers: [this.registry],
  });
  /** What the proxy holds open, read at each scrape rather than updated per request. */
  private proxyLoad: () => ProxyLoad = () => ({ connections: 0, requests: 0, upstreamRequests: 0 });
  readonly openConnections: Gauge = new Gauge({
    name: 'portolan_gateway_open_connections',
    help: 'Client connections open on the proxy listener, idle keep-alive ones included.',
    registers: [this.registry],
    collect: (): void => this.openConnections.set(this.proxyLoad().connections),
  });
  readonly requestsInFlight: Gauge = new Gauge({
    name: 'portolan_gateway_requests_in_flight',
    help: 'Proxied requests received and not yet answered (a request body still arriving included).',
    registers: [this.registry],
    collect: (): void => this.requestsInFlight.set(this.proxyLoad().requests),
  });
  readonly upstreamRequestsInFlight: Gauge = new Gauge({
    name: 'portolan_gateway_upstream_requests_in_flight',
    help: 'Tries sent to upstream endpoints and not finished: waiting for a connection, for the answer, or streaming either body.',
    registers: [this.registry],
    collect: (): void => this.upstreamRequestsInFlight.set(this.proxyLoad().upstreamRequests),
  });

  /**
   * `pool` is the gateway's `--pool` (same default): it labels every request duration series.
   * `droppedTraceSpans` is the tracing's running total of spans dropped undecided (Tracing.droppedSpans).
   */
  constructor(options: { pool?: string; droppedTraceSpans?: () => number } = {}) {
    this.pool = options.pool ?? 'default';
    const droppedTraceSpans = options.droppedTraceSpans ?? (() => 0);
    let countedDroppedSpans = 0;
    new Counter({
      name: 'portolan_gateway_trace_spans_dropped_total',
      help: 'Spans dropped before their trace was decided, because the buffer of undecided traces was full: requests that then failed or ran slow may have lost their traces.',
      registers: [this.registry],
      // The tracing keeps the total; each scrape adds what was dropped since the last one.
      collect() {
        const total = droppedTraceSpans();
        this.inc(total - countedDroppedSpans);
        countedDroppedSpans = total;
      },
    });
    // Unprefixed, as the control plane's: the standard process_* and nodejs_* names that generic
    // Node.js dashboards query; Prometheus' job and instance labels tell the processes apart.
    collectDefaultMetrics({ register: this.registry });
  }

  /** The proxy's open connections and requests in flight, for the gauges. */
  watchProxy(load: () => ProxyLoad): void {
    this.proxyLoad = load;
  }
}
