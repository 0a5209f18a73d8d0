/**
 * Every replica must talk to the same Consul agent: gateways are that agent's services, and
 * Consul's /v1/agent endpoints (pass a TTL check, maintenance, deregister) act only on the local
 * agent's own services (api-docs/agent). A replica pointed at another agent would get 404 "Unknown
 * check ID" for every heartbeat and drop gateways that are alive. That mistake is easy to make
 * (CONSUL_HTTP_ADDR set to each node's local agent, or to a load balancer over several servers), so
 * the first replica records its agent's node name at `<prefix>/agent` and every replica checks it
 * at start. A load balancer that spreads requests over several agents can still pass this check
 * by luck; the docs say so (docs/adr/0006-consul-backend.md).
 */
import type { ConsulClient } from './consul-client';

export class ConsulAgentMismatchError extends Error {
  readonly code = 'PORTOLAN_CONSUL_AGENT_MISMATCH';
}

export async function checkSameAgent(consul: ConsulClient): Promise<string> {
  const key = consul.key('agent');
  const node = await consul.agentNodeName();
  if (!node) throw new ConsulAgentMismatchError(`Consul at ${consul.address} did not say which node its agent is (GET /v1/agent/self has no Config.NodeName)`);
  for (;;) {
    const { value } = await consul.kvGet(key);
    if (value?.Value) {
      if (value.Value === node) return node;
      throw new ConsulAgentMismatchError(
        `CONSUL_HTTP_ADDR=${consul.address} is Consul agent "${node}", but Portolan's gateways are registered on agent "${value.Value}" (recorded at ${key}). ` +
          `Consul acts on a service only through the agent that registered it, so every replica must use the same agent: point CONSUL_HTTP_ADDR at "${value.Value}". ` +
          `If that agent is gone for good, delete ${key} and restart the replicas; gateways then register again.`,
      );
    }
    // Unrecorded (or blanked by an operator starting over): record ours, unless another replica just did.
    if (await consul.kvSet(key, node, { cas: value?.ModifyIndex ?? 0 })) return node;
  }
}
