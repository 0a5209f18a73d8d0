/**
 * The byte bound is an estimate (trace-store.ts); this measures the heap the store really holds
 * after a flood of realistic spans (the gateway's and an upstream's, as the OTLP decoder makes
 * them, each span with its own resource object: the worst case) and checks it stays within the bound.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { span, spanId, traceId, T0 } from './testing/spans';
import type { TraceSpan } from './trace-model';
import { TraceStore } from './trace-store';

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

function heapUsed(): number {
  collectGarbage();
  collectGarbage();
  return process.memoryUsage().heapUsed;
}

const gatewayResource = () => ({ 'service.name': 'portolan-gateway', 'service.instance.id': 'edge-zone-a-1', 'portolan.zone': 'zone-a', 'portolan.pool': 'edge' });

/** One request as the mesh exports it: the gateway's server and attempt spans, the upstream's span. */
function request(n: number, failed: boolean): TraceSpan[] {
  const id = traceId(n);
  return [
    span({
      traceId: id,
      spanId: spanId(1),
      service: 'portolan-gateway',
      resource: gatewayResource(),
      name: 'GET default/checkout',
      startTimeUnixMicros: T0 + n,
      attributes: { 'http.request.method': 'GET', 'url.path': `/checkout/${n}`, 'portolan.route': 'default/checkout', 'portolan.service': 'default/checkout', 'http.response.status_code': failed ? 503 : 200, 'portolan.retry.attempts': 1 },
      ...(failed ? { status: { code: 'error' as const, message: 'upstream answered 503' } } : {}),
    }),
    span({
      traceId: id,
      spanId: spanId(2),
      parentSpanId: spanId(1),
      kind: 'client',
      service: 'portolan-gateway',
      resource: gatewayResource(),
      name: 'upstream default/checkout',
      startTimeUnixMicros: T0 + n,
      attributes: { 'portolan.attempt': 1, 'portolan.retry.backoff_ms': 0, 'server.address': '127.0.0.1', 'server.port': 40001, 'http.response.status_code': failed ? 503 : 200 },
    }),
    span({ traceId: id, spanId: spanId(3), parentSpanId: spanId(2), service: 'checkout', resource: { 'service.name': 'checkout', 'service.namespace': 'default' }, name: 'GET', startTimeUnixMicros: T0 + n }),
  ];
}

describe('TraceStore memory under a flood', () => {
  it('holds no more heap than its byte bound after 120,000 spans, and keeps the error traces', () => {
    const maxBytes = 8 * 1024 * 1024;
    const before = heapUsed();
    const store = new TraceStore({ maxTraces: 1_000_000, maxBytes, maxAgeMs: 3_600_000, slowThresholdMs: 1000 }, () => 0);
    const failed: string[] = [];
    for (let n = 1; n <= 40_000; n++) {
      const fails = n % 1000 === 0;
      if (fails) failed.push(traceId(n));
      store.add(request(n, fails));
    }
    const held = heapUsed() - before;
    expect(store.bytes).toBeLessThanOrEqual(maxBytes);
    expect(store.traceCount).toBeLessThan(40_000 / 5);
    expect(held).toBeLessThanOrEqual(maxBytes);
    for (const id of failed) expect(store.get(id)?.spanCount, id).toBe(3);
  });
});
