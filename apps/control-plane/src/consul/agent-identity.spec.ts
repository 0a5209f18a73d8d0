import { afterEach, describe, expect, it } from 'vitest';
import { ConsulTestServer } from '@portolan/consul-test-server';
import { ConsulClient } from './consul-client';
import { ConsulAgentMismatchError, checkSameAgent } from './agent-identity';

describe('checkSameAgent: every replica on the agent its gateways are registered with', () => {
  const servers: ConsulTestServer[] = [];
  const clients: ConsulClient[] = [];
  const client = (server: ConsulTestServer) => {
    const made = new ConsulClient({ address: server.address, prefix: 'portolan' });
    clients.push(made);
    return made;
  };
  afterEach(async () => {
    for (const made of clients.splice(0)) made.close();
    for (const server of servers.splice(0)) await server.close();
  });

  it('records the first replica\'s agent, and lets replicas on the same agent start, together too', async () => {
    const consul = await ConsulTestServer.start({ nodeName: 'consul-server-0' });
    servers.push(consul);
    expect(await Promise.all([client(consul), client(consul), client(consul)].map((replica) => checkSameAgent(replica)))).toEqual(['consul-server-0', 'consul-server-0', 'consul-server-0']);
    const { value } = await client(consul).kvGet('portolan/agent');
    expect(value?.Value).toBe('consul-server-0');
  });

  it('records its agent when an operator blanked the record instead of deleting it', async () => {
    const consul = await ConsulTestServer.start({ nodeName: 'consul-server-1' });
    servers.push(consul);
    await client(consul).kvSet('portolan/agent', '');
    expect(await checkSameAgent(client(consul))).toBe('consul-server-1');
    expect((await client(consul).kvGet('portolan/agent')).value?.Value).toBe('consul-server-1');
  });

  it('refuses a replica on another agent, saying which agent to use and how to start over', async () => {
    const first = await ConsulTestServer.start({ nodeName: 'consul-server-0' });
    servers.push(first);
    await checkSameAgent(client(first));
    // Another agent of the same cluster, as the KV store shows it: the same record, another node name.
    const second = await ConsulTestServer.start({ nodeName: 'node-7-client' });
    servers.push(second);
    await client(second).kvSet('portolan/agent', 'consul-server-0');
    const refused = checkSameAgent(client(second));
    await expect(refused).rejects.toBeInstanceOf(ConsulAgentMismatchError);
    await expect(refused).rejects.toThrow(
      /is Consul agent "node-7-client", but Portolan's gateways are registered on agent "consul-server-0" \(recorded at portolan\/agent\).*point CONSUL_HTTP_ADDR at "consul-server-0".*delete portolan\/agent/,
    );
  });
});
