/**
 * Runs the self-checks (self-checks.ts) every heartbeat interval on every replica: gathers what
 * the registry and the trace store see, logs a finding once when it appears and once when it
 * clears, counts open findings in `portolan_self_check_findings`, and answers `GET /v1/self-checks`.
 */
import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { NODE_REGISTRY, type NodeRegistry } from '../registry/node-registry';
import { isRoutable } from '../registry/lifecycle';
import { MetricsRegistry } from '../telemetry/metrics';
import { TracingService } from '../tracing/tracing.service';
import { gatewaysWithStoppedMetrics, zonesWithoutTrafficData, ZoneTrafficWindow, type SelfCheckFinding, type SelfCheckName } from './self-checks';

/** The traffic and trace windows, in heartbeat intervals: 30 s at the default 2 s. */
export const SELF_CHECK_WINDOW_INTERVALS = 15;

const CHECKS: SelfCheckName[] = ['GatewayMetricsStopped', 'ZoneWithoutTrafficData', 'UpstreamDropsTraceContext', 'UpstreamNotInstrumented'];

export interface OpenFinding extends SelfCheckFinding {
  severity: 'Warning';
  /** RFC 3339 time this replica first saw the finding. */
  since: string;
}

const keyOf = (finding: SelfCheckFinding) => `${finding.check}|${finding.object.kind}|${finding.object.namespace ?? ''}|${finding.object.name}`;

@Injectable()
export class SelfChecksService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('self-checks');
  readonly windowMs: number;
  private readonly traffic: ZoneTrafficWindow;
  private readonly startedAt = Date.now();
  /** Per gateway, the statistics report last added to the traffic window. */
  private readonly statsCounted = new Map<string, number>();
  private open = new Map<string, OpenFinding>();
  private timer: NodeJS.Timeout | undefined;
  private traceChecked: { at: number; findings: SelfCheckFinding[] } = { at: Number.NEGATIVE_INFINITY, findings: [] };

  constructor(
    @Inject(NODE_REGISTRY) private readonly registry: NodeRegistry,
    private readonly tracing: TracingService,
    private readonly metrics: MetricsRegistry,
  ) {
    this.windowMs = SELF_CHECK_WINDOW_INTERVALS * registry.settings.heartbeatIntervalMs;
    this.traffic = new ZoneTrafficWindow(this.windowMs);
  }

  onModuleInit(): void {
    this.timer = setInterval(() => this.evaluate(), this.registry.settings.heartbeatIntervalMs);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /** Runs every check now; the open findings, oldest first. */
  evaluate(now = Date.now()): OpenFinding[] {
    const gateways = this.registry.nodes().flatMap((node) => (node.role === 'gateway' ? [node] : []));
    for (const gateway of gateways) {
      if (gateway.stats && gateway.statsAt !== undefined && this.statsCounted.get(gateway.id) !== gateway.statsAt) {
        this.statsCounted.set(gateway.id, gateway.statsAt);
        this.traffic.record(gateway.spec.zone, gateway.stats.requests, gateway.statsAt);
      }
    }
    const present = new Set(gateways.map((gateway) => gateway.id));
    for (const id of this.statsCounted.keys()) if (!present.has(id)) this.statsCounted.delete(id);

    const totals = this.traffic.totals(now);
    const routableByZone = new Map<string, number>();
    for (const gateway of gateways) {
      // Judged on the gateways that report here: with Consul, other replicas get the rest's heartbeats.
      const reportsHere = isRoutable(gateway.lifecycle.phase) && gateway.statsAt !== undefined ? 1 : 0;
      routableByZone.set(gateway.spec.zone, (routableByZone.get(gateway.spec.zone) ?? 0) + reportsHere);
    }
    const findings: SelfCheckFinding[] = [
      ...gatewaysWithStoppedMetrics(
        gateways.map((g) => ({ name: g.name, namespace: g.namespace, zone: g.spec.zone, phase: g.lifecycle.phase, lastHeartbeat: g.lastHeartbeat, statsAt: g.statsAt })),
        now,
        this.registry.settings.heartbeatIntervalMs,
      ),
      ...zonesWithoutTrafficData(
        [...routableByZone].map(([zone, count]) => ({ zone, gateways: count, ...(totals.get(zone) ?? { reports: 0, requests: 0 }) })),
        now - this.startedAt,
        this.windowMs,
      ),
      ...this.traceFindings(now),
    ];
    this.remember(findings, now);
    return [...this.open.values()];
  }

  /**
   * The trace checks read every held trace (tens of milliseconds for a full store), so they run at
   * most every third of a window rather than every heartbeat interval.
   */
  private traceFindings(now: number): SelfCheckFinding[] {
    if (now - this.traceChecked.at < this.windowMs / 3) return this.traceChecked.findings;
    const findings = this.tracing.traceContextFindings(this.windowMs).map(
      (gap): SelfCheckFinding => ({
        check: gap.reason === 'DropsTraceContext' ? 'UpstreamDropsTraceContext' : 'UpstreamNotInstrumented',
        object: { kind: 'Service', namespace: gap.service.split('/')[0], name: gap.service.split('/')[1] },
        message: gap.message,
      }),
    );
    this.traceChecked = { at: now, findings };
    return findings;
  }

  private remember(findings: SelfCheckFinding[], now: number): void {
    const next = new Map<string, OpenFinding>();
    for (const finding of findings) {
      const key = keyOf(finding);
      const earlier = this.open.get(key);
      if (!earlier) this.logger.warn({ msg: `self-check ${finding.check}: ${finding.message}`, check: finding.check, object: finding.object });
      next.set(key, { ...finding, severity: 'Warning', since: earlier?.since ?? new Date(now).toISOString() });
    }
    for (const [key, finding] of this.open) {
      if (!next.has(key)) this.logger.log({ msg: `self-check ${finding.check} cleared for ${finding.object.kind} ${finding.object.name}`, check: finding.check, object: finding.object });
    }
    this.open = next;
    for (const check of CHECKS) this.metrics.selfCheckFindings.labels(check).set([...next.values()].filter((f) => f.check === check).length);
  }
}
