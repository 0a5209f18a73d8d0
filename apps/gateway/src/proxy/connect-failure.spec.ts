/**
 * The gateway's own reaction to a dead endpoint: a try that could not connect reached nobody, so
 * the gateway tries another endpoint at once, once, whatever the retry policy says (for a POST too),
 * and goes to the next zone when its own zone has no other endpoint.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HeartbeatStatsCollector } from '../telemetry/heartbeat-stats.js';
import type { ProxyServer } from './proxy-server.js';
import { deadPort, resource, startProxy } from './testing/proxy-fixture.js';

describe('a connect failure', () => {
  const answered: string[] = [];
  const upstream: Server = createServer((incoming, response) => {
    incoming.resume();
    answered.push(`${incoming.method} ${incoming.url}`);
    response.writeHead(200, { 'content-type': 'text/plain' }).end('zone-b');
  });
  let proxy: ProxyServer;
  let stats: HeartbeatStatsCollector;
  let url: string;

  beforeAll(async () => {
    await new Promise<void>((listening) => upstream.listen(0, '127.0.0.1', listening));
    const port = (upstream.address() as AddressInfo).port;
    const dead = await deadPort();
    ({ proxy, stats, url } = await startProxy([
      // The gateway's own zone has one endpoint, and it is dead; zone-b's answers. No RetryPolicy.
      resource('Service', 'checkout', { ports: [{ port }], endpoints: [{ address: '127.0.0.1', port: dead, zone: 'zone-a' }, { address: '127.0.0.1', port, zone: 'zone-b' }] }),
      resource('Service', 'ledger', { ports: [{ port: dead }], endpoints: [{ address: '127.0.0.1', port: dead, zone: 'zone-a' }] }),
      resource('Route', 'checkout', { match: { pathPrefix: '/checkout' }, backendRef: { name: 'checkout' } }),
      resource('Route', 'ledger', { match: { pathPrefix: '/ledger' }, backendRef: { name: 'ledger' } }),
    ]));
  });

  afterAll(async () => {
    await proxy.close();
    upstream.closeAllConnections();
    await new Promise((done) => upstream.close(done));
  });

  const send = async (method: 'GET' | 'POST', path: string) => {
    const response = await request(`${url}${path}`, { method, body: method === 'POST' ? '{"order":1}' : undefined });
    return { status: response.statusCode, text: await response.body.text() };
  };

  it('sends the request to another zone\'s endpoint at once, without a retry policy, for a POST too', async () => {
    stats.collect([], []);
    for (let i = 0; i < 10; i++) expect(await send('POST', '/checkout/pay')).toEqual({ status: 200, text: 'zone-b' });
    expect(answered.filter((line) => line === 'POST /checkout/pay')).toHaveLength(10);
    expect(stats.collect([], []).retries).toBe(10);
  });

  it('answers the connect failure when there is no other endpoint to try, having tried once', async () => {
    stats.collect([], []);
    const response = await send('GET', '/ledger');
    expect(response.status).toBe(503);
    const collected = stats.collect([], []);
    expect(collected.retries).toBe(0);
    expect(collected.upstreamZones?.find((zone) => zone.zone === 'zone-a')).toMatchObject({ requests: 1, serverErrors: 1 });
  });
});
