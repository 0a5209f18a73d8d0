import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { HeartbeatStats } from '@portolan/agent-client';
import { PoolTrafficWindow } from '../autoscaling/pool-traffic-window';
import { heartbeatStats } from '../autoscaling/testing/heartbeat-stats';
import type { NewMeshEvent } from '../events/event-journal';
import type { DrillReport } from './drill-report';
import { FailoverDrill, type DrillDependencies } from './failover-drill';
import type { DrainOptions, DrainOutcome } from './zones.service';

/** 2 s into a 5-second heartbeat slot: traffic from just before the drill lands in the slot the drill starts in. */
const START = Date.parse('2026-03-01T12:00:02.000Z');

const stats = (requests: number, serverErrors = 0): HeartbeatStats => heartbeatStats({ requests, serverErrors, periodMs: 1_000 });

interface Step {
  /** How long the write and the wait for the gateways take. */
  takesMs: number;
  outcome?: Partial<DrainOutcome> & { propagated?: boolean; pending?: string[] };
  fails?: Error;
}

/** A ZonesService double: each drain and undrain takes its time, then answers as told (or as the options make it). */
function fakeZones(steps: { drain: Step; undrain: Step }) {
  const calls: Array<{ op: 'drain' | 'undrain'; at: number; options: DrainOptions; reason?: string }> = [];
  const answer = (op: 'drain' | 'undrain', step: Step, options: DrainOptions): Promise<DrainOutcome> =>
    new Promise((resolve, reject) => {
      const wait = options.budgetMs === 0 ? 0 : step.takesMs;
      // Like ZonesService: the signal ends the wait for the gateways, after the write.
      options.signal?.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(options.signal!.reason);
      });
      const timer = setTimeout(() => {
        if (step.fails) return reject(step.fails);
        const propagated = options.budgetMs === 0 ? false : (step.outcome?.propagated ?? true);
        resolve({
          written: true,
          waitEndedAt: Date.now(),
          ...step.outcome,
          answer: { zone: 'zone-a', drained: op === 'drain', revision: op === 'drain' ? 11 : 12, requestedAt: '', trafficMovedAt: null, propagated, pending: step.outcome?.pending ?? [] },
        });
      }, wait);
    });
  return {
    calls,
    zones: {
      drain: (_zone: string, reason: string, options: DrainOptions) => {
        calls.push({ op: 'drain', at: Date.now(), options, reason });
        return answer('drain', steps.drain, options);
      },
      undrain: (_zone: string, options: DrainOptions) => {
        calls.push({ op: 'undrain', at: Date.now(), options });
        return answer('undrain', steps.undrain, options);
      },
    },
  };
}

function harness(steps: { drain: Step; undrain: Step }) {
  const traffic = new PoolTrafficWindow();
  const saved: DrillReport[] = [];
  const events: NewMeshEvent[] = [];
  const warnings: string[] = [];
  const zones = fakeZones(steps);
  const deps: DrillDependencies = {
    zones: zones.zones,
    traffic,
    gatewayZones: () => ['zone-a', 'zone-b'],
    putStatus: async (_key, status) => void saved.push(status as DrillReport),
    record: async (event) => void events.push(event),
    warn: (message) => void warnings.push(message),
  };
  /** A heartbeat of a gateway in `zone`, `atOffset` ms after the drill starts. */
  const heartbeat = (atOffset: number, zone: string, requests: number, serverErrors = 0) =>
    setTimeout(() => traffic.add({ name: `gw-${zone}`, pool: 'edge', zone }, stats(requests, serverErrors), Date.now()), START + atOffset - Date.now());
  return { traffic, saved, events, warnings, calls: zones.calls, deps, heartbeat };
}

const request = { id: 'zone-a-0001', zone: 'zone-a', durationMs: 30_000, duration: '30s', requestedBy: 'alice' };

describe('FailoverDrill', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: START - 1_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('drains, holds for the duration, undrains, and reports the times and the traffic of the drill alone', async () => {
    const h = harness({ drain: { takesMs: 800 }, undrain: { takesMs: 600 } });
    // Before the drill, in the slot it starts in: not the drill's traffic.
    h.traffic.add({ name: 'gw-zone-a', pool: 'edge', zone: 'zone-a' }, stats(1_000, 50), Date.now());
    await vi.advanceTimersByTimeAsync(1_000);
    h.heartbeat(400, 'zone-a', 120, 4);
    h.heartbeat(2_000, 'zone-b', 500, 2);
    h.heartbeat(9_000, 'zone-b', 400);
    // While the gateways take the undrain: still the drill's. After the return: not.
    h.heartbeat(30_300, 'zone-a', 80);
    h.heartbeat(33_000, 'zone-a', 5_000, 5_000);

    const drill = new FailoverDrill(request, h.deps);
    // The deadline: 30 s of drill and 30 s of grace to undrain, for whoever finds the zone still drained later.
    expect(drill.current()).toMatchObject({ id: 'zone-a-0001', state: 'Running', startedAt: '2026-03-01T12:00:02.000Z', deadline: '2026-03-01T12:01:02.000Z', requestedBy: 'alice' });
    await vi.advanceTimersByTimeAsync(35_000);
    await drill.finished;

    const report = drill.current();
    expect(report.state).toBe('Completed');
    expect(report.timeline.map(({ at, event }) => [at, event])).toEqual([
      ['2026-03-01T12:00:02.000Z', 'drain-requested'],
      ['2026-03-01T12:00:02.800Z', 'traffic-shifted'],
      ['2026-03-01T12:00:32.000Z', 'undrain-requested'],
      ['2026-03-01T12:00:32.600Z', 'traffic-returned'],
    ]);
    expect(report.figures).toEqual({
      shiftMs: 800,
      recoveryMs: 600,
      requestsDuringDrill: 1_100,
      serverErrorsDuringDrill: 6,
      errorRatePercent: 0.55,
      byZone: [
        { zone: 'zone-a', requests: 200, serverErrors: 4 },
        { zone: 'zone-b', requests: 900, serverErrors: 2 },
      ],
    });
    expect(h.calls.map(({ op, at, reason, options }) => [op, at - START, reason, options.onlyIfReason])).toEqual([
      ['drain', 0, 'drill zone-a-0001', undefined],
      ['undrain', 30_000, undefined, 'drill zone-a-0001'],
    ]);
    // Saved as it went (every step, and the running figures), the last save being the final report.
    expect(h.saved.length).toBeGreaterThan(5);
    expect(h.saved.some((saved) => saved.state === 'Running' && saved.figures.requestsDuringDrill === 620)).toBe(true);
    expect(h.saved.at(-1)).toEqual(report);
    expect(h.events).toEqual([
      expect.objectContaining({ type: 'Warning', reason: 'DrillCompleted', regarding: { kind: 'FailoverDrill', namespace: 'default', name: 'zone-a-0001' }, source: 'failover-drill' }),
    ]);
    expect(h.events[0].message).toContain('traffic shifted: 800 ms, returned: 600 ms; 1100 requests, 6 5xx (0.55%)');
  });

  it('is Normal without 5xx, and gives no shift time when some gateway never ran the drain', async () => {
    const h = harness({ drain: { takesMs: 10_000, outcome: { propagated: false, pending: ['gw-b2'] } }, undrain: { takesMs: 300 } });
    await vi.advanceTimersByTimeAsync(1_000);
    const drill = new FailoverDrill({ ...request, durationMs: 20_000, duration: '20s' }, h.deps);
    await vi.advanceTimersByTimeAsync(25_000);
    await drill.finished;
    const report = drill.current();
    expect(report.state).toBe('Completed');
    expect(report.figures).toMatchObject({ shiftMs: null, recoveryMs: 300, requestsDuringDrill: 0, errorRatePercent: null });
    expect(report.timeline[1]).toMatchObject({ at: '2026-03-01T12:00:12.000Z', event: 'traffic-shifted', detail: expect.stringContaining('gw-b2') });
    // Pending gateways are worth a look even without errors.
    expect(h.events[0].type).toBe('Warning');
  });

  it('undrains at once, without waiting for the gateways, when the control plane stops mid-drill', async () => {
    const h = harness({ drain: { takesMs: 500 }, undrain: { takesMs: 600 } });
    await vi.advanceTimersByTimeAsync(1_000);
    const drill = new FailoverDrill(request, h.deps);
    await vi.advanceTimersByTimeAsync(5_000);
    const stopped = drill.stop();
    await vi.advanceTimersByTimeAsync(10);
    await stopped;
    const report = drill.current();
    expect(report).toMatchObject({ state: 'Failed', error: 'the control plane stopped during the drill' });
    expect(report.timeline.map((entry) => entry.event)).toEqual(['drain-requested', 'traffic-shifted', 'undrain-requested']);
    expect(report.timeline[2]).toMatchObject({ at: '2026-03-01T12:00:07.000Z', detail: expect.stringContaining('not waiting for the gateways') });
    expect(h.calls[1]).toMatchObject({ op: 'undrain', options: { budgetMs: 0, onlyIfReason: 'drill zone-a-0001' } });
    expect(h.saved.at(-1)).toEqual(report);
    expect(h.events[0]).toMatchObject({ type: 'Warning', reason: 'DrillCompleted' });
  });

  it('stops waiting for the gateways when the control plane stops while traffic returns', async () => {
    const h = harness({ drain: { takesMs: 500 }, undrain: { takesMs: 8_000 } });
    await vi.advanceTimersByTimeAsync(1_000);
    const drill = new FailoverDrill({ ...request, durationMs: 5_000, duration: '5s' }, h.deps);
    await vi.advanceTimersByTimeAsync(6_000);
    await drill.stop();
    const report = drill.current();
    expect(report).toMatchObject({ state: 'Failed', error: 'the control plane stopped during the drill' });
    expect(report.timeline.map((entry) => entry.event)).toEqual(['drain-requested', 'traffic-shifted', 'undrain-requested']);
    expect(report.timeline[2].detail).toContain('undrained, not waiting for the gateways');
  });

  it('leaves the zone drained when an operator drained it again during the drill', async () => {
    const h = harness({ drain: { takesMs: 500 }, undrain: { takesMs: 100, outcome: { written: false, leftAlone: 'it was drained again since, with reason "AZ outage"' } } });
    await vi.advanceTimersByTimeAsync(1_000);
    const drill = new FailoverDrill(request, h.deps);
    await vi.advanceTimersByTimeAsync(31_000);
    await drill.finished;
    const report = drill.current();
    expect(report.state).toBe('Completed');
    expect(report.timeline.map((entry) => entry.event)).toEqual(['drain-requested', 'traffic-shifted', 'undrain-requested']);
    expect(report.timeline[2].detail).toContain('left drained: it was drained again since, with reason "AZ outage"');
    expect(report.figures.recoveryMs).toBeNull();
  });

  it('fails when the drain cannot be written, and still makes sure the zone is not left drained', async () => {
    const h = harness({ drain: { takesMs: 50, fails: new Error('the store is unavailable') }, undrain: { takesMs: 50, outcome: { written: false } } });
    await vi.advanceTimersByTimeAsync(1_000);
    const drill = new FailoverDrill(request, h.deps);
    await vi.advanceTimersByTimeAsync(1_000);
    await drill.finished;
    const report = drill.current();
    expect(report).toMatchObject({ state: 'Failed', error: 'the store is unavailable' });
    expect(report.timeline.map((entry) => entry.event)).toEqual(['drain-requested', 'undrain-requested']);
    expect(report.timeline[1].detail).toContain('is not drained');
    expect(h.calls.map((call) => call.op)).toEqual(['drain', 'undrain']);
  });

  it('saves its report, deadline included, before it drains; and does not drain when the report cannot be saved', async () => {
    const h = harness({ drain: { takesMs: 50 }, undrain: { takesMs: 50, outcome: { written: false } } });
    const order: string[] = [];
    const put = h.deps.putStatus;
    h.deps.putStatus = async (key, status) => {
      order.push(`save ${(status as DrillReport).timeline.length}`);
      await put(key, status);
    };
    const drain = h.deps.zones.drain;
    h.deps.zones = { ...h.deps.zones, drain: (...args) => (order.push('drain'), drain(...args)) };
    await vi.advanceTimersByTimeAsync(1_000);
    const drill = new FailoverDrill({ ...request, durationMs: 5_000, duration: '5s' }, h.deps);
    await vi.advanceTimersByTimeAsync(10);
    expect(order.slice(0, 2)).toEqual(['save 0', 'drain']);
    expect(h.saved[0]).toMatchObject({ state: 'Running', deadline: '2026-03-01T12:00:37.000Z' });
    await vi.advanceTimersByTimeAsync(6_000);
    await drill.finished;

    const broken = harness({ drain: { takesMs: 50 }, undrain: { takesMs: 50, outcome: { written: false } } });
    broken.deps.putStatus = async () => {
      throw new Error('the journal is unavailable');
    };
    const failed = new FailoverDrill({ ...request, id: 'zone-a-0002' }, broken.deps);
    await vi.advanceTimersByTimeAsync(1_000);
    await failed.finished;
    expect(failed.current()).toMatchObject({ state: 'Failed', error: 'the report could not be saved, so the zone was not drained: the journal is unavailable' });
    expect(broken.calls.map((call) => call.op)).toEqual(['undrain']);
  });

  it('says how to undrain by hand when the undrain fails', async () => {
    const h = harness({ drain: { takesMs: 50 }, undrain: { takesMs: 50, fails: new Error('the store is unavailable') } });
    await vi.advanceTimersByTimeAsync(1_000);
    const drill = new FailoverDrill({ ...request, durationMs: 5_000, duration: '5s' }, h.deps);
    await vi.advanceTimersByTimeAsync(6_000);
    await drill.finished;
    expect(drill.current()).toMatchObject({ state: 'Failed', error: expect.stringContaining('DELETE /v1/zones/zone-a/drain') });
  });
});
