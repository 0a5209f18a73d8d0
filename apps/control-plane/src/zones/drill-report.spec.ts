import { describe, expect, it } from 'vitest';
import { deadlineOf, drillDeadline, drillFigures, drillIdOf, drillReason, needsAttention, summarize, trafficBetween, type DrillReport, type DrillTimelineEntry } from './drill-report';

const TIMELINE: DrillTimelineEntry[] = [
  { at: '2026-03-01T12:00:00.000Z', event: 'drain-requested', detail: '' },
  { at: '2026-03-01T12:00:00.850Z', event: 'traffic-shifted', detail: '' },
  { at: '2026-03-01T12:00:30.000Z', event: 'undrain-requested', detail: '' },
  { at: '2026-03-01T12:00:30.620Z', event: 'traffic-returned', detail: '' },
];

describe('drillReason', () => {
  it("marks a drain as a drill's, and only a drill's", () => {
    expect(drillIdOf(drillReason('zone-a-1f2e3d4c'))).toBe('zone-a-1f2e3d4c');
    expect(drillIdOf('drained by alice')).toBeUndefined();
    expect(drillIdOf('drill of the fire brigade')).toBeUndefined();
    expect(drillIdOf(undefined)).toBeUndefined();
  });
});

describe('the deadline of a drill', () => {
  const started = Date.parse('2026-03-01T12:00:00.000Z');
  it('is the end of its duration plus 30 s to undrain and reach the gateways', () => {
    expect(new Date(drillDeadline(started, 60_000)).toISOString()).toBe('2026-03-01T12:01:30.000Z');
  });
  it("is read from the report, computed for a report written before reports had one, and unknown for what is no report", () => {
    expect(deadlineOf({ startedAt: '2026-03-01T12:00:00.000Z', duration: '1m', deadline: '2026-03-01T12:05:00.000Z' })).toBe(Date.parse('2026-03-01T12:05:00.000Z'));
    expect(deadlineOf({ startedAt: '2026-03-01T12:00:00.000Z', duration: '1m' })).toBe(Date.parse('2026-03-01T12:01:30.000Z'));
    expect(deadlineOf({ startedAt: '2026-03-01T12:00:00.000Z', duration: 'a while' })).toBeUndefined();
    expect(deadlineOf({ duration: '1m' })).toBeUndefined();
    expect(deadlineOf(undefined)).toBeUndefined();
    expect(deadlineOf('zone-a')).toBeUndefined();
  });
});

describe('trafficBetween', () => {
  it('subtracts the baseline per zone; a zone first seen later counts from zero', () => {
    const baseline = new Map([
      ['zone-a', { requests: 100, serverErrors: 1 }],
      ['zone-b', { requests: 50, serverErrors: 0 }],
    ]);
    const latest = new Map([
      ['zone-b', { requests: 950, serverErrors: 3 }],
      ['zone-a', { requests: 400, serverErrors: 1 }],
      ['zone-c', { requests: 20, serverErrors: 0 }],
    ]);
    expect(trafficBetween(baseline, latest)).toEqual([
      { zone: 'zone-a', requests: 300, serverErrors: 0 },
      { zone: 'zone-b', requests: 900, serverErrors: 3 },
      { zone: 'zone-c', requests: 20, serverErrors: 0 },
    ]);
  });
});

describe('drillFigures', () => {
  it('measures the shift and the return from the timeline and adds up the traffic', () => {
    const byZone = [
      { zone: 'zone-a', requests: 300, serverErrors: 0 },
      { zone: 'zone-b', requests: 900, serverErrors: 3 },
    ];
    expect(drillFigures(TIMELINE, byZone)).toEqual({ shiftMs: 850, recoveryMs: 620, requestsDuringDrill: 1200, serverErrorsDuringDrill: 3, errorRatePercent: 0.25, byZone });
  });

  it('has no times before the steps happened, and no error rate without requests', () => {
    expect(drillFigures(TIMELINE.slice(0, 1), [])).toEqual({ shiftMs: null, recoveryMs: null, requestsDuringDrill: 0, serverErrorsDuringDrill: 0, errorRatePercent: null, byZone: [] });
  });

  it('gives no time for a step the gateways did not all take', () => {
    const figures = drillFigures(TIMELINE, [], new Set(['traffic-shifted'] as const));
    expect(figures.shiftMs).toBeNull();
    expect(figures.recoveryMs).toBe(620);
  });
});

describe('the closing event', () => {
  const report = (state: DrillReport['state'], serverErrors: number): DrillReport => ({
    id: 'zone-a-1',
    zone: 'zone-a',
    duration: '30s',
    state,
    requestedBy: 'alice',
    startedAt: TIMELINE[0].at,
    deadline: '2026-03-01T12:01:00.000Z',
    timeline: TIMELINE,
    figures: drillFigures(TIMELINE, [{ zone: 'zone-b', requests: 1000, serverErrors }]),
    ...(state === 'Failed' ? { error: 'the control plane stopped during the drill' } : {}),
  });

  it('is a Warning when the drill failed, saw 5xx, or left gateways behind', () => {
    expect(needsAttention(report('Completed', 0), false)).toBe(false);
    expect(needsAttention(report('Completed', 2), false)).toBe(true);
    expect(needsAttention(report('Failed', 0), false)).toBe(true);
    expect(needsAttention(report('Completed', 0), true)).toBe(true);
  });

  it('says what happened in one line', () => {
    expect(summarize(report('Completed', 2))).toBe('failover drill zone-a-1 of zone zone-a (30s) completed; traffic shifted: 850 ms, returned: 620 ms; 1000 requests, 2 5xx (0.2%)');
    expect(summarize(report('Failed', 0))).toContain('failed: the control plane stopped during the drill');
  });
});
