import { describe, expect, it } from 'vitest';
import { span, spanId, traceId, T0 } from './testing/spans';
import { findTraceContextGaps, UPSTREAM_EXPORT_DELAY_MICROS } from './trace-context-check';
import { assembleTrace, type Trace, type TraceSpan } from './trace-model';

const WINDOW = { startUnixMicros: T0, endUnixMicros: T0 + 3_600_000_000 };
const SLOW_THRESHOLD_MS = 1000;
/** The latest start of an attempt the check counts: its upstream's span has had time to arrive. */
const LATEST_COUNTED = WINDOW.endUnixMicros - UPSTREAM_EXPORT_DELAY_MICROS;
const checkout = { 'service.name': 'checkout', 'service.namespace': 'default' };
let next = 1;

interface Request {
  at?: number;
  /** What the attempt got: an HTTP status, or none (it could not connect, or timed out). */
  answer?: number | 'none';
  /** How long the gateway's server span took, in microseconds. */
  durationMicros?: number;
}

/** A gateway request to default/checkout: server span, attempt (CLIENT), and what the upstream sent. */
function gatewayTrace(upstream: 'child' | 'none', { at = T0 + 1000, answer = 200, durationMicros = 1000 }: Request = {}): Trace {
  const id = traceId(next++);
  const failed = answer === 'none' || answer >= 500;
  const spans: TraceSpan[] = [
    span({ traceId: id, spanId: spanId(1), service: 'portolan-gateway', kind: 'server', startTimeUnixMicros: at, durationMicros, ...(failed ? { status: { code: 'error' as const } } : {}) }),
    span({
      traceId: id,
      spanId: spanId(2),
      parentSpanId: spanId(1),
      service: 'portolan-gateway',
      kind: 'client',
      attributes: { 'portolan.service': 'default/checkout', ...(answer === 'none' ? {} : { 'http.response.status_code': answer }) },
      startTimeUnixMicros: at,
    }),
  ];
  if (upstream === 'child') spans.push(span({ traceId: id, spanId: spanId(3), parentSpanId: spanId(2), service: 'checkout', resource: checkout, startTimeUnixMicros: at }));
  return assembleTrace(id, spans);
}

/** The upstream's own span in a trace it started itself (it ignored traceparent). */
function ownRootTrace(): Trace {
  const id = traceId(next++);
  return assembleTrace(id, [span({ traceId: id, spanId: spanId(1), service: 'checkout', resource: checkout, startTimeUnixMicros: T0 + 2000 })]);
}

const times = <T>(n: number, make: () => T) => Array.from({ length: n }, make);

describe('findTraceContextGaps', () => {
  it.each<[string, () => Trace[], Array<{ service: string; reason: string }>]>([
    ['attempts with children: nothing to report', () => times(5, () => gatewayTrace('child')), []],
    ['one attempt with a child clears the service', () => [...times(5, () => gatewayTrace('none')), gatewayTrace('child'), ownRootTrace()], []],
    ['no child, the service starts its own traces: DropsTraceContext', () => [...times(5, () => gatewayTrace('none')), ownRootTrace()], [{ service: 'default/checkout', reason: 'DropsTraceContext' }]],
    ['no child, no spans from the service: NotInstrumented', () => times(5, () => gatewayTrace('none')), [{ service: 'default/checkout', reason: 'NotInstrumented' }]],
    ['fewer than 5 attempts: too early to tell', () => times(4, () => gatewayTrace('none')), []],
    ['an attempt that started up to 10 s before the window counts (the window moves back by the export delay)', () => [...times(4, () => gatewayTrace('none')), gatewayTrace('none', { at: T0 - UPSTREAM_EXPORT_DELAY_MICROS })], [{ service: 'default/checkout', reason: 'NotInstrumented' }]],
    ['attempts before the moved window do not count', () => [...times(4, () => gatewayTrace('none')), gatewayTrace('none', { at: T0 - UPSTREAM_EXPORT_DELAY_MICROS - 1 })], []],
    ['an attempt 10 s before the window\'s end counts', () => [...times(4, () => gatewayTrace('none')), gatewayTrace('none', { at: LATEST_COUNTED })], [{ service: 'default/checkout', reason: 'NotInstrumented' }]],
    ['attempts of the last 10 s do not count: their child may still be on its way', () => [...times(4, () => gatewayTrace('none')), gatewayTrace('none', { at: LATEST_COUNTED + 1 })], []],
    ['attempts without an HTTP answer do not count (a 4xx is an answer)', () => [...times(4, () => gatewayTrace('none', { answer: 404 })), gatewayTrace('none', { answer: 'none' })], []],
    // Unsampled traces are kept when they failed or were slow, and then the upstream rightly drops its span.
    ['attempts in traces with an error span do not count', () => [...times(4, () => gatewayTrace('none')), gatewayTrace('none', { answer: 503 })], []],
    ['attempts in slow traces do not count', () => [...times(4, () => gatewayTrace('none')), gatewayTrace('none', { durationMicros: SLOW_THRESHOLD_MS * 1000 })], []],
    ['attempts just under the slow threshold count', () => [...times(4, () => gatewayTrace('none')), gatewayTrace('none', { durationMicros: SLOW_THRESHOLD_MS * 1000 - 1 })], [{ service: 'default/checkout', reason: 'NotInstrumented' }]],
  ])('%s', (_name, traces, expected) => {
    expect(findTraceContextGaps(traces(), WINDOW, SLOW_THRESHOLD_MS)).toEqual(expected.map((finding) => expect.objectContaining(finding)));
  });

  it('does not take another namespace\'s checkout for default/checkout', () => {
    const id = traceId(next++);
    const staging = assembleTrace(id, [span({ traceId: id, spanId: spanId(1), service: 'checkout', resource: { 'service.name': 'checkout', 'service.namespace': 'staging' }, startTimeUnixMicros: T0 + 5 })]);
    expect(findTraceContextGaps([...times(5, () => gatewayTrace('none')), staging], WINDOW, SLOW_THRESHOLD_MS)).toEqual([expect.objectContaining({ reason: 'NotInstrumented' })]);
  });
});
