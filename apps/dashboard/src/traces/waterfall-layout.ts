/**
 * The geometry of a trace's waterfall, as pure functions: the spans in tree order (each after its
 * parent, siblings by start time), their depth, and each bar's offset and width in percent of the
 * trace. A span whose parent is not in the trace (not arrived yet, or not sampled by that process)
 * is an orphan and becomes a root; so do spans caught in a parent loop, which well-formed traces
 * never have. Iterative throughout: a trace of thousands of nested spans must not overflow the stack.
 *
 * The critical path is Jaeger's: from the end of the root backwards, the child that finished
 * last is what the parent waited for; before that child started, the child that finished last
 * before then; and so on, recursively into each. Self time is what a span spent outside its
 * children (the union of their intervals, clipped to the span).
 */
import type { Microseconds, TraceSpan } from '@portolan/api';

export interface WaterfallRow {
  span: TraceSpan;
  /** 0 for a root. */
  depth: number;
  /** It names a parent that is not in the trace. */
  orphan: boolean;
  /** Its parent is in the trace and of the same service (the waterfall then need not repeat the name). */
  sameServiceAsParent: boolean;
  childCount: number;
  /** From the start of the trace (the earliest span). */
  startOffsetMicros: Microseconds;
  /** Where the bar starts and how wide it is, in percent of the trace's duration, within 0..100. */
  offsetPercent: number;
  widthPercent: number;
  /** Duration not covered by its children. */
  selfMicros: Microseconds;
  /** On the critical path of the trace. */
  critical: boolean;
  error: boolean;
}

export interface WaterfallLayout {
  rows: WaterfallRow[];
  startMicros: Microseconds;
  durationMicros: Microseconds;
  maxDepth: number;
}

export interface LayoutOptions {
  /** Narrowest bar, so that a 3 µs span in a 2 s trace stays visible. Default 0.3. */
  minWidthPercent?: number;
}

const end = (span: TraceSpan) => span.startTimeUnixMicros + span.durationMicros;
const byStart = (a: TraceSpan, b: TraceSpan) => a.startTimeUnixMicros - b.startTimeUnixMicros || (a.spanId < b.spanId ? -1 : a.spanId > b.spanId ? 1 : 0);

/** Offset and width in percent; the width at least `minWidth`, the bar kept within the track. */
export function barGeometry(startOffset: number, duration: number, traceDuration: number, minWidth: number): { offsetPercent: number; widthPercent: number } {
  if (traceDuration <= 0) return { offsetPercent: 0, widthPercent: Math.min(100, Math.max(minWidth, 0)) };
  const width = Math.min(100, Math.max(minWidth, (Math.max(0, duration) / traceDuration) * 100));
  const offset = Math.min(Math.max(0, (startOffset / traceDuration) * 100), 100 - width);
  return { offsetPercent: offset, widthPercent: width };
}

/** Length of the union of intervals, each clipped to [from, to]. */
export function coveredMicros(intervals: ReadonlyArray<readonly [number, number]>, from: number, to: number): number {
  const clipped = intervals
    .map(([a, b]) => [Math.max(a, from), Math.min(b, to)] as const)
    .filter(([a, b]) => b > a)
    .sort((x, y) => x[0] - y[0]);
  let total = 0;
  let [currentStart, currentEnd] = [NaN, NaN];
  for (const [a, b] of clipped) {
    if (Number.isNaN(currentStart) || a > currentEnd) {
      if (!Number.isNaN(currentStart)) total += currentEnd - currentStart;
      [currentStart, currentEnd] = [a, b];
    } else currentEnd = Math.max(currentEnd, b);
  }
  if (!Number.isNaN(currentStart)) total += currentEnd - currentStart;
  return total;
}

/** The span ids on the critical path from `root` (Jaeger's last-finishing-child walk). */
export function criticalPath(root: TraceSpan, children: ReadonlyMap<string, readonly TraceSpan[]>): Set<string> {
  const onPath = new Set<string>([root.spanId]);
  // Each frame: a span, its children by end time (latest first), the next candidate, and the time
  // before which the next child on the path must have finished.
  // A child ending after its parent (clock skew between hosts) counts as ending with it.
  const frame = (span: TraceSpan) => ({
    children: [...(children.get(span.spanId) ?? [])].sort((a, b) => end(b) - end(a)),
    next: 0,
    end: end(span),
    cursor: end(span),
  });
  const stack = [frame(root)];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    while (top.next < top.children.length && Math.min(end(top.children[top.next]), top.end) > top.cursor) top.next++;
    const child = top.children[top.next];
    if (!child || onPath.has(child.spanId)) {
      stack.pop();
      continue;
    }
    top.next++;
    top.cursor = child.startTimeUnixMicros;
    onPath.add(child.spanId);
    stack.push(frame(child));
  }
  return onPath;
}

export function layoutWaterfall(spans: readonly TraceSpan[], options: LayoutOptions = {}): WaterfallLayout {
  const minWidth = options.minWidthPercent ?? 0.3;
  if (spans.length === 0) return { rows: [], startMicros: 0, durationMicros: 0, maxDepth: 0 };

  let startMicros = Infinity;
  let endMicros = -Infinity;
  for (const span of spans) {
    startMicros = Math.min(startMicros, span.startTimeUnixMicros);
    endMicros = Math.max(endMicros, end(span));
  }
  const durationMicros = endMicros - startMicros;

  const byId = new Map<string, TraceSpan>();
  for (const span of spans) if (!byId.has(span.spanId)) byId.set(span.spanId, span);
  const unique = [...byId.values()].sort(byStart);
  const children = new Map<string, TraceSpan[]>();
  const roots: TraceSpan[] = [];
  for (const span of unique) {
    const parent = span.parentSpanId;
    if (parent !== undefined && parent !== span.spanId && byId.has(parent)) {
      const siblings = children.get(parent);
      if (siblings) siblings.push(span);
      else children.set(parent, [span]);
    } else roots.push(span);
  }

  const rows: WaterfallRow[] = [];
  const visited = new Set<string>();
  const walk = (root: TraceSpan) => {
    const stack: Array<{ span: TraceSpan; depth: number }> = [{ span: root, depth: 0 }];
    while (stack.length > 0) {
      const { span, depth } = stack.pop()!;
      if (visited.has(span.spanId)) continue;
      visited.add(span.spanId);
      const kids = children.get(span.spanId);
      const { offsetPercent, widthPercent } = barGeometry(span.startTimeUnixMicros - startMicros, span.durationMicros, durationMicros, minWidth);
      rows.push({
        span,
        depth,
        orphan: span.parentSpanId !== undefined && depth === 0,
        sameServiceAsParent: depth > 0 && byId.get(span.parentSpanId!)?.service === span.service,
        childCount: kids?.length ?? 0,
        startOffsetMicros: span.startTimeUnixMicros - startMicros,
        offsetPercent,
        widthPercent,
        selfMicros: kids ? span.durationMicros - coveredMicros(kids.map((kid) => [kid.startTimeUnixMicros, end(kid)] as const), span.startTimeUnixMicros, end(span)) : span.durationMicros,
        critical: false,
        error: span.status.code === 'error',
      });
      if (!kids) continue;
      for (let i = kids.length - 1; i >= 0; i--) stack.push({ span: kids[i], depth: depth + 1 });
    }
  };
  for (const root of roots) walk(root);
  // Spans in a parent loop were reached from no root: the earliest of them starts a tree.
  for (const span of unique) if (!visited.has(span.spanId)) walk(span);

  // The critical path of the main root: a true root (no parent) if there is one, the one ending last.
  const mainRoot = [...roots].sort((a, b) => Number(a.parentSpanId !== undefined) - Number(b.parentSpanId !== undefined) || end(b) - end(a))[0] ?? unique[0];
  const critical = criticalPath(mainRoot, children);
  let maxDepth = 0;
  for (const row of rows) {
    row.critical = critical.has(row.span.spanId);
    maxDepth = Math.max(maxDepth, row.depth);
  }
  return { rows, startMicros, durationMicros, maxDepth };
}

/** Tick positions for the time axis over the waterfall: `count` + 1 ticks from 0 to the duration. */
export function timeTicks(durationMicros: number, count = 4): Array<{ percent: number; micros: number }> {
  return Array.from({ length: count + 1 }, (_, i) => ({ percent: (i / count) * 100, micros: (durationMicros * i) / count }));
}
