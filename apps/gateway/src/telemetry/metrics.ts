/**
 * The gateway's Prometheus metrics (docs/metrics.md). Labels are bounded by configuration (routes,
 * services, zones, endpoints), never by request data, so cardinality cannot explode with traffic.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly requestDuration = new Histogram({
    name: 'portolan_gateway_request_duration_seconds',
    help: 'Time from request received to response finished, by route, service, status class and gateway zone.',
    labelNames: ['route', 'service', 'status_class', 'zone'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
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

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'portolan_gateway_process_' });
  }
}
