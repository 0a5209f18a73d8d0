import { ROOT_CONTEXT, SpanStatusCode, TraceFlags, trace, type Context, type Tracer } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { KeepingSpanProcessor } from './keeping-span-processor.js';
import { recordEverySpanSampler } from './record-every-span-sampler.js';

const SLOW_MS = 1_000;

/** InMemorySpanExporter forgets its spans on shutdown; the shutdown test needs them after. */
class RecordingExporter extends InMemorySpanExporter {
  override shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
const T0 = 1_700_000_000_000;

function setup(ratio: number, maxPendingSpans = 100) {
  const exported = new RecordingExporter();
  const keeping = new KeepingSpanProcessor(new SimpleSpanProcessor(exported), { slowThresholdMs: SLOW_MS, maxPendingSpans });
  const provider = new BasicTracerProvider({ sampler: recordEverySpanSampler(ratio), spanProcessors: [keeping] });
  const names = () => exported.getFinishedSpans().map((span) => span.name).sort();
  return { tracer: provider.getTracer('test'), keeping, names, exported };
}

/** A root and one child, the child ending first; times are explicit, so durations are exact. */
function request(tracer: Tracer, options: { rootMs?: number; childError?: boolean; parent?: Context; prefix?: string } = {}) {
  const prefix = options.prefix ?? '';
  const root = tracer.startSpan(`${prefix}root`, { startTime: T0 }, options.parent ?? ROOT_CONTEXT);
  const child = tracer.startSpan(`${prefix}child`, { startTime: T0 + 1 }, trace.setSpan(ROOT_CONTEXT, root));
  if (options.childError) child.setStatus({ code: SpanStatusCode.ERROR, message: 'upstream answered 503' });
  child.end(T0 + 2);
  root.end(T0 + (options.rootMs ?? 5));
  return root;
}

const remoteParent = (sampled: boolean) =>
  trace.setSpanContext(ROOT_CONTEXT, { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: sampled ? TraceFlags.SAMPLED : TraceFlags.NONE, isRemote: true });

describe('KeepingSpanProcessor', () => {
  it.each([
    ['drops an unsampled, healthy, fast trace', 0, {}, []],
    ['keeps every span of an unsampled trace in which a span failed', 0, { childError: true }, ['child', 'root']],
    ['keeps an unsampled trace whose root lasted the slow threshold', 0, { rootMs: SLOW_MS }, ['child', 'root']],
    ['keeps a sampled trace', 1, {}, ['child', 'root']],
    ["honours an incoming parent's unsampled flag over the ratio", 1, { parent: remoteParent(false) }, []],
    ["honours an incoming parent's sampled flag over the ratio", 0, { parent: remoteParent(true) }, ['child', 'root']],
    ['keeps a failed trace under an unsampled incoming parent', 1, { parent: remoteParent(false), childError: true }, ['child', 'root']],
  ])('%s', (_name, ratio, options, expected) => {
    const { tracer, names } = setup(ratio);
    request(tracer, options);
    expect(names()).toEqual(expected);
  });

  it('exports spans kept by the tail decision flagged sampled, with their own ids and parents', () => {
    const { tracer, exported } = setup(0);
    const root = request(tracer, { childError: true });
    const [child, rootSpan] = exported.getFinishedSpans();
    expect(child.spanContext().traceFlags & TraceFlags.SAMPLED).toBe(TraceFlags.SAMPLED);
    expect(child.parentSpanContext?.spanId).toBe(root.spanContext().spanId);
    expect(rootSpan.spanContext().spanId).toBe(root.spanContext().spanId);
    // The live span keeps its head decision; only the export is flagged.
    expect(root.spanContext().traceFlags & TraceFlags.SAMPLED).toBe(0);
  });

  it('holds the spans of a trace until its local root ends', () => {
    const { tracer, names } = setup(1);
    const root = tracer.startSpan('root', { startTime: T0 });
    tracer.startSpan('child', { startTime: T0 + 1 }, trace.setSpan(ROOT_CONTEXT, root)).end(T0 + 2);
    expect(names()).toEqual([]);
    root.end(T0 + 3);
    expect(names()).toEqual(['child', 'root']);
  });

  it('bounds the buffer: the oldest undecided trace is decided early and its dropped spans counted', () => {
    const { tracer, keeping, names } = setup(0, 2);
    const stuck = tracer.startSpan('stuck-root', { startTime: T0 });
    const parent = trace.setSpan(ROOT_CONTEXT, stuck);
    tracer.startSpan('stuck-child-1', { startTime: T0 }, parent).end(T0 + 1);
    tracer.startSpan('stuck-child-2', { startTime: T0 }, parent).end(T0 + 1);
    request(tracer, { prefix: 'next-', childError: true });
    expect(keeping.droppedSpans).toBe(2);
    expect(names()).toEqual(['next-child', 'next-root']);
    // Its root, ending late and slow, is decided on its own.
    stuck.end(T0 + SLOW_MS);
    expect(names()).toEqual(['next-child', 'next-root', 'stuck-root']);
  });

  it('decides a child that outlives its root on its own', () => {
    const { tracer, names } = setup(0);
    const root = tracer.startSpan('root', { startTime: T0 });
    const child = tracer.startSpan('child', { startTime: T0 }, trace.setSpan(ROOT_CONTEXT, root));
    root.end(T0 + 1);
    child.setStatus({ code: SpanStatusCode.ERROR });
    child.end(T0 + 2);
    expect(names()).toEqual(['child']);
  });

  it('exports the failed and dropped the healthy pending traces on shutdown', async () => {
    const { tracer, keeping, names } = setup(0);
    const healthy = tracer.startSpan('healthy-root', { startTime: T0 });
    tracer.startSpan('healthy-child', { startTime: T0 }, trace.setSpan(ROOT_CONTEXT, healthy)).end(T0 + 1);
    const failed = tracer.startSpan('failed-root', { startTime: T0 });
    const failedChild = tracer.startSpan('failed-child', { startTime: T0 }, trace.setSpan(ROOT_CONTEXT, failed));
    failedChild.setStatus({ code: SpanStatusCode.ERROR });
    failedChild.end(T0 + 1);
    await keeping.shutdown();
    expect(names()).toEqual(['failed-child']);
  });
});
