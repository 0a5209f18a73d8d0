/**
 * A real ProxyServer on loopback running the configuration some resources resolve to, for specs
 * that send requests through the proxy; and a port nothing listens on, for a dead endpoint.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Snapshot } from '@portolan/agent-client';
import { buildResolutionIndex, GROUP_VERSION, resolveGateway, type Resource } from '@portolan/api';
import { HeartbeatStatsCollector } from '../../telemetry/heartbeat-stats.js';
import { GatewayMetrics } from '../../telemetry/metrics.js';
import { ProxyServer } from '../proxy-server.js';

/** A free port, closed again: every try there fails to connect. */
export async function deadPort(): Promise<number> {
  const closed = createServer();
  await new Promise<void>((listening) => closed.listen(0, '127.0.0.1', listening));
  const port = (closed.address() as AddressInfo).port;
  await new Promise((done) => closed.close(done));
  return port;
}

let revision = 0;

export function resource(kind: string, name: string, spec: unknown): Resource {
  return { apiVersion: GROUP_VERSION, kind, metadata: { name, namespace: 'default', resourceVersion: String(++revision), creationTimestamp: '2026-01-01T00:00:00Z' }, spec };
}

export interface ProxyUnderTest {
  proxy: ProxyServer;
  stats: HeartbeatStatsCollector;
  metrics: GatewayMetrics;
  url: string;
}

/** A proxy of gateway edge-1 in zone-a (pool edge) running what `resources` resolve to, listening on a free port. */
export async function startProxy(resources: Resource[]): Promise<ProxyUnderTest> {
  const placement = { name: 'edge-1', zone: 'zone-a', pool: 'edge' };
  const snapshot: Snapshot = { version: `${revision}.x`, revision, gateway: { id: 'g', ...placement }, share: null, routes: resolveGateway(buildResolutionIndex(resources, revision), placement).routes };
  const stats = new HeartbeatStatsCollector();
  const metrics = new GatewayMetrics();
  const proxy = new ProxyServer({ zone: placement.zone, pool: placement.pool, metrics, stats });
  const { errors } = proxy.apply(snapshot);
  if (errors.length) throw new Error(`the proxy rejected the configuration: ${JSON.stringify(errors)}`);
  return { proxy, stats, metrics, url: `http://${await proxy.listen('127.0.0.1', 0)}` };
}
