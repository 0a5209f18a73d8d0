import { describe, expect, it } from 'vitest';
import { useFakeControlPlane } from './testing/harness.js';
import type { NackError, Snapshot } from './protocol.js';
import { testSnapshot } from './testing/fake-control-plane.js';

const harness = useFakeControlPlane();
const { setUp } = harness;

const acceptedUpgrades = () => harness.controlPlane.upgrades.filter((upgrade) => upgrade.status === 101).length;

describe('config sync over WebSocket', () => {
  it('hands the pushed snapshot to onSnapshot and answers with an ACK frame', async () => {
    const { client, applied } = await setUp();
    harness.controlPlane.publish(testSnapshot(4));
    await client.start();

    await expect.poll(() => harness.controlPlane.acks, { timeout: 10_000 }).toEqual([{ nodeId: 'node-1', transport: 'websocket', ack: { version: '4.v', revision: 4, status: 'ACK' } }]);
    expect(applied.map((snapshot) => snapshot.version)).toEqual(['4.v']);
    expect(harness.controlPlane.upgrades).toEqual([{ nodeId: 'node-1', authorization: 'Bearer credential-1', status: 101 }]);
    expect(client.state).toMatchObject({ transport: 'websocket', connection: 'connected', applied: { version: '4.v', revision: 4 } });
  });

  it('answers a NACK with the errors onSnapshot returned', async () => {
    const errors: NackError[] = [{ resource: 'Route/default/orders', field: 'spec.match.headers[0].value', message: 'invalid regex' }];
    const { client, eventsOf } = await setUp({ onSnapshot: () => ({ status: 'NACK', errors }) });
    harness.controlPlane.publish(testSnapshot(9));
    await client.start();

    await expect.poll(() => harness.controlPlane.acks.map((ack) => ack.ack), { timeout: 10_000 }).toEqual([{ version: '9.v', revision: 9, status: 'NACK', errors }]);
    expect(eventsOf('snapshot-applied')).toEqual([{ type: 'snapshot-applied', version: '9.v', revision: 9, status: 'NACK' }]);
  });

  it('delivers later pushes in order, never two at once', async () => {
    let running = 0;
    let mostAtOnce = 0;
    const order: number[] = [];
    const { client } = await setUp({
      onSnapshot: async (snapshot: Snapshot) => {
        running++;
        mostAtOnce = Math.max(mostAtOnce, running);
        order.push(snapshot.revision);
        await new Promise((resolve) => setTimeout(resolve, 20));
        running--;
        return { status: 'ACK' };
      },
    });
    harness.controlPlane.publish(testSnapshot(1));
    await client.start();
    await expect.poll(() => order, { timeout: 10_000 }).toEqual([1]);

    for (const revision of [2, 3, 4, 5]) harness.controlPlane.publish(testSnapshot(revision));

    await expect.poll(() => harness.controlPlane.acks.map((ack) => ack.ack.revision), { timeout: 10_000 }).toEqual([1, 2, 3, 4, 5]);
    expect(order).toEqual([1, 2, 3, 4, 5]);
    expect(mostAtOnce).toBe(1);
  });

  it('says goodbye (1001) when it stops, so the control plane does not take its stream for lost', async () => {
    const { client } = await setUp();
    harness.controlPlane.publish(testSnapshot(1));
    await client.start();
    await expect.poll(() => harness.controlPlane.acks.length, { timeout: 10_000 }).toBe(1);
    await client.stop();
    await expect.poll(() => harness.controlPlane.streamCloseCodes, { timeout: 10_000 }).toEqual([1001]);
  });

  it('reconnects with backoff when the server drops the socket, and gets the current snapshot', async () => {
    const { client, applied, eventsOf } = await setUp();
    harness.controlPlane.publish(testSnapshot(1));
    await client.start();
    await expect.poll(() => harness.controlPlane.acks.length, { timeout: 10_000 }).toBe(1);

    harness.controlPlane.dropStreams();
    harness.controlPlane.publish(testSnapshot(2));

    await expect.poll(() => applied.map((snapshot) => snapshot.revision), { timeout: 10_000 }).toEqual([1, 2]);
    await expect.poll(() => harness.controlPlane.acks.map((ack) => ack.ack.revision), { timeout: 10_000 }).toEqual([1, 2]);
    expect(acceptedUpgrades()).toBe(2);
    const [drop] = eventsOf('disconnected');
    expect(drop).toMatchObject({ transport: 'websocket', error: { code: 'PORTOLAN_AGENT_STREAM_CLOSED' } });
    expect(drop.retryInMs).toBeLessThan(200);
    expect(client.state.connection).toBe('connected');
  });

  it('does not hand over again the snapshot it already runs, but ACKs it again', async () => {
    const { client, applied } = await setUp();
    harness.controlPlane.publish(testSnapshot(1));
    await client.start();
    await expect.poll(() => harness.controlPlane.acks.length, { timeout: 10_000 }).toBe(1);

    harness.controlPlane.dropStreams();

    await expect.poll(() => harness.controlPlane.acks.map((ack) => ack.ack), { timeout: 10_000 }).toEqual([
      { version: '1.v', revision: 1, status: 'ACK' },
      { version: '1.v', revision: 1, status: 'ACK' },
    ]);
    expect(applied).toHaveLength(1);
  });

  it('drops a peer silent for two ping periods and reconnects', async () => {
    const { client, eventsOf } = await setUp({ pingIntervalMs: 100 }, { autoPong: false });
    harness.controlPlane.publish(testSnapshot(1));
    await client.start();

    await expect.poll(() => acceptedUpgrades(), { timeout: 10_000 }).toBeGreaterThanOrEqual(2);

    const [silence] = eventsOf('disconnected');
    expect(silence.error).toMatchObject({ code: 'PORTOLAN_AGENT_STREAM_CLOSED', message: expect.stringContaining('silent') });
  });

  it('keeps a peer that pings but sends nothing else', async () => {
    const { client, eventsOf } = await setUp({ pingIntervalMs: 100 }, { autoPong: false, pingIntervalMs: 50 });
    harness.controlPlane.publish(testSnapshot(1));
    await client.start();
    await expect.poll(() => client.state.connection, { timeout: 10_000 }).toBe('connected');

    await new Promise((resolve) => setTimeout(resolve, 600));

    expect(eventsOf('disconnected')).toEqual([]);
    expect(acceptedUpgrades()).toBe(1);
  });

  it('backs off exponentially up to the cap, and resets once a connection stayed up', async () => {
    const { client, eventsOf } = await setUp({ transport: 'websocket', random: () => 0.999, stableAfterMs: 100 });
    harness.controlPlane.refuseUpgrades = 502;
    harness.controlPlane.publish(testSnapshot(1));
    await client.start();
    await expect.poll(() => eventsOf('disconnected').length, { timeout: 10_000 }).toBeGreaterThanOrEqual(6);

    harness.controlPlane.refuseUpgrades = undefined;
    await expect.poll(() => client.state.connection, { timeout: 10_000 }).toBe('connected');
    const failures = eventsOf('disconnected').length;
    await new Promise((resolve) => setTimeout(resolve, 150));
    harness.controlPlane.dropStreams();
    await expect.poll(() => eventsOf('disconnected').length, { timeout: 10_000 }).toBe(failures + 1);

    const delays = eventsOf('disconnected').map((event) => event.retryInMs);
    expect(delays.slice(0, 6)).toEqual([19, 39, 79, 159, 199, 199]);
    expect(delays.at(-1)).toBe(19);
    expect(eventsOf('disconnected')[0].error).toMatchObject({ code: 'PORTOLAN_AGENT_UPGRADE_REFUSED', statusCode: 502 });
    // Forced WebSocket never falls back.
    expect(harness.controlPlane.requests.some((request) => request.path.endsWith('/snapshot'))).toBe(false);
  });
});
