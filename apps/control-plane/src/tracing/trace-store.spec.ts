import { describe, expect, it } from 'vitest';
import { span, spanId, traceId, T0 } from './testing/spans';
import { assembleTrace, byNewestFirst, type TraceSpan } from './trace-model';
import { parseTraceQuery } from './trace-query';
import { estimateSpanBytes, TraceStore, type TraceStoreLimits } from './trace-store';

const LIMITS: TraceStoreLimits = { maxTraces: 3, maxBytes: 1_000_000, maxAgeMs: 60_000, slowThresholdMs: 1000 };

function storeWith(limits: Partial<TraceStoreLimits> = {}) {
  const clock = { now: 0 };
  return { store: new TraceStore({ ...LIMITS, ...limits }, () => clock.now), clock };
}

const ordinary = (n: number): TraceSpan => span({ traceId: traceId(n), spanId: spanId(n), startTimeUnixMicros: T0 + n });
const failed = (n: number): TraceSpan => span({ traceId: traceId(n), spanId: spanId(n), startTimeUnixMicros: T0 + n, status: { code: 'error', message: 'boom' } });
const slow = (n: number): TraceSpan => span({ traceId: traceId(n), spanId: spanId(n), startTimeUnixMicros: T0 + n, durationMicros: 1_000_000 });

describe('TraceStore eviction by count', () => {
  it.each([
    { name: 'drops the least recently updated ordinary trace', arrivals: [ordinary(1), ordinary(2), ordinary(3), ordinary(4)], kept: [2, 3, 4], evicted: 1 },
    { name: 'keeps an error trace and drops ordinary ones around it', arrivals: [failed(1), ordinary(2), ordinary(3), ordinary(4)], kept: [1, 3, 4], evicted: 1 },
    { name: 'keeps a slow trace (a span at the slow threshold)', arrivals: [slow(1), ordinary(2), ordinary(3), ordinary(4), ordinary(5)], kept: [1, 4, 5], evicted: 2 },
    { name: 'drops the incoming ordinary trace when only error traces are left', arrivals: [failed(1), failed(2), failed(3), ordinary(4)], kept: [1, 2, 3], evicted: 1 },
    { name: 'drops the oldest error trace when an error trace arrives and no ordinary trace is left', arrivals: [failed(1), failed(2), failed(3), failed(4)], kept: [2, 3, 4], evicted: 1 },
    {
      name: 'an update makes a trace the most recent',
      arrivals: [ordinary(1), ordinary(2), ordinary(3), span({ traceId: traceId(1), spanId: spanId(11) }), ordinary(4)],
      kept: [1, 3, 4],
      evicted: 1,
    },
    {
      name: 'a later error span protects the spans of its trace',
      arrivals: [ordinary(1), span({ traceId: traceId(1), spanId: spanId(12), status: { code: 'error' } }), ordinary(2), ordinary(3), ordinary(4)],
      kept: [1, 3, 4],
      evicted: 1,
    },
  ])('$name', ({ arrivals, kept, evicted }) => {
    const { store } = storeWith();
    let evictions = 0;
    for (const arrival of arrivals) evictions += store.add([arrival]).traces;
    expect(store.traces().map((trace) => parseInt(trace.traceId, 16)).sort()).toEqual(kept);
    expect(evictions).toBe(evicted);
  });
});

describe('TraceStore eviction by age', () => {
  it('expires every trace, error traces too, maxAge after its last span arrived', () => {
    const { store, clock } = storeWith({ maxTraces: 100 });
    store.add([failed(1), ordinary(2)]);
    clock.now = 30_000;
    store.add([span({ traceId: traceId(2), spanId: spanId(22) }), ordinary(3)]);
    clock.now = 60_000;
    expect(store.expire()).toEqual({ age: 1, traces: 0, bytes: 0 });
    expect(store.get(traceId(1))).toBeUndefined();
    clock.now = 90_000;
    expect(store.expire().age).toBe(2);
    expect(store.traceCount).toBe(0);
    expect(store.bytes).toBe(0);
  });
});

describe('TraceStore merging', () => {
  it('merges spans of one trace from several exports and processes, and replaces a span sent twice', () => {
    const { store } = storeWith();
    const root = span({ traceId: traceId(7), spanId: spanId(1), service: 'portolan-gateway', kind: 'server', name: 'ingress' });
    const attempt = span({ traceId: traceId(7), spanId: spanId(2), parentSpanId: spanId(1), service: 'portolan-gateway', kind: 'client', startTimeUnixMicros: T0 + 10 });
    const upstream = span({ traceId: traceId(7), spanId: spanId(3), parentSpanId: spanId(2), service: 'checkout', startTimeUnixMicros: T0 + 20, durationMicros: 5000 });
    store.add([upstream]);
    store.add([attempt, root]);
    const bytesBefore = store.bytes;
    store.add([upstream]);
    const trace = store.get(traceId(7))!;
    expect(store.bytes).toBe(bytesBefore);
    expect(trace).toMatchObject({ rootService: 'portolan-gateway', rootName: 'ingress', spanCount: 3, services: ['checkout', 'portolan-gateway'], durationMicros: 5020 });
    expect(trace.spans.map((s) => s.spanId)).toEqual([spanId(1), spanId(2), spanId(3)]);
  });
});

describe('TraceStore search', () => {
  it('lists the matching traces newest first by their earliest span, then by id, up to the limit', () => {
    const { store } = storeWith({ maxTraces: 100 });
    store.add([
      span({ traceId: traceId(1), spanId: spanId(1), startTimeUnixMicros: T0 + 50 }),
      span({ traceId: traceId(1), spanId: spanId(2), startTimeUnixMicros: T0 + 10 }),
      span({ traceId: traceId(2), spanId: spanId(1), startTimeUnixMicros: T0 + 30 }),
      span({ traceId: traceId(3), spanId: spanId(1), startTimeUnixMicros: T0 + 30 }),
      span({ traceId: traceId(4), spanId: spanId(1), startTimeUnixMicros: T0 + 20, service: 'inventory' }),
      span({ traceId: traceId(5), spanId: spanId(1), startTimeUnixMicros: T0 + 5 }),
    ]);
    const ids = (limit: string) => store.search(parseTraceQuery({ service: 'checkout', limit })).map((trace) => parseInt(trace.traceId, 16));
    expect(ids('10')).toEqual([2, 3, 1, 5]);
    expect(ids('2')).toEqual([2, 3]);
    expect(store.search(parseTraceQuery({ limit: '1' }))).toEqual([store.get(traceId(2))]);
  });

  it('moves a trace when its earliest span is sent again with another start', () => {
    const { store } = storeWith({ maxTraces: 100 });
    store.add([span({ traceId: traceId(1), spanId: spanId(1), startTimeUnixMicros: T0 + 10 }), span({ traceId: traceId(1), spanId: spanId(2), startTimeUnixMicros: T0 + 40 })]);
    store.add([span({ traceId: traceId(2), spanId: spanId(1), startTimeUnixMicros: T0 + 20 })]);
    store.add([span({ traceId: traceId(1), spanId: spanId(1), startTimeUnixMicros: T0 + 30 })]);
    const found = store.search(parseTraceQuery({}));
    expect(found.map((trace) => parseInt(trace.traceId, 16))).toEqual([1, 2]);
    expect(found).toEqual([...store.traces()].sort(byNewestFirst));
  });

  it('assembles a trace of 150,000 spans, more than Math.max(...spans) takes as arguments', () => {
    const template = span({ traceId: traceId(1), spanId: spanId(1), durationMicros: 10 });
    const spans = Array.from({ length: 150_000 }, (_, n) => ({ ...template, spanId: spanId(n + 1), startTimeUnixMicros: T0 + n }));
    expect(assembleTrace(traceId(1), spans)).toMatchObject({ spanCount: 150_000, durationMicros: 150_009 });
  });
});

describe('TraceStore byte bound under a flood', () => {
  it('never holds more than maxBytes and keeps every error trace sent', () => {
    const sample = estimateSpanBytes(ordinary(1));
    const maxBytes = 200 * sample;
    const { store, clock } = storeWith({ maxTraces: 1_000_000, maxBytes, maxAgeMs: 3_600_000 });
    const errorTraces: string[] = [];
    let evictedForBytes = 0;
    for (let n = 1; n <= 5000; n += 1) {
      clock.now = n;
      // Three spans per trace, in two exports; every 100th trace fails. 50 error traces of 3 spans fit in 200 spans' worth.
      const id = traceId(n);
      const error = n % 100 === 0;
      if (error) errorTraces.push(id);
      evictedForBytes += store.add([span({ traceId: id, spanId: spanId(1), attributes: { 'http.route': `/items/${n}` } })]).bytes;
      evictedForBytes += store.add([
        span({ traceId: id, spanId: spanId(2), parentSpanId: spanId(1), kind: 'client' }),
        span({ traceId: id, spanId: spanId(3), parentSpanId: spanId(2), service: 'inventory', ...(error ? { status: { code: 'error' as const } } : {}) }),
      ]).bytes;
      expect(store.bytes).toBeLessThanOrEqual(maxBytes);
    }
    expect(evictedForBytes).toBeGreaterThan(4000);
    for (const id of errorTraces) expect(store.get(id)?.spanCount, id).toBe(3);
  });
});
