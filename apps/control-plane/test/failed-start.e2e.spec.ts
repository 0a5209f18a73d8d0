/**
 * A start that fails after the Consul backend opened (here: the API port is taken) leaves nothing
 * behind: the leader lock is released at once, so another replica need not wait out the session
 * TTL and lock-delay, and the ops port it had opened is closed again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { ConsulTestServer } from '@portolan/consul-test-server';
import { readBootConfig } from '../src/config/boot-config';
import { ConsulClient } from '../src/consul/consul-client';
import { startControlPlane } from '../src/control-plane';
import { freePort } from '../src/autoscaling/testing/prometheus-server';
import { makeDataDir, removeDataDir } from './support/control-plane-process';

let consul: ConsulTestServer;
let taken: Server;
const dataDir = makeDataDir();

beforeAll(async () => {
  consul = await ConsulTestServer.start();
  taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  await new Promise((resolve) => taken.close(resolve));
  await consul.close();
  removeDataDir(dataDir);
});

describe('a start that fails after the backend opened', () => {
  it('releases the leader lock and closes the ops port', async () => {
    const opsPort = await freePort();
    const config = readBootConfig({
      PORTOLAN_DATA_DIR: dataDir,
      PORTOLAN_STORE: 'consul',
      CONSUL_HTTP_ADDR: consul.address,
      PORTOLAN_BOOTSTRAP_TOKEN: 'failed-start-bootstrap',
      PORTOLAN_ADMIN_TOKEN: 'failed-start-admin-token-0123456789',
      PORTOLAN_REPLICA_NAME: 'doomed',
      PORTOLAN_API_PORT: String((taken.address() as AddressInfo).port),
      PORTOLAN_OPS_PORT: String(opsPort),
      PORTOLAN_LOG_LEVEL: 'silent',
    });
    await expect(startControlPlane(config)).rejects.toThrow(/EADDRINUSE/);
    const client = new ConsulClient({ address: consul.address, prefix: 'portolan' });
    try {
      // It had become leader (an empty Consul), and let go of the lock when it gave up.
      const { value } = await client.kvGet('portolan/leader');
      expect(value).toBeDefined();
      expect(value!.Session).toBeUndefined();
    } finally {
      client.close();
    }
    await expect(fetch(`http://127.0.0.1:${opsPort}/healthz`)).rejects.toThrow();
  });
});
