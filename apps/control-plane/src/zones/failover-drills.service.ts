/**
 * Failover drills, one at a time in the mesh: two drills at once would each count the other's
 * shift as their own traffic. A running drill's Zone object carries the reason `drill <id>`, so a
 * replica sees a drill another replica runs.
 *
 * The drill runs on the replica that was asked, in the background; its report is in the event
 * journal, readable from every replica. When this replica stops, its drill ends and undrains its
 * zone before the module goes away.
 */
import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DEFAULT_NAMESPACE } from '@portolan/api';
import { PoolTrafficWindow } from '../autoscaling/pool-traffic-window';
import { ApiError } from '../errors/api-error';
import { EVENT_JOURNAL, type EventJournal } from '../events/event-journal';
import { NODE_REGISTRY, type NodeRegistry } from '../registry/node-registry';
import { DRILL_KIND, drillIdOf, timestampOf, type DrillReport } from './drill-report';
import { FailoverDrill } from './failover-drill';
import { ZonesService } from './zones.service';

export interface DrillStarted {
  id: string;
  zone: string;
  duration: string;
  startedAt: string;
}

@Injectable()
export class FailoverDrillsService implements OnModuleDestroy {
  private readonly logger = new Logger('failover-drills');
  private running: FailoverDrill | undefined;
  /** A start between its checks and its drill: a second start must not pass the same checks. */
  private starting = false;
  private closed = false;

  constructor(
    private readonly zones: ZonesService,
    private readonly traffic: PoolTrafficWindow,
    @Inject(NODE_REGISTRY) private readonly registry: NodeRegistry,
    @Inject(EVENT_JOURNAL) private readonly journal: EventJournal,
  ) {}

  async start(zone: string, durationMs: number, duration: string, requestedBy: string): Promise<DrillStarted> {
    if (this.closed) throw ApiError.of(503, 'ServiceUnavailable', 'the control plane is stopping: start the drill on another replica, or once it is back');
    if (this.running) throw this.busy(this.running.zone, this.running.id);
    if (this.starting) throw ApiError.of(409, 'Conflict', 'another failover drill is being started: one drill runs at a time', { name: zone, kind: 'zones' });
    this.starting = true;
    try {
      const { items } = await this.zones.list();
      const target = items.find((summary) => summary.zone === zone);
      if (!target) {
        throw ApiError.invalid('Zone', zone, [
          { field: 'zone', reason: 'FieldValueInvalid', message: `Not found: ${JSON.stringify(zone)}: no gateway, endpoint, Zone object or FailoverPolicy names this zone (GET /v1/zones lists them)` },
        ]);
      }
      const elsewhere = items.find((summary) => summary.drained && drillIdOf(summary.reason) !== undefined);
      if (elsewhere) throw this.busy(elsewhere.zone, drillIdOf(elsewhere.reason)!);
      if (target.drained) {
        throw ApiError.of(409, 'Conflict', `zone ${zone} is already drained (${target.reason ?? 'no reason given'}): a drill measures moving traffic off a zone that takes it; undrain it first`, {
          name: zone,
          kind: 'zones',
        });
      }
      const drill = new FailoverDrill(
        { id: `${zone}-${randomUUID().slice(0, 8)}`, zone, durationMs, duration, requestedBy },
        {
          zones: this.zones,
          traffic: this.traffic,
          gatewayZones: () => [...new Set(this.registry.nodes().flatMap((node) => (node.role === 'gateway' ? [node.spec.zone] : [])))],
          putStatus: (key, status) => this.journal.putStatus(key, status),
          record: (event) => this.journal.record(event),
          warn: (message) => this.logger.warn(message),
        },
      );
      this.running = drill;
      void drill.finished.then(() => {
        if (this.running === drill) this.running = undefined;
      });
      const report = drill.current();
      return { id: report.id, zone: report.zone, duration: report.duration, startedAt: report.startedAt };
    } finally {
      this.starting = false;
    }
  }

  /** The running drill's report from memory (fresher than the journal's), any other from the journal. */
  async report(id: string): Promise<DrillReport> {
    if (this.running?.id === id) return this.running.current();
    const stored = await this.journal.status({ kind: DRILL_KIND, namespace: DEFAULT_NAMESPACE, name: id });
    if (stored === undefined) throw ApiError.notFound('failoverdrills', id);
    return stored as DrillReport;
  }

  /** Ends the running drill (undraining its zone) and refuses new ones. */
  async close(): Promise<void> {
    this.closed = true;
    const drill = this.running;
    if (!drill) return;
    this.logger.warn(`stopping failover drill ${drill.id} at ${timestampOf(Date.now())}: undraining zone ${drill.zone}`);
    await drill.stop();
  }

  onModuleDestroy(): Promise<void> {
    return this.close();
  }

  private busy(zone: string, id: string): ApiError {
    return ApiError.of(409, 'Conflict', `failover drill ${id} is running on zone ${zone}: one drill runs at a time; see GET /v1/zones/drills/${id}`, { name: zone, kind: 'zones' });
  }
}
