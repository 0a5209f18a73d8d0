/**
 * Where Consul-backed specs run: a real Consul when CONSUL_HTTP_ADDR is set (CONSUL_HTTP_TOKEN as
 * its ACL token), else the Consul HTTP API test double from @portolan/consul-test-server. Each
 * caller gets its own KV prefix, so runs against a shared real Consul do not see each other.
 */
import { randomUUID } from 'node:crypto';
import { ConsulTestServer, type ConsulTestServerOptions } from '@portolan/consul-test-server';
import { ConsulClient } from './consul-client';

export interface ConsulTestTarget {
  address: string;
  token?: string;
  /** The test double, when the specs are not running against a real Consul. */
  double?: ConsulTestServer;
  prefix: string;
  client(): ConsulClient;
  /** Deletes the prefix and stops the double. */
  close(): Promise<void>;
}

export const realConsulAddress = process.env.CONSUL_HTTP_ADDR || undefined;

export async function startConsulTestTarget(options: ConsulTestServerOptions = {}): Promise<ConsulTestTarget> {
  const double = realConsulAddress ? undefined : await ConsulTestServer.start(options);
  const address = realConsulAddress ?? double!.address;
  const token = realConsulAddress ? process.env.CONSUL_HTTP_TOKEN || undefined : options.aclToken;
  const prefix = `portolan-test/${randomUUID()}`;
  const clients: ConsulClient[] = [];
  return {
    address,
    token,
    double,
    prefix,
    client() {
      const client = new ConsulClient({ address, token, prefix });
      clients.push(client);
      return client;
    },
    async close() {
      if (realConsulAddress) await new ConsulClient({ address, token, prefix }).kvDelete(prefix, { recurse: true }).catch(() => undefined);
      for (const client of clients) client.close();
      await double?.close();
    },
  };
}
