/**
 * A gateway whose config stream drops without a close frame (killed, its host gone) is taken out
 * of routing at once, not after its TTL; one whose agent says goodbye is not. The TTL here is 30 s,
 * so an Offline seen within it comes from the stream.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { nsPath } from './support/api-client';
import { eventually } from './support/eventually';
import { startInProcess, type InProcessControlPlane } from './support/in-process';

const BOOTSTRAP = 'bootstrap-token-for-stream-loss';
const TTL_MS = 30_000;

let cp: InProcessControlPlane;

interface Registered {
  id: string;
  name: string;
  credential: string;
}

async function registerGateway(name: string): Promise<Registered> {
  const response = await cp.client.withToken(BOOTSTRAP).call('POST', '/agent/v1/register', { role: 'gateway', name, zone: 'zone-a', pool: 'edge', address: '127.0.0.1:18080', version: 'test' });
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.body;
}

/** Opens the node's stream and resolves with it once the first snapshot arrived. */
async function openStream(node: Registered): Promise<WebSocket> {
  const socket = new WebSocket(`${cp.running.apiUrl.replace('https', 'wss')}/agent/v1/nodes/${node.id}/stream`, { ca: cp.running.caPem, headers: { authorization: `Bearer ${node.credential}` } });
  await new Promise((resolve, reject) => {
    socket.once('message', resolve);
    socket.once('error', reject);
  });
  return socket;
}

const gatewayNode = async (name: string) => (await cp.client.call('GET', nsPath('gatewaynodes', name))).body;

async function connectedStreams(): Promise<number> {
  const text = await (await fetch(`${cp.running.opsUrl}/metrics`)).text();
  return Number(/^portolan_connected_agents\{transport="websocket"\} (\d+)$/m.exec(text)?.[1] ?? Number.NaN);
}

beforeAll(async () => {
  cp = await startInProcess({ PORTOLAN_BOOTSTRAP_TOKEN: BOOTSTRAP, PORTOLAN_HEARTBEAT_INTERVAL: '10s', PORTOLAN_NODE_TTL: `${TTL_MS / 1000}s` });
});
afterAll(async () => {
  await cp?.stop();
});

describe('a gateway\'s config stream', () => {
  it('that drops without a close frame takes the gateway Offline at once, saying why; a new stream brings it back', async () => {
    const node = await registerGateway('lost-a');
    const stream = await openStream(node);
    expect((await gatewayNode('lost-a')).status.phase).toBe('Healthy');

    const cutAt = Date.now();
    // What the kernel does for a killed gateway: the TCP connection ends, no WebSocket close frame.
    (stream as unknown as { _socket: { destroy(): void } })._socket.destroy();
    const offline = await eventually(() => gatewayNode('lost-a'), (gateway) => gateway.status.phase === 'Offline', 'the gateway to go Offline');
    expect(Date.now() - cutAt).toBeLessThan(TTL_MS);
    expect(offline.status.conditions).toEqual([expect.objectContaining({ type: 'Ready', status: 'False', reason: 'StreamLost', message: expect.stringContaining('stream dropped') })]);
    expect(offline.status.removalInSeconds).toBeGreaterThan(0);

    const again = await openStream(node);
    try {
      await eventually(() => gatewayNode('lost-a'), (gateway) => gateway.status.phase === 'Healthy', 'the gateway to be Healthy again');
    } finally {
      again.terminate();
    }
  });

  it('that the agent closes saying goodbye leaves the gateway Healthy until its TTL', async () => {
    const node = await registerGateway('goodbye-a');
    const stream = await openStream(node);
    const before = await connectedStreams();
    await new Promise((resolve) => {
      stream.once('close', resolve);
      stream.close(1001, 'agent stopping');
    });
    await eventually(connectedStreams, (count) => count === before - 1, 'the control plane to see the stream closed');
    expect((await gatewayNode('goodbye-a')).status.phase).toBe('Healthy');
  });

  it('that reconnected keeps the gateway Healthy when its old stream is found dead later', async () => {
    const node = await registerGateway('twice-a');
    const old = await openStream(node);
    const replacement = await openStream(node);
    try {
      (old as unknown as { _socket: { destroy(): void } })._socket.destroy();
      // Nothing says when the control plane has seen the old stream go: a second of reads, each of
      // which would see Offline had the lost stream been taken for the gateway's.
      const phases = new Set<string>();
      for (const deadline = Date.now() + 1_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 50))) phases.add((await gatewayNode('twice-a')).status.phase);
      expect([...phases]).toEqual(['Healthy']);
    } finally {
      replacement.terminate();
    }
  });
});
