import { describe, expect, it } from 'vitest';
import { useFakeControlPlane } from './testing/harness.js';
import type { NackError } from './protocol.js';
import { testSnapshot } from './testing/fake-control-plane.js';

const harness = useFakeControlPlane();
const { setUp } = harness;

const longPollAcks = () => harness.controlPlane.acks.filter((ack) => ack.transport === 'long-poll').map((ack) => ack.ack);

describe('config sync over long-poll', () => {
  it('asks for a version other than the one held, waits through 304s, and POSTs the ACK', async () => {
    const { client, applied } = await setUp({ transport: 'long-poll', longPollWaitMs: 200 });
    harness.controlPlane.publish(testSnapshot(1));
    await client.start();
    await expect.poll(() => longPollAcks(), { timeout: 10_000 }).toEqual([{ version: '1.v', revision: 1, status: 'ACK' }]);
    await expect.poll(() => harness.controlPlane.longPolls.filter((poll) => poll.status === 304).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);

    harness.controlPlane.publish(testSnapshot(2));

    await expect.poll(() => longPollAcks().map((ack) => ack.revision), { timeout: 10_000 }).toEqual([1, 2]);
    expect(applied.map((snapshot) => snapshot.version)).toEqual(['1.v', '2.v']);
    const [first, ...rest] = harness.controlPlane.longPolls;
    expect(first).toEqual({ ifNoneMatch: undefined, revision: null, status: 200 });
    const waitingOnFirst = rest.slice(0, rest.findIndex((poll) => poll.status === 200) + 1);
    expect(waitingOnFirst.map((poll) => poll.ifNoneMatch)).toEqual(waitingOnFirst.map(() => '"1.v"'));
    expect(waitingOnFirst.every((poll) => poll.revision === '1')).toBe(true);
    expect(waitingOnFirst.at(-1)?.status).toBe(200);
    expect(harness.controlPlane.requests.find((request) => request.path.endsWith('/snapshot'))?.query.get('wait')).toBe('200ms');
    expect(harness.controlPlane.upgrades).toEqual([]);
    expect(client.state).toMatchObject({ transport: 'long-poll', connection: 'connected', applied: { version: '2.v', revision: 2 } });
  });

  it('POSTs a NACK with its errors', async () => {
    const errors: NackError[] = [{ resource: 'RateLimitPolicy/default/burst', message: 'unsupported window' }];
    const { client } = await setUp({ transport: 'long-poll', onSnapshot: () => ({ status: 'NACK', errors }) });
    harness.controlPlane.publish(testSnapshot(3));
    await client.start();

    await expect.poll(() => longPollAcks(), { timeout: 10_000 }).toEqual([{ version: '3.v', revision: 3, status: 'NACK', errors }]);
  });

  it('registers again when the node endpoints answer 404', async () => {
    const { client, applied } = await setUp({ transport: 'long-poll' });
    harness.controlPlane.publish(testSnapshot(1));
    await client.start();
    await expect.poll(() => longPollAcks().length, { timeout: 10_000 }).toBe(1);

    harness.controlPlane.removeNode('node-1');

    // The new node's first poll is unconditional, so it ACKs the unchanged snapshot it runs.
    await expect.poll(() => harness.controlPlane.acks.filter((ack) => ack.nodeId === 'node-2').map((ack) => ack.ack), { timeout: 10_000 }).toEqual([{ version: '1.v', revision: 1, status: 'ACK' }]);
    expect(applied).toHaveLength(1);
    // The heartbeat and the long-poll both notice; one registration replaces the node.
    expect(harness.controlPlane.registrations).toHaveLength(2);
    expect(client.state.node?.id).toBe('node-2');
  });
});

describe('auto transport', () => {
  it('falls back to long-poll at once when the upgrade is refused, and still ACKs', async () => {
    const { client, eventsOf } = await setUp();
    harness.controlPlane.refuseUpgrades = 400;
    harness.controlPlane.publish(testSnapshot(1));
    await client.start();

    await expect.poll(() => longPollAcks(), { timeout: 10_000 }).toEqual([{ version: '1.v', revision: 1, status: 'ACK' }]);
    harness.controlPlane.publish(testSnapshot(2));
    await expect.poll(() => longPollAcks().map((ack) => ack.revision), { timeout: 10_000 }).toEqual([1, 2]);

    expect(harness.controlPlane.upgrades.map((upgrade) => upgrade.status)).toEqual([400]);
    expect(eventsOf('transport-changed').map((event) => event.transport)).toEqual(['websocket', 'long-poll']);
    expect(eventsOf('transport-changed')[1].reason).toContain('answered 400');
    expect(client.state).toMatchObject({ transport: 'long-poll', connection: 'connected' });
  });

  it('falls back after consecutive failed attempts when the refusal is not about the upgrade', async () => {
    const { client, eventsOf } = await setUp({ websocketFailuresBeforeFallback: 3 });
    harness.controlPlane.refuseUpgrades = 401;
    harness.controlPlane.publish(testSnapshot(1));
    await client.start();

    await expect.poll(() => longPollAcks().length, { timeout: 10_000 }).toBe(1);
    expect(harness.controlPlane.upgrades.map((upgrade) => upgrade.status)).toEqual([401, 401, 401]);
    expect(eventsOf('disconnected').map((event) => event.error.code)).toEqual(['PORTOLAN_AGENT_UPGRADE_REFUSED', 'PORTOLAN_AGENT_UPGRADE_REFUSED']);
  });

  it('tries WebSocket again periodically and switches back when it connects', async () => {
    const { client, eventsOf } = await setUp({ websocketRetryMs: 300, longPollWaitMs: 5_000 });
    harness.controlPlane.refuseUpgrades = 400;
    harness.controlPlane.publish(testSnapshot(1));
    await client.start();
    await expect.poll(() => longPollAcks().length, { timeout: 10_000 }).toBe(1);
    await expect.poll(() => eventsOf('websocket-probe-failed').length, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);

    harness.controlPlane.refuseUpgrades = undefined;
    await expect.poll(() => client.state.transport, { timeout: 10_000 }).toBe('websocket');
    await expect.poll(() => harness.controlPlane.acks.filter((ack) => ack.transport === 'websocket').length, { timeout: 10_000 }).toBe(1);
    const longPollsBefore = harness.controlPlane.longPolls.length;
    harness.controlPlane.publish(testSnapshot(2));

    await expect.poll(() => harness.controlPlane.acks.filter((ack) => ack.transport === 'websocket').map((ack) => ack.ack.revision), { timeout: 10_000 }).toEqual([1, 2]);
    expect(longPollAcks().map((ack) => ack.revision)).toEqual([1]);
    // The long-poll held when the WebSocket connected was abandoned, not answered.
    expect(harness.controlPlane.longPolls.length).toBe(longPollsBefore);
    expect(eventsOf('transport-changed').map((event) => event.transport)).toEqual(['websocket', 'long-poll', 'websocket']);
    expect(client.state.connection).toBe('connected');
  });
});
