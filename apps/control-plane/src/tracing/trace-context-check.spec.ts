import { describe, expect, it } from 'vitest';
import { span, spanId, traceId, T0 } from './testing/spans';
import { findTraceContextGaps } from './trace-context-check';
import { assembleTrace, type Trace, type TraceSpan } from './trace-model';

const WINDOW = { startUnixMicros: T0, endUnixMicros: T0 + 3_600_000_000 };
const checkout = { 'service.name': 'checkout', 'service.namespace': 'default' };
let next = 1;

/** A gateway request to default/checkout: server span, attempt (CLIENT), and what the upstream sent. */
function gatewayTrace(upstream: 'child' | 'none', at = T0 + 1000): Trace {
  const id = traceId(next++);
  const spans: TraceSpan[] = [
    span({ traceId: id, spanId: spanId(1), service: 'portolan-gateway', kind: 'server', startTimeUnixMicros: at }),
    span({ traceId: id, spanId: spanId(2), parentSpanId: spanId(1), service: 'portolan-gateway', kind: 'client', attributes: { 'portolan.service': 'default/checkout' }, startTimeUnixMicros: at }),
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
    ['attempts outside the window do not count', () => [...times(4, () => gatewayTrace('none')), gatewayTrace('none', T0 - 1)], []],
  ])('%s', (_name, traces, expected) => {
    expect(findTraceContextGaps(traces(), WINDOW)).toEqual(expected.map((finding) => expect.objectContaining(finding)));
  });

  it('does not take another namespace\'s checkout for default/checkout', () => {
    const id = traceId(next++);
    const staging = assembleTrace(id, [span({ traceId: id, spanId: spanId(1), service: 'checkout', resource: { 'service.name': 'checkout', 'service.namespace': 'staging' }, startTimeUnixMicros: T0 + 5 })]);
    expect(findTraceContextGaps([...times(5, () => gatewayTrace('none')), staging], WINDOW)).toEqual([expect.objectContaining({ reason: 'NotInstrumented' })]);
  });
});
