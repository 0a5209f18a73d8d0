import { describe, expect, it } from 'vitest';
import { useFakeControlPlane } from './testing/harness.js';
import type { HeartbeatStats } from './protocol.js';
import { testSnapshot } from './testing/fake-control-plane.js';

const harness = useFakeControlPlane();
const { setUp } = harness;

function statsNumber(requests: number): HeartbeatStats {
  return {
    periodMs: 100,
    requests,
    responses: { '2xx': requests, '3xx': 0, '4xx': 0, '5xx': 0 },
    errors: { rateLimited: 0, breakerOpen: 0, timeout: 0, connectFailure: 0, noRoute: 0, noEndpoint: 0 },
    retries: 0,
    latency: null,
    breakers: [],
    ejectedEndpoints: [],
  };
}

describe('heartbeats', () => {
  it('go every interval from the registration, jittered, with the node credential', async () => {
    // random() = 1 puts every heartbeat at the top of the ±10% band: 110 ms.
    const { client } = await setUp({ random: () => 1, onSnapshot: undefined }, { heartbeatIntervalMs: 100 });
    const registeredAt = performance.now();
    await client.start();

    await expect.poll(() => harness.controlPlane.heartbeats.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(5);

    const times = harness.controlPlane.heartbeats.slice(0, 5).map((heartbeat) => heartbeat.at);
    expect(times[0] - registeredAt).toBeGreaterThanOrEqual(105);
    const gaps = times.slice(1).map((at, index) => at - times[index]);
    const averageGap = gaps.reduce((sum, gap) => sum + gap, 0) / gaps.length;
    expect(averageGap).toBeGreaterThanOrEqual(105);
    expect(averageGap).toBeLessThan(1_000);
    const heartbeatRequests = harness.controlPlane.requests.filter((request) => request.path === '/agent/v1/nodes/node-1/heartbeat');
    expect(heartbeatRequests.every((request) => request.headers.authorization === 'Bearer credential-1')).toBe(true);
  });

  it('carry the applied revision, the draining flag and the stats of each period', async () => {
    let period = 0;
    const { client } = await setUp({ collectStats: () => statsNumber(++period) });
    harness.controlPlane.publish(testSnapshot(5));
    await client.start();
    await expect.poll(() => client.state.applied?.revision, { timeout: 10_000 }).toBe(5);
    const appliedFrom = harness.controlPlane.heartbeats.length;
    await expect.poll(() => harness.controlPlane.heartbeats.length, { timeout: 10_000 }).toBeGreaterThan(appliedFrom + 1);

    await client.drain();
    const drainedFrom = harness.controlPlane.heartbeats.length;
    await expect.poll(() => harness.controlPlane.heartbeats.length, { timeout: 10_000 }).toBeGreaterThan(drainedFrom + 1);

    const bodies = harness.controlPlane.heartbeats.map((heartbeat) => heartbeat.body);
    // One collectStats() call per heartbeat: each period's counters are sent once.
    expect(bodies.map((body) => body.stats?.requests)).toEqual(bodies.map((_, index) => index + 1));
    expect(bodies.slice(appliedFrom + 1).every((body) => body.appliedRevision === 5)).toBe(true);
    expect(bodies.slice(0, drainedFrom - 1).every((body) => body.draining === false)).toBe(true);
    expect(bodies.slice(drainedFrom + 1).every((body) => body.draining === true)).toBe(true);
    await expect.poll(() => client.state.lifecycle).toBe('Draining');
  });

  it('register again and resubscribe when the control plane answers 404', async () => {
    const { client, events } = await setUp();
    harness.controlPlane.publish(testSnapshot(3));
    await client.start();
    await expect.poll(() => harness.controlPlane.acks.length, { timeout: 10_000 }).toBe(1);

    harness.controlPlane.removeNode('node-1');

    await expect.poll(() => harness.controlPlane.heartbeats.filter((heartbeat) => heartbeat.nodeId === 'node-2').length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    await expect.poll(() => harness.controlPlane.upgrades.filter((upgrade) => upgrade.nodeId === 'node-2' && upgrade.status === 101).length, { timeout: 10_000 }).toBe(1);
    await expect.poll(() => harness.controlPlane.acks.filter((ack) => ack.nodeId === 'node-2').map((ack) => ack.ack), { timeout: 10_000 }).toEqual([{ version: '3.v', revision: 3, status: 'ACK' }]);
    expect(client.state).toMatchObject({ node: { id: 'node-2', name: 'edge-1' }, connection: 'connected', transport: 'websocket' });
    const renewal = events.filter((event) => event.type === 'node-removed' || (event.type === 'registered' && event.renewal));
    expect(renewal).toEqual([
      { type: 'node-removed', id: 'node-1' },
      { type: 'registered', id: 'node-2', name: 'edge-1', renewal: true },
    ]);
    expect(harness.controlPlane.heartbeats.filter((heartbeat) => heartbeat.nodeId === 'node-2').every((heartbeat) => heartbeat.body.appliedRevision === 3)).toBe(true);
  });

  it('that fail are reported and do not stop anything', async () => {
    const { client, eventsOf } = await setUp();
    harness.controlPlane.publish(testSnapshot(1));
    await client.start();
    await expect.poll(() => client.state.connection, { timeout: 10_000 }).toBe('connected');

    harness.controlPlane.heartbeatStatus = 503;
    await expect.poll(() => eventsOf('heartbeat-failed').length, { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
    harness.controlPlane.heartbeatStatus = undefined;
    const recoveredFrom = harness.controlPlane.heartbeats.length;
    await expect.poll(() => harness.controlPlane.heartbeats.length, { timeout: 10_000 }).toBeGreaterThan(recoveredFrom + 1);

    expect(eventsOf('heartbeat-failed').slice(0, 3).map((event) => [event.consecutiveFailures, event.error.code, event.error.statusCode])).toEqual([
      [1, 'PORTOLAN_AGENT_UNAVAILABLE', 503],
      [2, 'PORTOLAN_AGENT_UNAVAILABLE', 503],
      [3, 'PORTOLAN_AGENT_UNAVAILABLE', 503],
    ]);
    expect(client.state.connection).toBe('connected');
    expect(harness.controlPlane.registrations).toHaveLength(1);
  });

  it('are all a client without onSnapshot does (a service instance): no config stream', async () => {
    const { client } = await setUp({
      onSnapshot: undefined,
      registration: { role: 'instance', name: 'checkout-a', service: { namespace: 'default', name: 'checkout' }, zone: 'zone-a', address: '127.0.0.1', port: 9000 },
    });
    await client.start();

    await expect.poll(() => harness.controlPlane.heartbeats.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    expect(harness.controlPlane.upgrades).toEqual([]);
    expect(harness.controlPlane.requests.some((request) => request.path.endsWith('/snapshot'))).toBe(false);
    expect(client.state).toMatchObject({ transport: undefined, connection: 'disconnected' });
  });
});

describe('taps', () => {
  it('start when a heartbeat answer carries one, and sampled requests go to POST …/tap', async () => {
    const taps: Array<{ remainingMs: number; maxPerSecond: number }> = [];
    const { client } = await setUp({ onSnapshot: undefined, onTap: (tap) => taps.push(tap) }, { heartbeatIntervalMs: 50 });
    await client.start();
    await expect.poll(() => harness.controlPlane.heartbeats.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    expect(taps).toEqual([]);
    harness.controlPlane.tap = { remainingMs: 30_000, maxPerSecond: 20 };
    await expect.poll(() => taps.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
    expect(taps[0]).toEqual({ remainingMs: 30_000, maxPerSecond: 20 });

    const request = { time: '2026-12-02T12:00:00Z', method: 'GET', path: '/checkout', status: 200, latencyMs: 3, tries: 1, rateLimited: false, traceId: 't' };
    await client.sendTapped([request]);
    expect(harness.controlPlane.tapBatches).toEqual([{ nodeId: 'node-1', body: { requests: [request] } }]);
  });

  it('keep heartbeats going when the tap handler throws', async () => {
    const events: string[] = [];
    const { client } = await setUp(
      {
        onSnapshot: undefined,
        onTap: () => {
          throw new Error('tap handler broke');
        },
        onEvent: (event) => events.push(event.type),
      },
      { heartbeatIntervalMs: 50 },
    );
    harness.controlPlane.tap = { remainingMs: 30_000, maxPerSecond: 20 };
    await client.start();
    await expect.poll(() => events.filter((type) => type === 'tap-failed').length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    const before = harness.controlPlane.heartbeats.length;
    await expect.poll(() => harness.controlPlane.heartbeats.length, { timeout: 10_000 }).toBeGreaterThan(before);
  });
});
