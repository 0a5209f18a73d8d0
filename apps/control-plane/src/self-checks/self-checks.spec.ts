import { describe, expect, it } from 'vitest';
import { gatewaysWithStoppedMetrics, zonesWithoutTrafficData, ZoneTrafficWindow, type GatewayObservation } from './self-checks';

const NOW = 1_000_000;
const INTERVAL = 2_000;
const gateway = (observation: Partial<GatewayObservation>): GatewayObservation => ({
  name: 'edge-a-1',
  namespace: 'default',
  zone: 'zone-a',
  phase: 'Healthy',
  lastHeartbeat: NOW - 500,
  statsAt: NOW - 500,
  ...observation,
});

describe('gatewaysWithStoppedMetrics', () => {
  it.each([
    { case: 'sends statistics with every heartbeat', observation: {}, reported: false },
    { case: 'heartbeats without statistics for more than 3 intervals', observation: { statsAt: NOW - 3 * INTERVAL - 1 }, reported: true },
    { case: 'heartbeats without statistics for exactly 3 intervals', observation: { statsAt: NOW - 3 * INTERVAL }, reported: false },
    { case: 'is Degraded and heartbeats without statistics', observation: { phase: 'Degraded', statsAt: NOW - 60_000 }, reported: true },
    { case: 'stopped heartbeating altogether (the registry reports that)', observation: { phase: 'Offline', lastHeartbeat: NOW - 60_000, statsAt: NOW - 60_000 }, reported: false },
    { case: 'is Draining', observation: { phase: 'Draining', statsAt: NOW - 60_000 }, reported: false },
    { case: 'never sent statistics here', observation: { statsAt: undefined }, reported: false },
    { case: 'has its last heartbeat and statistics at the same old time', observation: { lastHeartbeat: NOW - 60_000, statsAt: NOW - 60_000 }, reported: false },
  ] satisfies Array<{ case: string; observation: Partial<GatewayObservation>; reported: boolean }>)('a gateway that $case: reported $reported', ({ observation, reported }) => {
    const findings = gatewaysWithStoppedMetrics([gateway(observation)], NOW, INTERVAL);
    expect(findings.length).toBe(reported ? 1 : 0);
  });

  it('names the gateway and how long its statistics have been missing', () => {
    expect(gatewaysWithStoppedMetrics([gateway({ name: 'edge-b-2', zone: 'zone-b', statsAt: NOW - 30_000 })], NOW, INTERVAL)).toEqual([
      {
        check: 'GatewayMetricsStopped',
        object: { kind: 'GatewayNode', namespace: 'default', name: 'edge-b-2' },
        message: expect.stringContaining('gateway edge-b-2 (zone zone-b) heartbeats but sent no traffic statistics for 30s'),
      },
    ]);
  });
});

describe('zonesWithoutTrafficData', () => {
  const WINDOW = 30_000;
  it.each([
    { case: 'every zone carries traffic', zones: [{ zone: 'a', gateways: 2, reports: 20, requests: 90 }, { zone: 'b', gateways: 2, reports: 20, requests: 40 }], flagged: [] },
    { case: 'a zone sends no statistics', zones: [{ zone: 'a', gateways: 2, reports: 20, requests: 90 }, { zone: 'b', gateways: 1, reports: 0, requests: 0 }], flagged: ['b'] },
    { case: 'a zone reports no requests while another does', zones: [{ zone: 'a', gateways: 2, reports: 20, requests: 90 }, { zone: 'b', gateways: 1, reports: 15, requests: 0 }], flagged: ['b'] },
    { case: 'the whole mesh is idle', zones: [{ zone: 'a', gateways: 2, reports: 20, requests: 0 }, { zone: 'b', gateways: 1, reports: 15, requests: 0 }], flagged: [] },
    { case: 'a zone has no routable gateway', zones: [{ zone: 'a', gateways: 2, reports: 20, requests: 90 }, { zone: 'b', gateways: 0, reports: 0, requests: 0 }], flagged: [] },
  ])('when $case, flags $flagged', ({ zones, flagged }) => {
    expect(zonesWithoutTrafficData(zones, WINDOW, WINDOW).map((f) => f.object.name)).toEqual(flagged);
  });

  it('judges nothing before it has watched a whole window', () => {
    expect(zonesWithoutTrafficData([{ zone: 'b', gateways: 1, reports: 0, requests: 0 }], WINDOW - 1, WINDOW)).toEqual([]);
  });

  it('names the zone and the busy zones', () => {
    const [finding] = zonesWithoutTrafficData([{ zone: 'a', gateways: 2, reports: 20, requests: 90 }, { zone: 'b', gateways: 1, reports: 15, requests: 0 }], WINDOW, WINDOW);
    expect(finding).toEqual({ check: 'ZoneWithoutTrafficData', object: { kind: 'Zone', name: 'b' }, message: expect.stringContaining('zone b carried no requests in the last 30s while a did') });
  });
});

describe('ZoneTrafficWindow', () => {
  it('sums the reports inside the window and forgets older ones', () => {
    const window = new ZoneTrafficWindow(10_000);
    window.record('a', 5, 1_000);
    window.record('b', 0, 2_000);
    window.record('a', 7, 9_000);
    expect(window.totals(11_500)).toEqual(new Map([['a', { reports: 1, requests: 7 }], ['b', { reports: 1, requests: 0 }]]));
    expect(window.totals(19_000)).toEqual(new Map());
  });
});
