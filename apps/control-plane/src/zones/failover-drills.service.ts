/**
 * Failover drills, one at a time in the mesh: two drills at once would each count the other's
 * shift as their own traffic. A running drill's Zone object carries the reason `drill <id>`, so a
 * replica sees a drill another replica runs.
 *
 * The drill runs on the replica that was asked, in the background; its report is in the event
 * journal, readable from every replica. When this replica stops, its drill ends and undrains its
 * zone before the module goes away.
 *
 * A replica that dies without stopping (SIGKILL, crash, lost host) cannot undrain. Its drill's
 * report has a deadline (startedAt + duration + DRILL_GRACE_MS), and every replica sweeps when it
 * starts and before it refuses a drill because another one runs: a zone drained by a drill whose
 * deadline passed (or whose report is missing, or says it ended) is undrained through
 * ResourcesService by `drill-sweeper`, the report marked Failed, and DrillAbandoned recorded. A
 * drill within its deadline is running somewhere and is left alone. The undrain names the drill's
 * reason, so of two replicas sweeping at once one writes it, and an operator's drain since stays.
 */
import { Inject, Injectable, Logger, Optional, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { DEFAULT_NAMESPACE } from '@portolan/api';
import { PoolTrafficWindow } from '../autoscaling/pool-traffic-window';
import { ApiError } from '../errors/api-error';
import { EVENT_JOURNAL, type EventJournal } from '../events/event-journal';
import { defaultIdentity, LEADERSHIP, type Leadership } from '../leadership/leadership';
import { NODE_REGISTRY, type NodeRegistry } from '../registry/node-registry';
import { deadlineOf, DRILL_KIND, drillIdOf, drillReason, timestampOf, type DrillReport } from './drill-report';
import { FailoverDrill } from './failover-drill';
import type { ZoneSummary } from './zone-listing';
import { ZonesService } from './zones.service';

/** The actor (store history) and source (events) of the undrain of an abandoned drill's zone. */
export const DRILL_SWEEPER = 'drill-sweeper';
/** Nest injection token of the clock drills and the sweep read (tests); Date.now without it. */
export const DRILL_CLOCK = Symbol('FailoverDrillClock');

export interface DrillStarted {
  id: string;
  zone: string;
  duration: string;
  startedAt: string;
}

export interface DrillRef {
  zone: string;
  id: string;
}

/** What one sweep found among the zones drained by drills. */
export interface DrillSweep {
  /** Drills within their deadline: running, here or on another replica. */
  running: Array<DrillRef & { deadline: string }>;
  /** Abandoned drills whose zone this sweep undrained. */
  undrained: DrillRef[];
  /** Drills this sweep could not judge or whose zone it could not undrain, and why. */
  blocked: Array<DrillRef & { why: string }>;
}

const drillKey = (id: string) => ({ kind: DRILL_KIND, namespace: DEFAULT_NAMESPACE, name: id });

function isReport(value: unknown): value is DrillReport {
  return typeof value === 'object' && value !== null && Array.isArray((value as DrillReport).timeline) && typeof (value as DrillReport).state === 'string';
}

@Injectable()
export class FailoverDrillsService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('failover-drills');
  private running: FailoverDrill | undefined;
  /** A start between its checks and its drill: a second start must not pass the same checks. */
  private starting = false;
  private closed = false;
  /** Sweeps one after the other (the one at start and those of drill requests); never rejects. */
  private sweeps: Promise<unknown> = Promise.resolve();
  private readonly now: () => number;
  /** Who undrains an abandoned drill's zone, as the report and the event say: `drill-sweeper on <replica>`. */
  private readonly sweeper: string;
  private readonly replica: string;

  constructor(
    private readonly zones: ZonesService,
    private readonly traffic: PoolTrafficWindow,
    @Inject(NODE_REGISTRY) private readonly registry: NodeRegistry,
    @Inject(EVENT_JOURNAL) private readonly journal: EventJournal,
    @Optional() @Inject(LEADERSHIP) leadership?: Pick<Leadership, 'identity'>,
    @Optional() @Inject(DRILL_CLOCK) clock?: () => number,
  ) {
    this.now = clock ?? Date.now;
    this.replica = leadership?.identity ?? defaultIdentity();
    this.sweeper = `${DRILL_SWEEPER} on ${this.replica}`;
  }

  /** Undrains the zones of drills abandoned while this replica was down (or any other died), in the background. */
  onApplicationBootstrap(): void {
    void this.sweep().then(
      (found) => {
        for (const drill of found.blocked) this.logger.warn(`failover drill ${drill.id} still drains zone ${drill.zone}: ${drill.why}`);
      },
      (error: Error) => this.logger.warn(`could not look for abandoned failover drills at start: ${error.message}; the next drill request looks again`),
    );
  }

  async start(zone: string, durationMs: number, duration: string, requestedBy: string): Promise<DrillStarted> {
    if (this.closed) throw ApiError.of(503, 'ServiceUnavailable', 'the control plane is stopping: start the drill on another replica, or once it is back');
    if (this.running) throw this.busy(this.running.zone, this.running.id, this.running.current().deadline);
    if (this.starting) throw ApiError.of(409, 'Conflict', 'another failover drill is being started: one drill runs at a time', { name: zone, kind: 'zones' });
    this.starting = true;
    try {
      let { items } = await this.zones.list();
      if (!items.some((summary) => summary.zone === zone)) {
        throw ApiError.invalid('Zone', zone, [
          { field: 'zone', reason: 'FieldValueInvalid', message: `Not found: ${JSON.stringify(zone)}: no gateway, endpoint, Zone object or FailoverPolicy names this zone (GET /v1/zones lists them)` },
        ]);
      }
      const found = await this.sweep(items);
      const [elsewhere] = found.running;
      if (elsewhere) throw this.busy(elsewhere.zone, elsewhere.id, elsewhere.deadline);
      const [blocked] = found.blocked;
      if (blocked) {
        throw ApiError.of(409, 'Conflict', `zone ${blocked.zone} is drained by failover drill ${blocked.id}: ${blocked.why}; one drill runs at a time`, { name: zone, kind: 'zones' });
      }
      if (found.undrained.length > 0) ({ items } = await this.zones.list());
      const target = items.find((summary) => summary.zone === zone)!;
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
          clock: this.now,
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

  /**
   * Looks at every zone drained by a drill other than this replica's own: one within its deadline
   * is running; one past it (or without a report, or whose report says it ended) was abandoned and
   * is undrained. `zones`: the listing to look at; read now without it.
   */
  sweep(zones?: readonly ZoneSummary[]): Promise<DrillSweep> {
    const next = this.sweeps.then(() => this.sweepNow(zones));
    this.sweeps = next.catch(() => undefined);
    return next;
  }

  private async sweepNow(zones: readonly ZoneSummary[] | undefined): Promise<DrillSweep> {
    const found: DrillSweep = { running: [], undrained: [], blocked: [] };
    for (const summary of zones ?? (await this.zones.list()).items) {
      const id = summary.drained ? drillIdOf(summary.reason) : undefined;
      if (id === undefined || id === this.running?.id) continue;
      const drill = { zone: summary.zone, id };
      let stored: unknown;
      try {
        stored = await this.journal.status(drillKey(id));
      } catch (error) {
        found.blocked.push({ ...drill, why: `its report could not be read to tell whether it still runs (${(error as Error).message}); try again` });
        continue;
      }
      const report = isReport(stored) ? stored : undefined;
      const deadline = deadlineOf(report);
      if (report?.state === 'Running' && deadline !== undefined && this.now() < deadline) {
        found.running.push({ ...drill, deadline: timestampOf(deadline) });
        continue;
      }
      try {
        if (await this.undrainAbandoned(drill, report, deadline)) found.undrained.push(drill);
      } catch (error) {
        found.blocked.push({ ...drill, why: `it was abandoned, but its zone could not be undrained (${(error as Error).message}): undrain it with DELETE /v1/zones/${drill.zone}/drain` });
      }
    }
    return found;
  }

  /** Undrains the zone of an abandoned drill, marks its report Failed, records DrillAbandoned; false when another replica or an operator got there first. */
  private async undrainAbandoned(drill: DrillRef, report: DrillReport | undefined, deadline: number | undefined): Promise<boolean> {
    const why =
      report === undefined
        ? 'it has no report'
        : report.state !== 'Running'
          ? `its report says it ended (${report.state}) but the zone was left drained`
          : deadline === undefined
            ? 'its report has no deadline'
            : `its deadline ${timestampOf(deadline)} passed`;
    const undrained = await this.zones.undrain(drill.zone, {
      actor: DRILL_SWEEPER,
      source: DRILL_SWEEPER,
      purpose: `on ${this.replica}, after failover drill ${drill.id} was abandoned (${why})`,
      onlyIfReason: drillReason(drill.id),
      // The write is what matters, as when a drill stops: the gateways hear of it from the store.
      budgetMs: 0,
    });
    // Not drained with the drill's reason any more: another replica swept it, or an operator drained the zone again.
    if (!undrained.written) return false;
    const at = this.now();
    const revision = undrained.answer.revision;
    const stopped = report === undefined || report.state === 'Running';
    const error = stopped
      ? `the control plane running the drill stopped before it ended; the zone was undrained by ${this.sweeper}`
      : `${report.error ?? 'the drill ended without undraining the zone'}; then the zone was undrained by ${this.sweeper}`;
    this.logger.warn(`failover drill ${drill.id} was abandoned (${why}): zone ${drill.zone} undrained at revision ${revision}`);
    if (report) {
      const swept: DrillReport = {
        ...report,
        state: 'Failed',
        error,
        timeline: [...report.timeline, { at: timestampOf(at), event: 'undrain-requested', detail: `zone ${drill.zone} undrained by ${this.sweeper} (revision ${revision}): ${why}` }],
      };
      await this.journal.putStatus(drillKey(drill.id), swept).catch((failure: Error) => this.logger.warn(`failover drill ${drill.id}: the report could not be marked Failed: ${failure.message}`));
    }
    await this.journal
      .record({
        type: 'Warning',
        reason: 'DrillAbandoned',
        regarding: drillKey(drill.id),
        source: DRILL_SWEEPER,
        time: timestampOf(at),
        message: `failover drill ${drill.id} of zone ${drill.zone} was abandoned (${why}): ${error}, at revision ${revision}`,
        details: {
          zone: drill.zone,
          why,
          error,
          undrainedBy: this.sweeper,
          revision,
          deadline: deadline === undefined ? null : timestampOf(deadline),
          ...(report ? { startedAt: report.startedAt, duration: report.duration, requestedBy: report.requestedBy, stateBefore: report.state } : {}),
        },
      })
      .catch((failure: Error) => this.logger.warn(`failover drill ${drill.id}: its DrillAbandoned event could not be recorded: ${failure.message}`));
    return true;
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
    await this.sweeps;
    const drill = this.running;
    if (!drill) return;
    this.logger.warn(`stopping failover drill ${drill.id} at ${timestampOf(this.now())}: undraining zone ${drill.zone}`);
    await drill.stop();
  }

  onModuleDestroy(): Promise<void> {
    return this.close();
  }

  private busy(zone: string, id: string, deadline: string): ApiError {
    return ApiError.of(409, 'Conflict', `failover drill ${id} is running on zone ${zone} (until ${deadline} at the latest): one drill runs at a time; see GET /v1/zones/drills/${id}`, {
      name: zone,
      kind: 'zones',
    });
  }
}
