/**
 * Tail decision per process: buffers the spans of each trace until its local root span ends (a
 * span without a parent, or whose parent came from another process), then hands the whole local
 * trace to the next processor (a batching exporter) when `keepReason` keeps it: sampled by the
 * head decision, or any of its spans ERROR, or its local root at least `slowThresholdMs` long.
 * See keep-decision.ts for what another process sees of this decision.
 *
 * The buffer is bounded by `maxPendingSpans`: when full, the oldest pending trace is decided at
 * once on what is known so far (sampled or erred: exported; else dropped, counted in
 * `droppedSpans`). A span ending after its trace was decided (a child outliving its root, or a
 * trace evicted early) is decided on its own, by the same rule.
 */
import { SpanStatusCode, TraceFlags, type Context } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { keepReason, type LocalTraceOutcome } from './keep-decision.js';

export interface KeepingSpanProcessorOptions {
  slowThresholdMs: number;
  /** Spans held while their trace is undecided; beyond it the oldest trace is decided early. */
  maxPendingSpans: number;
}

interface PendingTrace {
  spans: ReadableSpan[];
  openLocalRoots: number;
  hasError: boolean;
  longestRootMs: number | undefined;
}

const isLocalRoot = (span: { parentSpanContext?: { isRemote?: boolean } }) => span.parentSpanContext === undefined || span.parentSpanContext.isRemote === true;
const isSampled = (span: ReadableSpan) => (span.spanContext().traceFlags & TraceFlags.SAMPLED) !== 0;
const durationMs = (span: ReadableSpan) => span.duration[0] * 1_000 + span.duration[1] / 1_000_000;

/**
 * The batching processor exports only spans flagged sampled; a trace kept for an error or for
 * being slow was sampled by this decision, so its spans are handed on flagged sampled.
 */
function flaggedSampled(span: ReadableSpan): ReadableSpan {
  const context = { ...span.spanContext(), traceFlags: span.spanContext().traceFlags | TraceFlags.SAMPLED };
  return Object.create(span, { spanContext: { value: () => context } }) as ReadableSpan;
}

export class KeepingSpanProcessor implements SpanProcessor {
  private readonly pending = new Map<string, PendingTrace>();
  private pendingSpans = 0;
  private dropped = 0;

  constructor(
    private readonly next: SpanProcessor,
    private readonly options: KeepingSpanProcessorOptions,
  ) {}

  /** Spans dropped undecided because the buffer was full (not those the sampling decision dropped). */
  get droppedSpans(): number {
    return this.dropped;
  }

  onStart(span: Span, _parentContext: Context): void {
    if (!isLocalRoot(span)) return;
    const traceId = span.spanContext().traceId;
    let trace = this.pending.get(traceId);
    if (!trace) {
      if (this.pending.size >= this.options.maxPendingSpans) this.evictOldest();
      trace = { spans: [], openLocalRoots: 0, hasError: false, longestRootMs: undefined };
      this.pending.set(traceId, trace);
    }
    trace.openLocalRoots++;
  }

  onEnd(span: ReadableSpan): void {
    const root = isLocalRoot(span);
    const hasError = span.status.code === SpanStatusCode.ERROR;
    const traceId = span.spanContext().traceId;
    while (this.pendingSpans >= this.options.maxPendingSpans) this.evictOldest();
    const trace = this.pending.get(traceId);
    if (!trace) {
      this.decide([span], { sampled: isSampled(span), hasError, localRootDurationMs: root ? durationMs(span) : undefined });
      return;
    }
    trace.spans.push(span);
    this.pendingSpans++;
    trace.hasError ||= hasError;
    if (!root) return;
    trace.longestRootMs = Math.max(trace.longestRootMs ?? 0, durationMs(span));
    if (--trace.openLocalRoots > 0) return;
    this.release(traceId, trace);
    this.decide(trace.spans, { sampled: isSampled(span), hasError: trace.hasError, localRootDurationMs: trace.longestRootMs });
  }

  forceFlush(): Promise<void> {
    return this.next.forceFlush();
  }

  /** Decides every pending trace on what is known (its roots have not ended), then shuts the next processor down. */
  async shutdown(): Promise<void> {
    for (const [traceId, trace] of [...this.pending]) this.decideEarly(traceId, trace);
    await this.next.shutdown();
  }

  private evictOldest(): void {
    const oldest = this.pending.entries().next();
    if (!oldest.done) this.decideEarly(...oldest.value);
  }

  private decideEarly(traceId: string, trace: PendingTrace): void {
    this.release(traceId, trace);
    if (trace.spans.length === 0) return;
    const kept = this.decide(trace.spans, { sampled: isSampled(trace.spans[0]), hasError: trace.hasError, localRootDurationMs: undefined });
    if (!kept) this.dropped += trace.spans.length;
  }

  private release(traceId: string, trace: PendingTrace): void {
    this.pending.delete(traceId);
    this.pendingSpans -= trace.spans.length;
  }

  private decide(spans: readonly ReadableSpan[], outcome: LocalTraceOutcome): boolean {
    const reason = keepReason(outcome, this.options.slowThresholdMs);
    if (!reason) return false;
    for (const span of spans) this.next.onEnd(reason === 'sampled' ? span : flaggedSampled(span));
    return true;
  }
}
