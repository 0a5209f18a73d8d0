/**
 * Connections to an endpoint are a bounded pool (64 per endpoint): a request that must wait for
 * one, every connection busy with uploads that stream at their clients' pace, still gets its
 * answer at its request deadline (504) rather than whenever the uploads end. The tries counted in
 * portolan_gateway_upstream_requests_in_flight all end once the clients leave.
 */
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import type { ProxyServer } from './proxy-server.js';
import { resource, startProxy } from './testing/proxy-fixture.js';

/** UpstreamPools' connections per endpoint. */
const CONNECTIONS_PER_ENDPOINT = 64;

describe('an endpoint whose connections are all busy', () => {
  // Reads request bodies, and answers only once one ends.
  const upstream: Server = createServer((incoming, response) => {
    incoming.resume();
    incoming.on('end', () => response.end('done'));
  });
  const uploads: Socket[] = [];
  let proxy: ProxyServer;
  let metrics: GatewayMetrics;
  let url: string;

  const gauge = async (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(await metrics.registry.metrics())?.[1]);

  beforeAll(async () => {
    await new Promise<void>((listening) => upstream.listen(0, '127.0.0.1', listening));
    const port = (upstream.address() as AddressInfo).port;
    ({ proxy, metrics, url } = await startProxy([
      resource('Service', 'files', { ports: [{ port }], endpoints: [{ address: '127.0.0.1', port, zone: 'zone-a' }] }),
      resource('Route', 'files', { match: { pathPrefix: '/files' }, backendRef: { name: 'files' } }),
      // Over a second, where the proxy leaves the deadline to undici's own timers.
      resource('TimeoutPolicy', 'files-timeout', { targetRef: { kind: 'Route', name: 'files' }, requestTimeout: '1500ms' }),
    ]));
  });

  afterAll(async () => {
    for (const socket of uploads) socket.destroy();
    await proxy.close();
    upstream.closeAllConnections();
    await new Promise((done) => upstream.close(done));
  });

  it('answers 504 at the request deadline to a request that waits for a connection', async () => {
    const { port } = new URL(url);
    // Uploads too large to replay stream at once, each holding a connection while its client is slow.
    for (let i = 0; i < CONNECTIONS_PER_ENDPOINT; i++) {
      const socket = connect(Number(port), '127.0.0.1', () => socket.write(`POST /files HTTP/1.1\r\nhost: files\r\ncontent-length: ${1024 * 1024}\r\n\r\n${'u'.repeat(100 * 1024)}`));
      socket.on('error', () => undefined);
      uploads.push(socket);
    }
    await expect.poll(() => new Promise<number>((resolve) => upstream.getConnections((_error, count) => resolve(count))), { timeout: 10_000 }).toBe(CONNECTIONS_PER_ENDPOINT);
    expect(await gauge('portolan_gateway_upstream_requests_in_flight')).toBe(CONNECTIONS_PER_ENDPOINT);

    const response = await request(`${url}/files/small`, { headersTimeout: 10_000 });
    expect(response.statusCode).toBe(504);
    expect(JSON.parse(await response.body.text()).error).toContain('waiting for a connection: every one to the endpoint was busy');

    for (const socket of uploads) socket.destroy();
    await expect.poll(() => gauge('portolan_gateway_upstream_requests_in_flight'), { timeout: 10_000 }).toBe(0);
    expect(await gauge('portolan_gateway_requests_in_flight')).toBe(0);
  });
});
