/**
 * Head sampling that still records every span. The head decision is OpenTelemetry's parent-based
 * trace-id ratio: an incoming parent's sampled flag is honoured, a new trace is sampled by its
 * trace id. Spans the head decision drops are recorded anyway (RECORD, without the sampled flag),
 * so the KeepingSpanProcessor can still keep their trace when it turns out failed or slow.
 */
import type { Attributes, Context, Link, SpanKind } from '@opentelemetry/api';
import { ParentBasedSampler, SamplingDecision, TraceIdRatioBasedSampler, type Sampler, type SamplingResult } from '@opentelemetry/sdk-trace-base';

export function recordEverySpanSampler(ratio: number): Sampler {
  const head = new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
  return {
    shouldSample(context: Context, traceId: string, spanName: string, spanKind: SpanKind, attributes: Attributes, links: Link[]): SamplingResult {
      const result = head.shouldSample(context, traceId, spanName, spanKind, attributes, links);
      return result.decision === SamplingDecision.NOT_RECORD ? { ...result, decision: SamplingDecision.RECORD } : result;
    },
    toString: () => `RecordEverySpan{${head.toString()}}`,
  };
}
