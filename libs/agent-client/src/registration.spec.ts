import { describe, expect, it } from 'vitest';
import { useFakeControlPlane } from './testing/harness.js';
import { AgentClientError } from './errors.js';
import { BOOTSTRAP_TOKEN, FakeControlPlane } from './testing/fake-control-plane.js';
import { createTestCertificate } from './testing/test-certificate.js';
import { testAgent } from './testing/test-agent.js';

const harness = useFakeControlPlane();
const { setUp } = harness;

describe('register', () => {
  it('sends the registration with the bootstrap token over HTTPS trusting the given CA', async () => {
    const { client, eventsOf } = await setUp();

    const response = await client.register();

    expect(response).toMatchObject({ id: 'node-1', name: 'edge-1', credential: 'credential-1', heartbeatIntervalMs: 50 });
    expect(harness.controlPlane.registrations).toEqual([
      { authorization: `Bearer ${BOOTSTRAP_TOKEN}`, body: { role: 'gateway', name: 'edge-1', zone: 'zone-a', pool: 'edge', address: '127.0.0.1:8080', version: 'test' } },
    ]);
    expect(client.state.node).toEqual({ id: 'node-1', name: 'edge-1' });
    expect(eventsOf('registered')).toEqual([{ type: 'registered', id: 'node-1', name: 'edge-1', renewal: false }]);
  });

  it('does not retry a 401: the token will not become valid by asking again', async () => {
    const { client } = await setUp({ bootstrapToken: 'wrong-token' });

    const error = await client.register().catch((thrown: unknown) => thrown);

    expect(error).toBeInstanceOf(AgentClientError);
    expect(error).toMatchObject({ code: 'PORTOLAN_AGENT_UNAUTHORIZED', statusCode: 401, reason: 'Unauthorized' });
    expect((error as Error).message).toBe('POST /agent/v1/register answered 401: Unauthorized: the bearer token is not valid');
    expect(harness.controlPlane.registrations).toHaveLength(1);
  });

  it('does not retry an invalid registration, and surfaces its field causes', async () => {
    const { client } = await setUp({ registration: { role: 'gateway', zone: '', pool: 'edge', address: '127.0.0.1:8080', version: 'test' } });

    await expect(client.start()).rejects.toMatchObject({
      code: 'PORTOLAN_AGENT_REJECTED',
      statusCode: 422,
      causes: [{ field: 'spec.zone', message: 'Required value', reason: 'FieldValueRequired' }],
    });
    expect(harness.controlPlane.registrations).toHaveLength(1);
  });

  it('retries with backoff while the control plane cannot answer', async () => {
    const { client, eventsOf } = await setUp();
    harness.controlPlane.unavailableRegistrations = 3;

    await client.register();

    expect(harness.controlPlane.registrations).toHaveLength(4);
    expect(eventsOf('registration-failed').map((event) => [event.attempt, event.error.code])).toEqual([
      [1, 'PORTOLAN_AGENT_UNAVAILABLE'],
      [2, 'PORTOLAN_AGENT_UNAVAILABLE'],
      [3, 'PORTOLAN_AGENT_UNAVAILABLE'],
    ]);
    for (const [attempt, event] of eventsOf('registration-failed').entries()) {
      expect(event.retryInMs).toBeLessThan(Math.min(200, 20 * 2 ** attempt));
    }
  });

  it('retries while the control plane is unreachable, until aborted', async () => {
    harness.controlPlane = await FakeControlPlane.start({ certificate: harness.certificate });
    const url = harness.controlPlane.url;
    await harness.controlPlane.close();
    const agent = testAgent(harness.controlPlane, harness.certificate, { controlPlaneUrl: url });
    harness.track(agent);
    harness.controlPlane = await FakeControlPlane.start({ certificate: harness.certificate });
    const abort = new AbortController();

    const registering = agent.client.register(abort.signal);
    await expect.poll(() => agent.eventsOf('registration-failed').length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    abort.abort();

    await expect(registering).rejects.toMatchObject({ code: 'PORTOLAN_AGENT_ABORTED' });
    expect(agent.eventsOf('registration-failed')[0].error.code).toBe('PORTOLAN_AGENT_UNREACHABLE');
  });

  it('does not trust a control plane whose certificate the CA did not sign', async () => {
    const stranger = createTestCertificate();
    const { client, eventsOf } = await setUp({ caPem: stranger.caPem });
    const abort = new AbortController();

    const registering = client.register(abort.signal);
    await expect.poll(() => eventsOf('registration-failed').length, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
    abort.abort();

    await expect(registering).rejects.toMatchObject({ code: 'PORTOLAN_AGENT_ABORTED' });
    expect(eventsOf('registration-failed')[0].error).toMatchObject({ code: 'PORTOLAN_AGENT_UNREACHABLE', message: expect.stringMatching(/certificate/i) });
    expect(harness.controlPlane.registrations).toHaveLength(0);
  });

  it('start() resolves without registering when stopped first', async () => {
    const { client } = await setUp();
    harness.controlPlane.unavailableRegistrations = 1_000;

    const starting = client.start();
    await expect.poll(() => harness.controlPlane.registrations.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(1);
    await client.stop();

    await expect(starting).resolves.toBeUndefined();
    expect(client.state).toMatchObject({ node: undefined, stopped: true, connection: 'disconnected' });
  });
});
