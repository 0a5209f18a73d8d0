/**
 * The gateway's own reaction to a dead endpoint: a try that could not connect reached nobody, so
 * the gateway tries another endpoint at once, once, whatever the retry policy says (for a POST too),
 * and goes to the next zone when its own zone has no other endpoint.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Snapshot } from '@portolan/agent-client';
import { buildResolutionIndex, GROUP_VERSION, resolveGateway, type Resource } from '@portolan/api';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeartbeatStatsCollector } from '../telemetry/heartbeat-stats.js';
import { GatewayMetrics } from '../telemetry/metrics.js';
import { ProxyServer } from './proxy-server.js';

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
  let revision = 0;
  const resource = (kind: string, name: string, spec: unknown): Resource => ({
    apiVersion: GROUP_VERSION,
    kind,
    metadata: { name, namespace: 'default', resourceVersion: String(++revision), creationTimestamp: '2026-01-01T00:00:00Z' },
    spec,
  });

  beforeAll(async () => {
    await new Promise<void>((listening) => upstream.listen(0, '127.0.0.1', listening));
    const port = (upstream.address() as AddressInfo).port;
    const closed = createServer();
    await new Promise<void>((listening) => closed.listen(0, '127.0.0.1', listening));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise((done) => closed.close(done));
    const resources = [
      // The gateway's own zone has one endpoint, and it is dead; zone-b's answers. No RetryPolicy.
      resource('Service', 'checkout', { ports: [{ port }], endpoints: [{ address: '127.0.0.1', port: deadPort, zone: 'zone-a' }, { address: '127.0.0.1', port, zone: 'zone-b' }] }),
      resource('Service', 'ledger', { ports: [{ port: deadPort }], endpoints: [{ address: '127.0.0.1', port: deadPort, zone: 'zone-a' }] }),
      resource('Route', 'checkout', { match: { pathPrefix: '/checkout' }, backendRef: { name: 'checkout' } }),
      resource('Route', 'ledger', { match: { pathPrefix: '/ledger' }, backendRef: { name: 'ledger' } }),
    ];
    const placement = { name: 'edge-1', zone: 'zone-a', pool: 'edge' };
    const snapshot: Snapshot = { version: `${revision}.x`, revision, gateway: { id: 'g', ...placement }, share: null, routes: resolveGateway(buildResolutionIndex(resources, revision), placement).routes };
    stats = new HeartbeatStatsCollector();
    proxy = new ProxyServer({ zone: 'zone-a', pool: 'edge', metrics: new GatewayMetrics(), stats });
    expect(proxy.apply(snapshot).errors).toEqual([]);
    url = `http://${await proxy.listen('127.0.0.1', 0)}`;
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
