/**
 * Self-checks, in process, with 200 ms heartbeats (so the traffic and trace windows are 3 s): a
 * gateway whose heartbeats stop carrying statistics, a zone without traffic, and an upstream that
 * drops trace context, each reported by GET /v1/self-checks naming the object, in the log, and in
 * portolan_self_check_findings.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HeartbeatStats } from '@portolan/agent-client';
import { otlpJsonExport, span, spanId, traceId } from '../src/tracing/testing/spans';
import { startInProcess, type InProcessControlPlane } from './support/in-process';

const BOOTSTRAP = 'self-check-bootstrap-token-0123';
const WINDOW_MS = 15 * 200;

const stats = (requests: number): HeartbeatStats => ({
  periodMs: 200,
  requests,
  responses: { '2xx': requests, '3xx': 0, '4xx': 0, '5xx': 0 },
  errors: { rateLimited: 0, breakerOpen: 0, timeout: 0, connectFailure: 0, noRoute: 0, noEndpoint: 0 },
  retries: 0,
  latency: null,
  breakers: [],
  ejectedEndpoints: [],
});

let cp: InProcessControlPlane;
beforeAll(async () => {
  cp = await startInProcess({ PORTOLAN_BOOTSTRAP_TOKEN: BOOTSTRAP, PORTOLAN_HEARTBEAT_INTERVAL: '200ms', PORTOLAN_NODE_TTL: '2s' });
});
afterAll(() => cp?.stop());

async function register(name: string, zone: string) {
  const answer = await cp.client.withToken(BOOTSTRAP).call('POST', '/agent/v1/register', { role: 'gateway', name, zone, pool: 'edge', address: '127.0.0.1:1', version: 'test' });
  expect(answer.status).toBe(201);
  return { id: answer.body.id as string, client: cp.client.withToken(answer.body.credential) };
}

const findings = async () => (await cp.client.call('GET', '/v1/self-checks')).body.findings as Array<{ check: string; object: { kind: string; name: string }; message: string }>;

async function until<T>(what: string, read: () => Promise<T>, accept: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T;
  do {
    last = await read();
    if (accept(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 100));
  } while (Date.now() < deadline);
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
}

describe('self-checks', () => {
  it('report a zone without traffic and a gateway whose statistics stopped, and clear them when traffic and statistics return', async () => {
    const busy = await register('busy-a', 'zone-a');
    const quiet = await register('quiet-b', 'zone-b');
    let busySendsStats = true;
    let quietRequests = 0;
    const heartbeats = setInterval(() => {
      void busy.client.call('POST', `/agent/v1/nodes/${busy.id}/heartbeat`, busySendsStats ? { stats: stats(10) } : {});
      void quiet.client.call('POST', `/agent/v1/nodes/${quiet.id}/heartbeat`, { stats: stats(quietRequests) });
    }, 200);
    try {
      const quietZone = await until('zone-b to be reported', findings, (list) => list.some((f) => f.check === 'ZoneWithoutTrafficData'), WINDOW_MS + 10_000);
      expect(quietZone).toEqual([
        expect.objectContaining({ check: 'ZoneWithoutTrafficData', severity: 'Warning', object: { kind: 'Zone', name: 'zone-b' }, message: expect.stringContaining('zone zone-b carried no requests in the last 3s while zone-a did') }),
      ]);

      busySendsStats = false;
      const stopped = await until('busy-a statistics to be missed', findings, (list) => list.some((f) => f.check === 'GatewayMetricsStopped'));
      expect(stopped).toContainEqual(
        expect.objectContaining({ check: 'GatewayMetricsStopped', object: { kind: 'GatewayNode', namespace: 'default', name: 'busy-a' }, message: expect.stringContaining('gateway busy-a (zone zone-a) heartbeats but sent no traffic statistics') }),
      );
      const metrics = await (await fetch(`${cp.running.opsUrl}/metrics`)).text();
      expect(metrics).toMatch(/portolan_self_check_findings\{check="GatewayMetricsStopped"\} 1/);
      expect(cp.logs.join('')).toMatch(/"msg":"self-check GatewayMetricsStopped: gateway busy-a/);

      busySendsStats = true;
      quietRequests = 3;
      await until('both findings to clear', findings, (list) => list.length === 0, WINDOW_MS + 10_000);
      expect(cp.logs.join('')).toMatch(/self-check ZoneWithoutTrafficData cleared for Zone zone-b/);
    } finally {
      clearInterval(heartbeats);
      await busy.client.call('DELETE', `/agent/v1/nodes/${busy.id}`);
      await quiet.client.call('DELETE', `/agent/v1/nodes/${quiet.id}`);
    }
  });

  it('reports an upstream whose spans start traces of their own instead of joining the gateway trace', async () => {
    // Attempts count once they are 10 s old (the upstream's exporter may not have sent its span yet).
    const now = (Date.now() - 11_000) * 1000;
    const gatewayResource = { 'service.name': 'portolan-gateway' };
    const paymentsResource = { 'service.name': 'payments', 'service.namespace': 'default' };
    const spans = Array.from({ length: 6 }, (_, i) => [
      span({ traceId: traceId(0x100 + i), spanId: spanId(1), service: 'portolan-gateway', resource: gatewayResource, name: 'GET default/payments', startTimeUnixMicros: now - 5000 }),
      span({ traceId: traceId(0x100 + i), spanId: spanId(2), parentSpanId: spanId(1), kind: 'client', service: 'portolan-gateway', resource: gatewayResource, name: 'upstream default/payments', startTimeUnixMicros: now - 4900, attributes: { 'portolan.service': 'default/payments', 'http.response.status_code': 200 } }),
      // The upstream ignored traceparent: its span is the root of a trace of its own.
      span({ traceId: traceId(0x200 + i), spanId: spanId(3), service: 'payments', resource: paymentsResource, name: 'GET /pay', startTimeUnixMicros: now - 4800 }),
    ]).flat();
    const posted = await fetch(`${cp.running.opsUrl}/v1/traces`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(otlpJsonExport(spans)) });
    expect(posted.status).toBe(200);
    // The trace checks rerun every third of a window (1 s here).
    const found = await until('the trace-context finding', findings, (list) => list.some((f) => f.check === 'UpstreamDropsTraceContext'), 5_000);
    expect(found).toContainEqual(
      expect.objectContaining({ check: 'UpstreamDropsTraceContext', object: { kind: 'Service', namespace: 'default', name: 'payments' }, message: expect.stringContaining('default/payments') }),
    );
  });
});
