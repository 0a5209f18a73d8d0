/**
 * The embedded trace store: recent traces in memory, bounded by count, estimated bytes and age.
 * Pure logic with the clock injected; the service around it does the I/O and the metrics.
 *
 * Eviction (docs/tracing.md): traces expire maxAge after their last span arrived, whatever they
 * hold. When a count or byte bound is exceeded, ordinary traces go first, least recently updated
 * first; error traces (a span with status ERROR) and slow traces (a span lasting at least the slow
 * threshold) go only when no ordinary trace is left. Each class is a Map kept in update order
 * (delete + set on every update), so the next victim is always the first entry: O(1) per eviction.
 */
import type { ServiceOperations, Trace, TraceQuery, TraceSpan } from './trace-model';
import { assembleTrace } from './trace-model';
import { spanMatches } from './trace-query';

export interface TraceStoreLimits {
  maxTraces: number;
  maxBytes: number;
  maxAgeMs: number;
  slowThresholdMs: number;
}

export type EvictionReason = 'age' | 'traces' | 'bytes';
export type Evictions = Record<EvictionReason, number>;

interface HeldTrace {
  traceId: string;
  spans: Map<string, TraceSpan>;
  bytes: number;
  /** The earliest span start: the trace's start, which orders search results without assembling them. */
  startUnixMicros: number;
  lastReceivedMs: number;
  /** Error or slow: evicted only after every ordinary trace. */
  kept: boolean;
}

// The two overheads are calibrated against the heap V8 really uses for decoded spans
// (trace-store-memory.spec.ts measures it), so the estimate does not undercount.
/** Per-trace bookkeeping (map entries, the span map) in the estimate. */
const TRACE_OVERHEAD_BYTES = 400;
/** Per-span object, ids, times and status, before its strings and attributes. */
const SPAN_OVERHEAD_BYTES = 450;

/** Strings count twice their length (UTF-16 in V8), numbers and booleans 8, containers 16 plus their members. */
function valueBytes(value: unknown): number {
  if (typeof value === 'string') return 2 * value.length;
  if (typeof value !== 'object' || value === null) return 8;
  if (Array.isArray(value)) return 16 + value.reduce((sum: number, item) => sum + valueBytes(item), 0);
  return 16 + Object.entries(value).reduce((sum, [key, item]) => sum + 2 * key.length + valueBytes(item), 0);
}

/**
 * An estimate of what a span costs to hold, not a heap measurement. The resource is counted with
 * every span, which overestimates when spans share it: the bound errs on the safe side.
 */
export function estimateSpanBytes(span: TraceSpan): number {
  return SPAN_OVERHEAD_BYTES + valueBytes(span.name) + valueBytes(span.service) + valueBytes(span.status.message ?? '') + valueBytes(span.attributes) + valueBytes(span.resource) + valueBytes(span.events);
}

const noEvictions = (): Evictions => ({ age: 0, traces: 0, bytes: 0 });

function earliestStart(spans: Map<string, TraceSpan>): number {
  let earliest = Infinity;
  for (const span of spans.values()) earliest = Math.min(earliest, span.startTimeUnixMicros);
  return earliest;
}

export class TraceStore {
  private readonly ordinary = new Map<string, HeldTrace>();
  private readonly kept = new Map<string, HeldTrace>();
  private heldBytes = 0;

  constructor(
    private readonly limits: TraceStoreLimits,
    private readonly now: () => number,
  ) {}

  get traceCount(): number {
    return this.ordinary.size + this.kept.size;
  }

  /** Estimated bytes held; never above limits.maxBytes after add() returns. */
  get bytes(): number {
    return this.heldBytes;
  }

  /** Merges spans into their traces by trace id (a span sent again replaces itself), then enforces the bounds. */
  add(spans: TraceSpan[]): Evictions {
    const evictions = this.expire();
    const slowMicros = this.limits.slowThresholdMs * 1000;
    for (const span of spans) {
      const held = this.take(span.traceId) ?? { traceId: span.traceId, spans: new Map(), bytes: TRACE_OVERHEAD_BYTES, startUnixMicros: Infinity, lastReceivedMs: 0, kept: false };
      const previous = held.spans.get(span.spanId);
      if (previous) held.bytes -= estimateSpanBytes(previous);
      held.spans.set(span.spanId, span);
      held.bytes += estimateSpanBytes(span);
      held.startUnixMicros = previous?.startTimeUnixMicros === held.startUnixMicros ? earliestStart(held.spans) : Math.min(held.startUnixMicros, span.startTimeUnixMicros);
      held.lastReceivedMs = this.now();
      held.kept ||= span.status.code === 'error' || span.durationMicros >= slowMicros;
      this.put(held);
      while (this.traceCount > this.limits.maxTraces) this.evictOne(evictions, 'traces');
      while (this.heldBytes > this.limits.maxBytes) this.evictOne(evictions, 'bytes');
    }
    return evictions;
  }

  /** Drops every trace whose last span arrived maxAge ago or earlier. */
  expire(): Evictions {
    const evictions = noEvictions();
    const oldestKept = this.now() - this.limits.maxAgeMs;
    for (const traces of [this.ordinary, this.kept]) {
      for (const held of traces.values()) {
        if (held.lastReceivedMs > oldestKept) break;
        this.take(held.traceId);
        evictions.age += 1;
      }
    }
    return evictions;
  }

  get(traceId: string): Trace | undefined {
    const held = this.ordinary.get(traceId) ?? this.kept.get(traceId);
    return held ? assembleTrace(held.traceId, [...held.spans.values()]) : undefined;
  }

  /** Newest first (byNewestFirst's order), ordered by the held start so only the `limit` returned are assembled. */
  search(query: TraceQuery): Trace[] {
    const matches: HeldTrace[] = [];
    for (const held of this.held()) {
      for (const span of held.spans.values()) {
        if (spanMatches(span, query)) {
          matches.push(held);
          break;
        }
      }
    }
    return matches
      .sort((a, b) => b.startUnixMicros - a.startUnixMicros || a.traceId.localeCompare(b.traceId))
      .slice(0, query.limit)
      .map((held) => assembleTrace(held.traceId, [...held.spans.values()]));
  }

  services(): ServiceOperations[] {
    const operations = new Map<string, Set<string>>();
    for (const held of this.held()) {
      for (const span of held.spans.values()) {
        let names = operations.get(span.service);
        if (!names) operations.set(span.service, (names = new Set()));
        names.add(span.name);
      }
    }
    return [...operations].map(([name, names]) => ({ name, operations: [...names].sort() })).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Every trace held, assembled (for the self-check). */
  traces(): Trace[] {
    return [...this.held()].map((held) => assembleTrace(held.traceId, [...held.spans.values()]));
  }

  private *held(): Iterable<HeldTrace> {
    yield* this.ordinary.values();
    yield* this.kept.values();
  }

  private take(traceId: string): HeldTrace | undefined {
    const held = this.ordinary.get(traceId) ?? this.kept.get(traceId);
    if (!held) return undefined;
    (held.kept ? this.kept : this.ordinary).delete(traceId);
    this.heldBytes -= held.bytes;
    return held;
  }

  private put(held: HeldTrace): void {
    (held.kept ? this.kept : this.ordinary).set(held.traceId, held);
    this.heldBytes += held.bytes;
  }

  private evictOne(evictions: Evictions, reason: EvictionReason): void {
    const victim = this.ordinary.keys().next().value ?? this.kept.keys().next().value;
    if (victim === undefined) return;
    this.take(victim);
    evictions[reason] += 1;
  }
}
