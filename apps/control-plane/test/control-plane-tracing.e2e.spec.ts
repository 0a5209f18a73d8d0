/**
 * The control plane's own spans, in process: each HTTPS API request is a SERVER span named by its
 * route template, under the caller's trace, in the embedded store (or exported over OTLP/HTTP when
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set); its log lines carry the same trace id. The agent
 * protocol and watches have no span, and requests without a principal are stored only as errors.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Trace } from '../src/tracing/trace-model';
import { GROUP_PATH, nsPath, type ApiClient, type ApiResponse } from './support/api-client';
import { startInProcess, type InProcessControlPlane } from './support/in-process';

const BOOTSTRAP = 'tracing-bootstrap-token-0123456';
// OpenTelemetry's standard setting: export span batches every 100 ms instead of every 5 s, so each
// test waits for its spans a moment rather than a full batch interval. What is exported is the same.
process.env.OTEL_BSP_SCHEDULE_DELAY = '100';
const COLLECTION_ROUTE = `${GROUP_PATH}/namespaces/:namespace/:plural`;
const OBJECT_ROUTE = `${COLLECTION_ROUTE}/:name`;

/** A caller's span: a new trace id and span id, sampled or not. */
function callerSpan(sampled = true) {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-${sampled ? '01' : '00'}` };
}

const policy = (name: string) => ({
  apiVersion: 'mesh.portolan.dev/v1alpha1',
  kind: 'RateLimitPolicy',
  metadata: { name },
  spec: { targetRef: { kind: 'Service', name: 'checkout' }, limits: [{ name: 'per-minute', requests: 100, interval: '60s' }] },
});

/** Spans are exported in batches (every few seconds): poll the trace API until the trace is there. */
async function traceOnceStored(client: ApiClient, traceId: string): Promise<Trace> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const answer: ApiResponse<Trace> = await client.call('GET', `/observability/v1/traces/${traceId}`);
    if (answer.status === 200) return answer.body;
    if (Date.now() > deadline) throw new Error(`trace ${traceId} was not stored within 20s (last answer ${answer.status})`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * Spans are exported in the order their traces are decided: once a sampled request made after the
 * others is stored, the others' spans would have been stored too.
 */
async function expectNotStored(cp: InProcessControlPlane, traceIds: string[]): Promise<void> {
  const later = callerSpan();
  expect((await cp.client.call('GET', nsPath('ratelimitpolicies'), undefined, undefined, { traceparent: later.traceparent })).status).toBe(200);
  await traceOnceStored(cp.client, later.traceId);
  for (const traceId of traceIds) expect((await cp.client.call('GET', `/observability/v1/traces/${traceId}`)).status, traceId).toBe(404);
}

function logLine(cp: InProcessControlPlane, matches: (line: Record<string, unknown>) => boolean): Record<string, unknown> {
  const line = cp.logs.map((text) => JSON.parse(text) as Record<string, unknown>).find(matches);
  if (!line) throw new Error('no such log line');
  return line;
}

describe('the control plane\'s own spans, all sampled', () => {
  let cp: InProcessControlPlane;
  beforeAll(async () => {
    cp = await startInProcess({ PORTOLAN_TRACE_SAMPLING: '1', PORTOLAN_BOOTSTRAP_TOKEN: BOOTSTRAP });
  });
  afterAll(async () => {
    await cp?.stop();
  });

  it('stores a SERVER span named by the route template under the caller\'s span, and the request\'s logs carry its trace id', async () => {
    const caller = callerSpan();
    const created = await cp.client.call('POST', nsPath('ratelimitpolicies'), policy('traced'), 'application/json', { traceparent: caller.traceparent });
    expect(created.status).toBe(201);

    const written = logLine(cp, (line) => line.msg === 'resource written' && line.name === 'traced');
    expect(written.traceId).toBe(caller.traceId);
    expect(written.principal).toEqual(expect.any(String));

    const trace = await traceOnceStored(cp.client, caller.traceId);
    expect(trace.spans).toEqual([
      expect.objectContaining({
        traceId: caller.traceId,
        parentSpanId: caller.spanId,
        kind: 'server',
        service: 'portolan-control-plane',
        name: `POST ${COLLECTION_ROUTE}`,
        status: { code: 'unset' },
        attributes: {
          'http.request.method': 'POST',
          'http.route': COLLECTION_ROUTE,
          'url.path': nsPath('ratelimitpolicies'),
          'http.response.status_code': 201,
          'portolan.principal': written.principal,
        },
        resource: expect.objectContaining({ 'service.name': 'portolan-control-plane', 'service.instance.id': expect.stringMatching(/.+/) }),
      }),
    ]);
  });

  it('starts a trace of its own without a traceparent, and a log line leads to it', async () => {
    expect((await cp.client.call('POST', nsPath('ratelimitpolicies'), policy('untraced'))).status).toBe(201);
    const { traceId } = logLine(cp, (line) => line.msg === 'resource written' && line.name === 'untraced');
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    const trace = await traceOnceStored(cp.client, traceId as string);
    expect(trace.spans).toEqual([expect.objectContaining({ name: `POST ${COLLECTION_ROUTE}`, service: 'portolan-control-plane' })]);
    expect(trace.spans[0]).not.toHaveProperty('parentSpanId');
  });

  it('records the status code of a 404 for an object that does not exist, which is not an error', async () => {
    const caller = callerSpan();
    const answer = await cp.client.call('GET', nsPath('ratelimitpolicies', 'missing'), undefined, undefined, { traceparent: caller.traceparent });
    expect(answer.status).toBe(404);
    const [span] = (await traceOnceStored(cp.client, caller.traceId)).spans;
    expect(span).toMatchObject({ name: `GET ${OBJECT_ROUTE}`, status: { code: 'unset' }, attributes: { 'http.route': OBJECT_ROUTE, 'url.path': nsPath('ratelimitpolicies', 'missing'), 'http.response.status_code': 404, 'portolan.principal': expect.any(String) } });
  });

  it('does not store the spans of callers without a principal: a sampled traceparent does not let them fill the store', async () => {
    const callers = [callerSpan(), callerSpan()];
    expect((await cp.client.withToken(undefined).call('GET', nsPath('ratelimitpolicies', 'missing'), undefined, undefined, { traceparent: callers[0].traceparent })).status).toBe(401);
    expect((await cp.client.withToken('not-a-token').call('GET', nsPath('ratelimitpolicies'), undefined, undefined, { traceparent: callers[1].traceparent })).status).toBe(401);
    await expectNotStored(cp, callers.map((caller) => caller.traceId));
  });

  it('does not trace the agent protocol: registration and heartbeats are machine traffic at heartbeat rate', async () => {
    const [registering, heartbeat] = [callerSpan(), callerSpan()];
    const registered = await cp.client.withToken(BOOTSTRAP).call('POST', '/agent/v1/register', { role: 'gateway', name: 'traced-gw', zone: 'zone-a', pool: 'edge', address: '127.0.0.1:1', version: 'test' }, 'application/json', { traceparent: registering.traceparent });
    expect(registered.status).toBe(201);
    const node = cp.client.withToken(registered.body.credential as string);
    expect((await node.call('POST', `/agent/v1/nodes/${registered.body.id}/heartbeat`, {}, 'application/json', { traceparent: heartbeat.traceparent })).status).toBe(200);
    await expectNotStored(cp, [registering.traceId, heartbeat.traceId]);
    expect((await node.call('DELETE', `/agent/v1/nodes/${registered.body.id}`)).status).toBeLessThan(300);
  });

  it('does not trace watches, which are held as long as the client likes', async () => {
    const watcher = callerSpan();
    const agent = new Agent({ connect: { ca: cp.running.caPem } });
    const leave = new AbortController();
    try {
      const watch = await request(`${cp.running.apiUrl}${nsPath('ratelimitpolicies')}?watch=true`, {
        headers: { authorization: `Bearer ${cp.adminToken}`, traceparent: watcher.traceparent },
        dispatcher: agent,
        signal: leave.signal,
      });
      expect(watch.statusCode).toBe(200);
      leave.abort();
      await watch.body.text().catch(() => undefined);
      // Give the control plane the moment it takes to see the client leave (when a span would end).
      await new Promise((resolve) => setTimeout(resolve, 200));
      await expectNotStored(cp, [watcher.traceId]);
    } finally {
      await agent.close();
    }
  });
});

describe('the control plane\'s own spans at PORTOLAN_TRACE_SAMPLING=0', () => {
  let cp: InProcessControlPlane;
  beforeAll(async () => {
    // Not slow either, however long a request takes on a loaded machine: only the sampled flag keeps a trace here.
    cp = await startInProcess({ PORTOLAN_TRACE_SAMPLING: '0', PORTOLAN_TRACE_SLOW_THRESHOLD: '1h' });
  });
  afterAll(async () => {
    await cp?.stop();
  });

  it('stores neither an unsampled 2xx request nor ops-port requests, but honours a sampled caller', async () => {
    expect((await cp.client.call('POST', nsPath('ratelimitpolicies'), policy('unsampled'))).status).toBe(201);
    const unsampled = logLine(cp, (line) => line.msg === 'resource written' && line.name === 'unsampled').traceId as string;
    const probe = callerSpan();
    expect((await fetch(`${cp.running.opsUrl}/healthz`, { headers: { traceparent: probe.traceparent } })).status).toBe(200);

    // Spans are exported in the order their traces are decided: once this later one is stored, the others would be too.
    const sampledCaller = callerSpan();
    expect((await cp.client.call('GET', nsPath('ratelimitpolicies', 'unsampled'), undefined, undefined, { traceparent: sampledCaller.traceparent })).status).toBe(200);
    await traceOnceStored(cp.client, sampledCaller.traceId);

    expect((await cp.client.call('GET', `/observability/v1/traces/${unsampled}`)).status).toBe(404);
    expect((await cp.client.call('GET', `/observability/v1/traces/${probe.traceId}`)).status).toBe(404);
  });
});

describe('the control plane\'s own spans with OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', () => {
  let collector: InProcessControlPlane;
  let cp: InProcessControlPlane;
  beforeAll(async () => {
    // Another control plane's OTLP receiver stands in for Jaeger's.
    collector = await startInProcess();
    cp = await startInProcess({
      PORTOLAN_TRACE_SAMPLING: '1',
      PORTOLAN_TRACE_BACKEND: 'jaeger',
      PORTOLAN_JAEGER_QUERY_URL: 'http://127.0.0.1:9/',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${collector.running.opsUrl}/v1/traces`,
    });
  });
  afterAll(async () => {
    await cp?.stop();
    await collector?.stop();
  });

  it('exports them over OTLP/HTTP, as for Jaeger', async () => {
    const caller = callerSpan();
    expect((await cp.client.call('GET', '/version', undefined, undefined, { traceparent: caller.traceparent })).status).toBe(200);
    const trace = await traceOnceStored(collector.client, caller.traceId);
    expect(trace.spans).toEqual([
      expect.objectContaining({ parentSpanId: caller.spanId, service: 'portolan-control-plane', resource: expect.objectContaining({ 'service.instance.id': `${hostname()}:${process.pid}` }) }),
    ]);
  });
});
