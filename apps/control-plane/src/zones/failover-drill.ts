/**
 * One failover drill: drain a zone for a while, measure how fast traffic left it and came back
 * and what the mesh answered meanwhile, then undrain it. The report is kept in the event journal
 * (as the status of a FailoverDrill) as the drill goes, so every replica can show it.
 *
 * Traffic is sampled every second as cumulative totals per zone since the drill started (see
 * `readTotals`), so the figures are exact sums of the heartbeats that arrived during the drill,
 * however the 5-second slots of PoolTrafficWindow fall (drill-report.ts says what heartbeats
 * cannot tell).
 *
 * A drill never leaves the zone drained: it undrains at the end, after a failure, and when the
 * control plane stops (`stop`). It undoes only its own drain: if the zone was drained again since
 * with another reason, an operator did that and it stays. A control plane that dies without
 * stopping (SIGKILL, crash) cannot undrain: the report's `deadline` tells the other replicas, and
 * this one once restarted, when the zone may be undrained for it (failover-drills.service.ts). So
 * the report is saved before the zone is drained: a zone drained by a drill without a report is
 * one whose drill is gone.
 */
import type { NewMeshEvent } from '../events/event-journal';
import type { PoolTrafficWindow } from '../autoscaling/pool-traffic-window';
import { drillDeadline, drillFigures, DRILL_KIND, drillReason, needsAttention, summarize, timestampOf, trafficBetween, type DrillEvent, type DrillReport, type TrafficTotals } from './drill-report';
import type { DrainOutcome, ZonesService } from './zones.service';

export const SAMPLE_INTERVAL_MS = 1_000;
/** The journal gets the running figures this often (heartbeats change them no faster), and at every step of the timeline. */
const SAVE_INTERVAL_MS = 5_000;
export const DRILL_SOURCE = 'failover-drill';

export class DrillInterrupted extends Error {
  constructor() {
    super('the control plane stopped during the drill');
  }
}

export interface DrillDependencies {
  zones: Pick<ZonesService, 'drain' | 'undrain'>;
  traffic: Pick<PoolTrafficWindow, 'readZone'>;
  /** Zones whose gateways carry traffic now (every zone with a registered gateway). */
  gatewayZones(): string[];
  /** Where the report goes (EventJournal.putStatus) and the closing event (EventJournal.record). */
  putStatus(key: { kind: string; namespace: string; name: string }, status: unknown): Promise<void>;
  record(event: NewMeshEvent): Promise<unknown>;
  warn(message: string): void;
  clock?: () => number;
}

export interface DrillRequest {
  id: string;
  zone: string;
  durationMs: number;
  /** Normalized, e.g. "30s". */
  duration: string;
  requestedBy: string;
}

export class FailoverDrill {
  readonly id: string;
  readonly zone: string;
  private readonly report: DrillReport;
  private readonly reason: string;
  private readonly abort = new AbortController();
  private readonly now: () => number;
  private readonly startedMs: number;
  /** Every zone sampled so far: a zone whose gateways all left still has its traffic counted. */
  private readonly zonesSeen = new Set<string>();
  private baseline: TrafficTotals = new Map();
  /** Steps whose wait for the gateways ended with some still pending: their time is not a measurement. */
  private readonly incomplete = new Set<DrillEvent>();
  private sampler: NodeJS.Timeout | undefined;
  private saving: Promise<void> = Promise.resolve();
  private lastSavedAt = -Infinity;
  private failure: string | undefined;
  /** Settles when the drill has ended, undrained and saved; never rejects. */
  readonly finished: Promise<void>;

  constructor(
    request: DrillRequest,
    private readonly deps: DrillDependencies,
  ) {
    this.id = request.id;
    this.zone = request.zone;
    this.now = deps.clock ?? Date.now;
    this.startedMs = this.now();
    this.reason = drillReason(request.id);
    this.report = {
      id: request.id,
      zone: request.zone,
      duration: request.duration,
      state: 'Running',
      requestedBy: request.requestedBy,
      startedAt: timestampOf(this.startedMs),
      deadline: timestampOf(drillDeadline(this.startedMs, request.durationMs)),
      timeline: [],
      figures: drillFigures([], []),
    };
    this.baseline = this.readTotals();
    this.finished = this.run(request.durationMs);
  }

  /** The report as it stands. */
  current(): DrillReport {
    return structuredClone(this.report);
  }

  /** Ends the drill now: undrains without waiting for the gateways, saves the report as Failed. */
  async stop(): Promise<void> {
    if (!this.abort.signal.aborted) this.abort.abort(new DrillInterrupted());
    await this.finished;
  }

  private async run(durationMs: number): Promise<void> {
    const signal = this.abort.signal;
    this.sampler = setInterval(() => this.sample(), SAMPLE_INTERVAL_MS);
    try {
      await this.saveFirst();
      signal.throwIfAborted();
      this.note('drain-requested', this.startedMs, `drain of zone ${this.zone} requested (reason "${this.reason}")`);
      const drained = await this.deps.zones.drain(this.zone, this.reason, { actor: this.report.requestedBy, source: DRILL_SOURCE, purpose: `for failover drill ${this.id}`, signal });
      this.noteArrival('traffic-shifted', drained, `every routable gateway runs the drain (revision ${drained.answer.revision})`);
      await sleepUntil(this.startedMs + durationMs, this.now, signal);
    } catch (error) {
      this.failure = (error as Error).message;
    }
    // Also after a failure or an interruption: the drain may have been written even if waiting for the gateways was not finished.
    await this.undrain();
    clearInterval(this.sampler);
    this.sample();
    await this.finish();
  }

  private async undrain(): Promise<void> {
    const requestedAt = this.now();
    const stopping = this.abort.signal.aborted;
    try {
      const undrained = await this.deps.zones.undrain(this.zone, {
        actor: this.report.requestedBy,
        source: DRILL_SOURCE,
        purpose: `at the end of failover drill ${this.id}`,
        onlyIfReason: this.reason,
        // Stopping: the write is what matters; the gateways hear of it from the store whoever serves them next.
        ...(stopping ? { budgetMs: 0 } : { signal: this.abort.signal }),
      });
      if (undrained.leftAlone) {
        this.note('undrain-requested', requestedAt, `zone ${this.zone} left drained: ${undrained.leftAlone}`);
      } else if (!undrained.written) {
        this.note('undrain-requested', requestedAt, `zone ${this.zone} is not drained (revision ${undrained.answer.revision})`);
      } else {
        this.note('undrain-requested', requestedAt, `zone ${this.zone} undrained (revision ${undrained.answer.revision})${stopping ? ', not waiting for the gateways: the control plane is stopping' : ''}`);
      }
      if (undrained.written && !stopping) this.noteArrival('traffic-returned', undrained, `every routable gateway runs the undrain (revision ${undrained.answer.revision})`);
    } catch (error) {
      // The signal only ends the wait for the gateways, which comes after the write.
      if (error instanceof DrillInterrupted) {
        this.note('undrain-requested', requestedAt, `zone ${this.zone} undrained, not waiting for the gateways: the control plane is stopping`);
        this.failure ??= error.message;
        return;
      }
      this.note('undrain-requested', requestedAt, `undrain failed: ${(error as Error).message}`);
      this.failure = `${this.failure ? `${this.failure}; then ` : ''}the zone could not be undrained, undrain it with DELETE /v1/zones/${this.zone}/drain: ${(error as Error).message}`;
    }
  }

  private noteArrival(event: DrillEvent, outcome: DrainOutcome, whenPropagated: string): void {
    if (outcome.answer.propagated) {
      this.note(event, outcome.waitEndedAt, whenPropagated);
      return;
    }
    this.incomplete.add(event);
    this.note(event, outcome.waitEndedAt, `gateways that had not run revision ${outcome.answer.revision} when the wait ended: ${outcome.answer.pending.join(', ')}`);
  }

  private note(event: DrillEvent, atMs: number, detail: string): void {
    this.report.timeline.push({ at: timestampOf(atMs), event, detail });
    this.refreshFigures(this.readTotals());
    this.save();
  }

  private sample(): void {
    this.refreshFigures(this.readTotals());
    if (this.now() - this.lastSavedAt >= SAVE_INTERVAL_MS) this.save();
  }

  private refreshFigures(latest: TrafficTotals): void {
    this.report.figures = drillFigures(this.report.timeline, trafficBetween(this.baseline, latest), this.incomplete);
  }

  /**
   * Requests and 5xx per zone since the drill started. Every read covers the same heartbeat slots
   * (those ending after the start), so later reads only grow, by what arrived in between; the
   * baseline read at the start is subtracted from each.
   */
  private readTotals(): TrafficTotals {
    const now = this.now();
    for (const zone of [this.zone, ...this.deps.gatewayZones()]) this.zonesSeen.add(zone);
    const totals = new Map<string, { requests: number; serverErrors: number }>();
    for (const zone of this.zonesSeen) {
      const reading = this.deps.traffic.readZone(zone, now - this.startedMs, now);
      totals.set(zone, { requests: reading.requests, serverErrors: reading.serverErrors });
    }
    return totals;
  }

  /** The report before the drain, with its deadline: without it, another replica would take the drill's drain for an abandoned one. */
  private async saveFirst(): Promise<void> {
    this.lastSavedAt = this.now();
    try {
      await this.deps.putStatus({ kind: DRILL_KIND, namespace: 'default', name: this.id }, this.current());
    } catch (error) {
      throw new Error(`the report could not be saved, so the zone was not drained: ${(error as Error).message}`);
    }
  }

  /** In order: a slow write must not land after a newer one. */
  private save(): void {
    this.lastSavedAt = this.now();
    const report = this.current();
    this.saving = this.saving
      .then(() => this.deps.putStatus({ kind: DRILL_KIND, namespace: 'default', name: this.id }, report))
      .catch((error: Error) => this.deps.warn(`failover drill ${this.id}: the report could not be saved: ${error.message}`));
  }

  private async finish(): Promise<void> {
    this.report.state = this.failure === undefined ? 'Completed' : 'Failed';
    if (this.failure !== undefined) this.report.error = this.failure;
    this.save();
    await this.saving;
    const report = this.current();
    try {
      await this.deps.record({
        type: needsAttention(report, this.incomplete.size > 0) ? 'Warning' : 'Normal',
        reason: 'DrillCompleted',
        regarding: { kind: DRILL_KIND, namespace: 'default', name: this.id },
        source: DRILL_SOURCE,
        message: summarize(report),
        details: { zone: report.zone, duration: report.duration, state: report.state, requestedBy: report.requestedBy, figures: report.figures, timeline: report.timeline },
      });
    } catch (error) {
      this.deps.warn(`failover drill ${this.id}: its DrillCompleted event could not be recorded: ${(error as Error).message}`);
    }
  }
}

/** Resolves at `wakeAt`, or rejects with the signal's reason when it aborts first. */
function sleepUntil(wakeAt: number, now: () => number, signal: AbortSignal): Promise<void> {
  signal.throwIfAborted();
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, wakeAt - now()));
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
