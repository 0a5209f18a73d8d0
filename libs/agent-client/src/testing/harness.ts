/**
 * The per-file test set-up the client specs share: one certificate per file, a fresh fake control
 * plane per test (started by `setUp` or by the test itself), and every agent stopped afterwards.
 */
import { afterEach, beforeAll } from 'vitest';
import { FakeControlPlane, type FakeControlPlaneOptions } from './fake-control-plane.js';
import { createTestCertificate, type TestCertificate } from './test-certificate.js';
import { testAgent, type TestAgent } from './test-agent.js';

export interface Harness {
  certificate: TestCertificate;
  controlPlane: FakeControlPlane;
  /** Starts a fake control plane and an agent for it. */
  setUp(agentOptions?: Parameters<typeof testAgent>[2], serverOptions?: Partial<FakeControlPlaneOptions>): Promise<TestAgent>;
  /** Stops the agent after the test. */
  track(agent: TestAgent): TestAgent;
}

export function useFakeControlPlane(): Harness {
  let agents: TestAgent[] = [];
  const harness: Harness = {
    certificate: undefined as unknown as TestCertificate,
    controlPlane: undefined as unknown as FakeControlPlane,
    async setUp(agentOptions = {}, serverOptions = {}) {
      harness.controlPlane = await FakeControlPlane.start({ certificate: harness.certificate, ...serverOptions });
      return harness.track(testAgent(harness.controlPlane, harness.certificate, agentOptions));
    },
    track(agent) {
      agents.push(agent);
      return agent;
    },
  };
  beforeAll(() => {
    harness.certificate = createTestCertificate();
  });
  afterEach(async () => {
    await Promise.all(agents.map(({ client }) => client.stop()));
    agents = [];
    await harness.controlPlane?.close();
  });
  return harness;
}
