/**
 * An AgentClient wired to a FakeControlPlane with intervals short enough for tests, recording the
 * events it emits and the snapshots it applies.
 */
import { AgentClient, type AgentClientOptions } from '../agent-client.js';
import type { AgentEvent } from '../events.js';
import type { Snapshot } from '../protocol.js';
import { BOOTSTRAP_TOKEN, type FakeControlPlane } from './fake-control-plane.js';
import type { TestCertificate } from './test-certificate.js';

export const FAST_TIMING = {
  reconnectBaseMs: 20,
  reconnectMaxMs: 200,
  pingIntervalMs: 250,
  longPollWaitMs: 400,
  requestTimeoutMs: 5_000,
  websocketRetryMs: 60_000,
} satisfies Partial<AgentClientOptions>;

export interface TestAgent {
  client: AgentClient;
  events: AgentEvent[];
  applied: Snapshot[];
  eventsOf<T extends AgentEvent['type']>(type: T): Array<Extract<AgentEvent, { type: T }>>;
}

export function testAgent(controlPlane: FakeControlPlane, certificate: TestCertificate, options: Partial<AgentClientOptions> = {}): TestAgent {
  const events: AgentEvent[] = [];
  const applied: Snapshot[] = [];
  const client = new AgentClient({
    controlPlaneUrl: controlPlane.url,
    caPem: certificate.caPem,
    bootstrapToken: BOOTSTRAP_TOKEN,
    registration: { role: 'gateway', name: 'edge-1', zone: 'zone-a', pool: 'edge', address: '127.0.0.1:8080', version: 'test' },
    onSnapshot: (snapshot) => {
      applied.push(snapshot);
      return { status: 'ACK' };
    },
    ...FAST_TIMING,
    ...options,
    onEvent: (event) => {
      events.push(event);
      options.onEvent?.(event);
    },
  });
  const eventsOf = <T extends AgentEvent['type']>(type: T) => events.filter((event): event is Extract<AgentEvent, { type: T }> => event.type === type);
  return { client, events, applied, eventsOf };
}
