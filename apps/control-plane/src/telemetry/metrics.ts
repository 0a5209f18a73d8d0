/**
 * The control plane's Prometheus registry: process metrics plus the HTTP request duration by
 * route template (never the raw path, to bound label cardinality) and status code, snapshot
 * distribution, leader election, history compaction, the autoscaler, failover and the rollout guard (docs/metrics.md).
 */
import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Nodes per label set of the two node gauges. */
export interface NodeCounts {
  byRole: Iterable<{ labels: [role: string, phase: string]; count: number }>;
  byPool: Iterable<{ labels: [zone: string, pool: string, phase: string]; count: number }>;
}

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

  readonly snapshotBuild = new Histogram({
    name: 'portolan_snapshot_build_seconds',
    help: 'Time to rebuild every gateway snapshot after a change (resolution once, serialization once per gateway shape).',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });

  readonly snapshotFanout = new Histogram({
    name: 'portolan_snapshot_fanout_seconds',
    help: 'Time from the start of a rebuild until every changed snapshot was handed to its gateway connections.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  readonly snapshotsSent = new Counter({
    name: 'portolan_snapshots_sent_total',
    help: 'Snapshots delivered to gateways, by transport.',
    labelNames: ['transport'] as const,
    registers: [this.registry],
  });

  readonly configNacks = new Counter({
    name: 'portolan_config_nacks_total',
    help: 'Snapshots gateways rejected (NACK).',
    registers: [this.registry],
  });

  /**
   * Counted when scraped, by the provider the distribution module sets: counting on every snapshot
   * rebuild was a large part of one at 10,000 gateways.
   */
  countNodes: () => NodeCounts = () => ({ byRole: [], byPool: [] });

  readonly registeredNodes = new Gauge({
    name: 'portolan_registered_nodes',
    help: 'Registered nodes by role (gateway, instance) and lifecycle phase.',
    labelNames: ['role', 'phase'] as const,
    registers: [this.registry],
    collect: () => {
      this.registeredNodes.reset();
      for (const { labels, count } of this.countNodes().byRole) this.registeredNodes.labels(...labels).set(count);
    },
  });

  readonly leader = new Gauge({
    name: 'portolan_leader',
    help: 'Whether this replica is the leader that runs the act-once controllers (1) or a follower (0).',
    registers: [this.registry],
  });

  readonly leaderTransitions = new Counter({
    name: 'portolan_leader_transitions_total',
    help: 'Times this replica became leader or stopped being leader.',
    registers: [this.registry],
  });

  readonly leaderControllerRuns = new Counter({
    name: 'portolan_leader_controller_runs_total',
    help: 'Times a leader-only controller was started on this replica, by controller.',
    labelNames: ['controller'] as const,
    registers: [this.registry],
  });

  readonly storeCompactions = new Counter({
    name: 'portolan_store_compactions_total',
    help: 'Compactions of the store\'s change history this replica ran as leader.',
    registers: [this.registry],
  });

  readonly storeCompactedChanges = new Counter({
    name: 'portolan_store_compacted_changes_total',
    help: 'Change records this replica\'s compactions removed (each object keeps its newest PORTOLAN_HISTORY_LIMIT).',
    registers: [this.registry],
  });

  readonly storeCompactedRevision = new Gauge({
    name: 'portolan_store_compacted_revision',
    help: 'Revision through which this replica last compacted the change history (0 until it has, and on followers); watches from an older resourceVersion answer 410 Expired.',
    registers: [this.registry],
  });

  readonly autoscalerCurrentReplicas = new Gauge({
    name: 'portolan_autoscaler_current_replicas',
    help: 'Gateways of each AutoscalePolicy\'s target at its last evaluation, by policy (namespace/name); leader only.',
    labelNames: ['policy'] as const,
    registers: [this.registry],
  });

  readonly autoscalerDesiredReplicas = new Gauge({
    name: 'portolan_autoscaler_desired_replicas',
    help: 'Gateways the autoscaler wants for each AutoscalePolicy\'s target, by policy; leader only.',
    labelNames: ['policy'] as const,
    registers: [this.registry],
  });

  readonly autoscalerMetricValue = new Gauge({
    name: 'portolan_autoscaler_metric_value',
    help: 'Last reading of each AutoscalePolicy\'s metric (milliseconds for latency, requests per second per gateway for load); absent while missing; leader only.',
    labelNames: ['policy'] as const,
    registers: [this.registry],
  });

  readonly autoscalerMetricTarget = new Gauge({
    name: 'portolan_autoscaler_metric_target',
    help: 'Target of each AutoscalePolicy\'s metric, in the unit of portolan_autoscaler_metric_value; leader only.',
    labelNames: ['policy'] as const,
    registers: [this.registry],
  });

  readonly autoscalerScalings = new Counter({
    name: 'portolan_autoscaler_scalings_total',
    help: 'Changes of gateway count the autoscaler asked its scaler for, by policy, direction (up, down) and result (ok, failed).',
    labelNames: ['policy', 'direction', 'result'] as const,
    registers: [this.registry],
  });

  readonly autoscalerMetricMissing = new Counter({
    name: 'portolan_autoscaler_metric_missing_total',
    help: 'Evaluations that found no reading of the policy\'s metric (the count is held, or the fallback applies), by policy.',
    labelNames: ['policy'] as const,
    registers: [this.registry],
  });

  readonly failoverZoneFailedOver = new Gauge({
    name: 'portolan_failover_zone_failed_over',
    help: 'Whether a FailoverPolicy (namespace/name) moved traffic away from a zone (1) or not (0); leader only.',
    labelNames: ['policy', 'zone'] as const,
    registers: [this.registry],
  });

  readonly failoverTransitions = new Counter({
    name: 'portolan_failover_transitions_total',
    help: 'Zones failing over (to="FailedOver") and back (to="Healthy"), by policy and zone; leader only.',
    labelNames: ['policy', 'zone', 'to'] as const,
    registers: [this.registry],
  });

  readonly rolloutGuardWatching = new Gauge({
    name: 'portolan_rollout_guard_watching',
    help: 'Policy changes (spec.guardedRollout) the rollout guard is watching now; leader only.',
    registers: [this.registry],
  });

  readonly rolloutGuardWatches = new Counter({
    name: 'portolan_rollout_guard_watches_total',
    help: 'Guarded policy changes the rollout guard finished watching, by kind and outcome (verified, unverified, rolled_back, no_gateways, cancelled, rollback_failed, failed).',
    labelNames: ['kind', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly rolloutGuardRollbacks = new Counter({
    name: 'portolan_rollout_guard_rollbacks_total',
    help: 'Policy changes the rollout guard rolled back, by kind and reason (nack, error_rate, latency).',
    labelNames: ['kind', 'reason'] as const,
    registers: [this.registry],
  });

  readonly authRefusals = new Counter({
    name: 'portolan_auth_refusals_total',
    help: 'Authentications refused, by reason: invalid_token, expired_token, invalid_node_credential (each counted against the source address), locked_out (an address past PORTOLAN_AUTH_FAILURE_LIMIT, refused whatever it sent).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly gateways = new Gauge({
    name: 'portolan_gateways',
    help: 'Registered gateways by zone, pool and lifecycle phase.',
    labelNames: ['zone', 'pool', 'phase'] as const,
    registers: [this.registry],
    collect: () => {
      this.gateways.reset();
      for (const { labels, count } of this.countNodes().byPool) this.gateways.labels(...labels).set(count);
    },
  });

  /**
   * Counted when scraped, by the provider the distribution module sets: a long-poll gateway stops
   * counting when its TTL passes, an instant no event marks.
   */
  countConnectedAgents: () => ReadonlyMap<string, number> = () => new Map();

  readonly connectedAgents = new Gauge({
    name: 'portolan_connected_agents',
    help: 'Gateways listening for configuration on this replica, by transport (websocket, long-poll).',
    labelNames: ['transport'] as const,
    registers: [this.registry],
    collect: () => {
      const counts = this.countConnectedAgents();
      for (const transport of ['websocket', 'long-poll']) this.connectedAgents.labels(transport).set(counts.get(transport) ?? 0);
    },
  });

  readonly selfCheckFindings = new Gauge({
    name: 'portolan_self_check_findings',
    help: 'Open self-check findings by check (GET /v1/self-checks lists them with the objects they name).',
    labelNames: ['check'] as const,
    registers: [this.registry],
  });

  readonly configConvergence = new Histogram({
    name: 'portolan_config_convergence_seconds',
    help: 'Time from a change reaching this replica (a write, or a node joining or leaving) to a gateway ACKing the snapshot that carries it.',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly traceStoreTraces = new Gauge({
    name: 'portolan_trace_store_traces',
    help: 'Traces held by the embedded trace store.',
    registers: [this.registry],
  });

  readonly traceStoreBytes = new Gauge({
    name: 'portolan_trace_store_bytes',
    help: 'Estimated bytes held by the embedded trace store (bounded by PORTOLAN_TRACE_STORE_MAX_BYTES).',
    registers: [this.registry],
  });

  readonly traceStoreEvictedTraces = new Counter({
    name: 'portolan_trace_store_evicted_traces_total',
    help: 'Traces the embedded trace store dropped, by reason: age, traces (count bound), bytes (byte bound).',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly otlpSpansReceived = new Counter({
    name: 'portolan_otlp_spans_received_total',
    help: 'Spans received into the embedded trace store, from the OTLP/HTTP receiver and the control plane\'s own, by result: accepted, or rejected (invalid ids or times).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly auditWriteFailures = new Counter({
    name: 'portolan_audit_write_failures_total',
    help: 'Audit entries the audit log could not store (each is logged as an error with the whole entry).',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
