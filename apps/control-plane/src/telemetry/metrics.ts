/**
 * The control plane's Prometheus registry: process metrics plus the HTTP request duration by
 * route template (never the raw path, to bound label cardinality) and status code.
 */
import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

@Injectable()
export class MetricsRegistry {
  readonly registry = new Registry();

  readonly httpRequestDuration = new Histogram({
    name: 'portolan_http_request_duration_seconds',
    help: 'Duration of HTTP requests served by the control plane API, by method, route template and status code.',
    labelNames: ['method', 'route', 'code'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly meshRevision = new Gauge({
    name: 'portolan_mesh_revision',
    help: 'Current mesh-wide revision of the resource store.',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
