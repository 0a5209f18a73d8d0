import { describe, expect, it } from 'vitest';
import { useConsul } from './testing/harness.js';

const consul = useConsul();

describe('agent self (api-docs/agent "Read configuration")', () => {
  // api-docs/agent: GET /agent/self "returns the configuration and member information of the local agent"; the sample response's Config has Datacenter, NodeName, Server
  it('names the node of the agent it is, and its datacenter', async () => {
    await consul.start({ nodeName: 'consul-server-0' });
    const self = await consul.get('/v1/agent/self');
    expect(self.status).toBe(200);
    expect(JSON.parse(self.text)).toMatchObject({ Config: { Datacenter: 'dc1', NodeName: 'consul-server-0' } });
  });
});
