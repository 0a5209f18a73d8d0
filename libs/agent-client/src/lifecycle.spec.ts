import { describe, expect, it } from 'vitest';
import { useFakeControlPlane } from './testing/harness.js';
import { FakeControlPlane, testSnapshot } from './testing/fake-control-plane.js';
import { testAgent } from './testing/test-agent.js';

const harness = useFakeControlPlane();
const { setUp } = harness;

/** Timers that keep the process alive, sockets, servers: what would make a test hang. */
function activeResources(): string[] {
  return process.getActiveResourcesInfo().sort();
}

/** Resources active now that were not before (other tests' leftovers may have gone meanwhile). */
function resourcesAddedSince(before: string[]): string[] {
  const remaining = [...before];
  return activeResources().filter((resource) => {
    const index = remaining.indexOf(resource);
    if (index === -1) return true;
    remaining.splice(index, 1);
    return false;
  });
}

describe('drain', () => {
  it('asks the control plane to drain the node and returns once it answered', async () => {
    const { client } = await setUp();
    await client.start();

    const propagation = await client.drain({ waitMs: 2_500 });

    expect(propagation).toEqual({ lifecycle: 'Draining', propagated: true, pending: [] });
    const drain = harness.controlPlane.requests.find((request) => request.path === '/agent/v1/nodes/node-1/drain');
    expect(drain).toMatchObject({ method: 'POST', headers: { authorization: 'Bearer credential-1' } });
    expect(drain?.query.get('wait')).toBe('2500ms');
    expect(client.state.draining).toBe(true);
  });

  it('fails clearly before the node is registered', async () => {
    const { client } = await setUp();

    await expect(client.drain()).rejects.toMatchObject({ code: 'PORTOLAN_AGENT_NOT_REGISTERED' });
  });
});

describe('deregister', () => {
  it('removes the node and ends heartbeats and the stream, without registering again', async () => {
    const { client } = await setUp();
    harness.controlPlane.publish(testSnapshot(1));
    await client.start();
    await expect.poll(() => harness.controlPlane.openStreams, { timeout: 10_000 }).toBe(1);
    await expect.poll(() => harness.controlPlane.heartbeats.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);

    await client.deregister();

    expect(harness.controlPlane.requests.filter((request) => request.method === 'DELETE').map((request) => request.path)).toEqual(['/agent/v1/nodes/node-1']);
    expect(harness.controlPlane.nodeIds).toEqual([]);
    await expect.poll(() => harness.controlPlane.openStreams, { timeout: 10_000 }).toBe(0);
    const heartbeats = harness.controlPlane.heartbeats.length;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(harness.controlPlane.heartbeats.length).toBe(heartbeats);
    expect(harness.controlPlane.registrations).toHaveLength(1);
    expect(client.state).toMatchObject({ node: undefined, connection: 'disconnected' });
  });

  it('counts a node the control plane already removed as deregistered', async () => {
    const { client } = await setUp({ onSnapshot: undefined });
    await client.start();
    harness.controlPlane.removeNode('node-1');

    await expect(client.deregister()).resolves.toBeUndefined();
  });
});

describe('stop', () => {
  it.each(['websocket', 'long-poll'] as const)('closes every timer and socket at once (%s)', async (transport) => {
    harness.controlPlane = await FakeControlPlane.start({ certificate: harness.certificate });
    const before = activeResources();
    const agent = testAgent(harness.controlPlane, harness.certificate, { transport, longPollWaitMs: 30_000 });
    harness.controlPlane.publish(testSnapshot(1));
    await agent.client.start();
    await expect.poll(() => harness.controlPlane.acks.length, { timeout: 10_000 }).toBe(1);
    await expect.poll(() => harness.controlPlane.heartbeats.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);

    const stopStarted = performance.now();
    await agent.client.stop();

    expect(performance.now() - stopStarted).toBeLessThan(1_000);
    expect(agent.client.state).toMatchObject({ stopped: true, connection: 'disconnected' });
    // Well before the server's 5 s keep-alive timeout would close idle connections itself.
    await expect.poll(() => harness.controlPlane.openConnections, { timeout: 2_000 }).toBe(0);
    await expect.poll(() => resourcesAddedSince(before), { timeout: 2_000 }).toEqual([]);
    const heartbeats = harness.controlPlane.heartbeats.length;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(harness.controlPlane.heartbeats.length).toBe(heartbeats);
  });

  it('follows the AbortSignal given as an option', async () => {
    const abort = new AbortController();
    const { client } = await setUp({ signal: abort.signal });
    harness.controlPlane.publish(testSnapshot(1));
    await client.start();
    await expect.poll(() => client.state.connection, { timeout: 10_000 }).toBe('connected');

    abort.abort();

    await expect.poll(() => client.state.stopped).toBe(true);
    await expect.poll(() => harness.controlPlane.openStreams, { timeout: 10_000 }).toBe(0);
    await expect(client.drain()).rejects.toMatchObject({ code: 'PORTOLAN_AGENT_ABORTED' });
  });
});
