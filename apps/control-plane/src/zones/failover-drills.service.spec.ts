/**
 * FailoverDrillsService and drills abandoned by a control plane that died: the sweep at start and
 * before a drill is refused, over a real event journal, a ZonesService double and a clock moved by
 * hand.
 */
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PoolTrafficWindow } from '../autoscaling/pool-traffic-window';
import { ApiError } from '../errors/api-error';
import { SqliteEventJournal } from '../events/sqlite-event-journal';
import type { NodeRegistry } from '../registry/node-registry';
import type { DrillReport } from './drill-report';
import { FailoverDrillsService } from './failover-drills.service';
import type { ZoneSummary } from './zone-listing';
import type { DrainOptions, DrainOutcome, ZonesService } from './zones.service';

const T0 = Date.parse('2026-03-01T12:00:00.000Z');
const REPLICA = 'cp-2:4242';

/** Zone objects in memory, drained and undrained as ZonesService does (onlyIfReason included). */
class FakeZones {
  readonly zones = new Map<string, { drained: boolean; reason?: string }>([
    ['zone-a', { drained: false }],
    ['zone-b', { drained: false }],
    ['zone-c', { drained: false }],
  ]);
  readonly undrains: Array<{ zone: string; options: DrainOptions }> = [];
  revision = 10;
  /** Runs at the start of the next undrain: another writer getting there first. */
  beforeUndrain: (() => void) | undefined;
  undrainFails: Error | undefined;

  async list(): Promise<{ items: ZoneSummary[] }> {
    return {
      items: [...this.zones].map(([zone, state]) => ({ zone, ...state, gateways: { total: 1, routable: 1 }, endpoints: { total: 1, healthy: 1 }, failover: [] })),
    };
  }

  async drain(zone: string, reason: string): Promise<DrainOutcome> {
    this.zones.set(zone, { drained: true, reason });
    return this.outcome(zone, true, true);
  }

  async undrain(zone: string, options: DrainOptions): Promise<DrainOutcome> {
    this.undrains.push({ zone, options });
    this.beforeUndrain?.();
    this.beforeUndrain = undefined;
    if (this.undrainFails) throw this.undrainFails;
    const state = this.zones.get(zone)!;
    if (!state.drained) return this.outcome(zone, false, false);
    if (options.onlyIfReason !== undefined && state.reason !== options.onlyIfReason) return { ...this.outcome(zone, true, false), leftAlone: `it was drained again since, with reason "${state.reason}"` };
    this.zones.set(zone, { drained: false });
    return this.outcome(zone, false, true);
  }

  private outcome(zone: string, drained: boolean, written: boolean): DrainOutcome {
    if (written) this.revision++;
    return { answer: { zone, drained, revision: this.revision, requestedAt: '', trafficMovedAt: null, propagated: false, pending: [] }, written, waitEndedAt: Date.now() };
  }
}

/** The report a drill keeps in the journal, started at `startedMs` for `durationMs`. */
function runningReport(id: string, zone: string, startedMs: number, durationMs: number): DrillReport {
  return {
    id,
    zone,
    duration: `${durationMs / 1000}s`,
    state: 'Running',
    requestedBy: 'bob',
    startedAt: new Date(startedMs).toISOString(),
    deadline: new Date(startedMs + durationMs + 30_000).toISOString(),
    timeline: [{ at: new Date(startedMs).toISOString(), event: 'drain-requested', detail: '' }],
    figures: { shiftMs: null, recoveryMs: null, requestsDuringDrill: 0, serverErrorsDuringDrill: 0, errorRatePercent: null, byZone: [] },
  };
}

const drillKey = (id: string) => ({ kind: 'FailoverDrill', namespace: 'default', name: id });

let now: number;
let db: Database.Database;
let journal: SqliteEventJournal;
let zones: FakeZones;
let service: FailoverDrillsService;

/** A drill of another replica drains `zone`; its report is in the journal unless `report` is null. */
async function drillOfAnotherReplica(id: string, zone: string, report: DrillReport | null): Promise<void> {
  zones.zones.set(zone, { drained: true, reason: `drill ${id}` });
  if (report) await journal.putStatus(drillKey(id), report);
}

async function refusal(promise: Promise<unknown>): Promise<{ code: number; message: string }> {
  const error = await promise.then(
    () => undefined,
    (failure: unknown) => failure,
  );
  expect(error).toBeInstanceOf(ApiError);
  return { code: (error as ApiError).status.code, message: (error as ApiError).status.message };
}

beforeEach(() => {
  now = T0;
  db = new Database(':memory:');
  journal = new SqliteEventJournal(db, { now: () => now });
  zones = new FakeZones();
  const registry = { nodes: () => [] } as unknown as NodeRegistry;
  service = new FailoverDrillsService(zones as unknown as ZonesService, new PoolTrafficWindow(), registry, journal, { identity: REPLICA }, () => now);
});

afterEach(async () => {
  await service.close();
  db.close();
});

describe('drills abandoned by a control plane that died', () => {
  it('are swept when the control plane starts: the zone undrained, the report Failed, DrillAbandoned recorded', async () => {
    await drillOfAnotherReplica('zone-b-0badcafe', 'zone-b', runningReport('zone-b-0badcafe', 'zone-b', T0 - 120_000, 60_000));
    service.onApplicationBootstrap();
    // Sweeps run one after the other: this one finds what the one at start left.
    expect(await service.sweep()).toEqual({ running: [], undrained: [], blocked: [] });

    expect(zones.zones.get('zone-b')).toEqual({ drained: false });
    expect(zones.undrains).toEqual([
      {
        zone: 'zone-b',
        options: {
          actor: 'drill-sweeper',
          source: 'drill-sweeper',
          purpose: `on ${REPLICA}, after failover drill zone-b-0badcafe was abandoned (its deadline 2026-03-01T11:59:30.000Z passed)`,
          onlyIfReason: 'drill zone-b-0badcafe',
          budgetMs: 0,
        },
      },
    ]);
    const report = (await journal.status(drillKey('zone-b-0badcafe'))) as DrillReport;
    expect(report).toMatchObject({
      state: 'Failed',
      error: `the control plane running the drill stopped before it ended; the zone was undrained by drill-sweeper on ${REPLICA}`,
      requestedBy: 'bob',
    });
    expect(report.timeline.at(-1)).toEqual({ at: '2026-03-01T12:00:00.000Z', event: 'undrain-requested', detail: `zone zone-b undrained by drill-sweeper on ${REPLICA} (revision 11): its deadline 2026-03-01T11:59:30.000Z passed` });
    expect(await journal.list({ source: 'drill-sweeper' })).toEqual([
      expect.objectContaining({
        type: 'Warning',
        reason: 'DrillAbandoned',
        regarding: drillKey('zone-b-0badcafe'),
        message: `failover drill zone-b-0badcafe of zone zone-b was abandoned (its deadline 2026-03-01T11:59:30.000Z passed): the control plane running the drill stopped before it ended; the zone was undrained by drill-sweeper on ${REPLICA}, at revision 11`,
        details: expect.objectContaining({ zone: 'zone-b', revision: 11, undrainedBy: `drill-sweeper on ${REPLICA}`, deadline: '2026-03-01T11:59:30.000Z', stateBefore: 'Running' }),
      }),
    ]);
    expect((await service.report('zone-b-0badcafe')).state).toBe('Failed');
  });

  it('leave a drill within its deadline alone (409), and no longer stand in the way once it passed', async () => {
    await drillOfAnotherReplica('zone-b-0badcafe', 'zone-b', runningReport('zone-b-0badcafe', 'zone-b', T0 - 20_000, 60_000));
    expect(await refusal(service.start('zone-a', 5_000, '5s', 'alice'))).toEqual({
      code: 409,
      message: expect.stringContaining('failover drill zone-b-0badcafe is running on zone zone-b (until 2026-03-01T12:01:10.000Z at the latest)'),
    });
    expect(zones.undrains).toEqual([]);
    // Still within the grace after its duration: it may be undraining right now.
    now = T0 + 69_999;
    expect((await refusal(service.start('zone-a', 5_000, '5s', 'alice'))).code).toBe(409);

    now = T0 + 70_000;
    const started = await service.start('zone-a', 5_000, '5s', 'alice');
    expect(started).toMatchObject({ zone: 'zone-a', duration: '5s', startedAt: '2026-03-01T12:01:10.000Z' });
    expect(zones.zones.get('zone-b')).toEqual({ drained: false });
    expect((await journal.list({ reason: 'DrillAbandoned' })).map((event) => event.regarding.name)).toEqual(['zone-b-0badcafe']);
    // The new drill runs, and its report has its own deadline.
    await expect.poll(() => zones.zones.get('zone-a')).toEqual({ drained: true, reason: `drill ${started.id}` });
    expect(await service.report(started.id)).toMatchObject({ state: 'Running', deadline: '2026-03-01T12:01:45.000Z' });
  });

  it('take a zone drained by a drill without a report for abandoned', async () => {
    await drillOfAnotherReplica('zone-b-0badcafe', 'zone-b', null);
    expect(await service.sweep()).toEqual({ running: [], undrained: [{ zone: 'zone-b', id: 'zone-b-0badcafe' }], blocked: [] });
    expect(zones.zones.get('zone-b')).toEqual({ drained: false });
    expect(await journal.status(drillKey('zone-b-0badcafe'))).toBeUndefined();
    const [event] = await journal.list({ reason: 'DrillAbandoned' });
    expect(event.message).toMatch(/^failover drill zone-b-0badcafe of zone zone-b was abandoned \(it has no report\): the control plane running the drill stopped before it ended/);
  });

  it('undrain a zone a drill left drained when it ended without undraining, keeping what its report said', async () => {
    const report: DrillReport = { ...runningReport('zone-b-0badcafe', 'zone-b', T0 - 20_000, 60_000), state: 'Failed', error: 'the zone could not be undrained, undrain it with DELETE /v1/zones/zone-b/drain: the store is unavailable' };
    await drillOfAnotherReplica('zone-b-0badcafe', 'zone-b', report);
    expect((await service.sweep()).undrained).toEqual([{ zone: 'zone-b', id: 'zone-b-0badcafe' }]);
    expect(zones.zones.get('zone-b')).toEqual({ drained: false });
    expect(await journal.status(drillKey('zone-b-0badcafe'))).toMatchObject({
      state: 'Failed',
      error: `${report.error}; then the zone was undrained by drill-sweeper on ${REPLICA}`,
    });
  });

  it('leave alone a zone another replica swept first, or an operator drained again, and say nothing', async () => {
    await drillOfAnotherReplica('zone-b-0badcafe', 'zone-b', runningReport('zone-b-0badcafe', 'zone-b', T0 - 120_000, 60_000));
    zones.beforeUndrain = () => zones.zones.set('zone-b', { drained: true, reason: 'AZ outage' });
    expect(await service.sweep()).toEqual({ running: [], undrained: [], blocked: [] });
    expect(zones.zones.get('zone-b')).toEqual({ drained: true, reason: 'AZ outage' });

    await drillOfAnotherReplica('zone-c-0badcafe', 'zone-c', runningReport('zone-c-0badcafe', 'zone-c', T0 - 120_000, 60_000));
    zones.beforeUndrain = () => zones.zones.set('zone-c', { drained: false });
    expect(await service.sweep()).toEqual({ running: [], undrained: [], blocked: [] });

    expect(await journal.list({ source: 'drill-sweeper' })).toEqual([]);
    expect(await journal.status(drillKey('zone-b-0badcafe'))).toMatchObject({ state: 'Running' });
    expect(await journal.status(drillKey('zone-c-0badcafe'))).toMatchObject({ state: 'Running' });
  });

  it('refuse a drill, without undraining, while a report cannot be read or a zone cannot be undrained', async () => {
    await drillOfAnotherReplica('zone-b-0badcafe', 'zone-b', runningReport('zone-b-0badcafe', 'zone-b', T0 - 120_000, 60_000));
    const status = journal.status.bind(journal);
    journal.status = async () => {
      throw new Error('Consul is unreachable');
    };
    expect(await refusal(service.start('zone-a', 5_000, '5s', 'alice'))).toEqual({
      code: 409,
      message: 'zone zone-b is drained by failover drill zone-b-0badcafe: its report could not be read to tell whether it still runs (Consul is unreachable); try again; one drill runs at a time',
    });
    expect(zones.undrains).toEqual([]);

    journal.status = status;
    zones.undrainFails = new Error('Consul is unreachable');
    expect((await refusal(service.start('zone-a', 5_000, '5s', 'alice'))).message).toContain('it was abandoned, but its zone could not be undrained (Consul is unreachable): undrain it with DELETE /v1/zones/zone-b/drain');
    expect(zones.zones.get('zone-a')).toEqual({ drained: false });

    zones.undrainFails = undefined;
    expect((await service.start('zone-a', 5_000, '5s', 'alice')).zone).toBe('zone-a');
  });

  it("never sweep this replica's own drill", async () => {
    const started = await service.start('zone-a', 5_000, '5s', 'alice');
    await expect.poll(() => zones.zones.get('zone-a')?.drained).toBe(true);
    now = T0 + 3_600_000;
    expect(await service.sweep()).toEqual({ running: [], undrained: [], blocked: [] });
    expect(zones.zones.get('zone-a')).toEqual({ drained: true, reason: `drill ${started.id}` });
  });
});
