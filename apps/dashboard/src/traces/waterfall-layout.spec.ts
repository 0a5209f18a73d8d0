import { describe, expect, it } from 'vitest';
import type { TraceSpan } from '@portolan/api';
import { barGeometry, coveredMicros, criticalPath, layoutWaterfall, timeTicks } from './waterfall-layout';

const BASE = 1_777_636_800_000_000;

/** A span: id, parent (or undefined), start and duration in µs from BASE, error or not. */
function span(spanId: string, parentSpanId: string | undefined, start: number, duration: number, error = false): TraceSpan {
  return {
    traceId: '0'.repeat(32),
    spanId,
    ...(parentSpanId === undefined ? {} : { parentSpanId }),
    name: `op ${spanId}`,
    kind: 'internal',
    service: 'svc',
    startTime: new Date((BASE + start) / 1000).toISOString(),
    startTimeUnixMicros: BASE + start,
    durationMicros: duration,
    status: { code: error ? 'error' : 'unset' },
    attributes: {},
    resource: { 'service.name': 'svc' },
    events: [],
  };
}

const shape = (spans: TraceSpan[]) => layoutWaterfall(spans).rows.map((row) => `${'  '.repeat(row.depth)}${row.span.spanId}${row.orphan ? ' (orphan)' : ''}`);

describe('layoutWaterfall: order and depth', () => {
  it.each([
    { name: 'no spans', spans: [], expected: [] },
    { name: 'a single root', spans: [span('a', undefined, 0, 10)], expected: ['a'] },
    {
      name: 'children under their parent, sorted by start whatever the input order',
      spans: [span('c2', 'a', 50, 10), span('a', undefined, 0, 100), span('c1', 'a', 10, 10), span('g', 'c1', 12, 5)],
      expected: ['a', '  c1', '    g', '  c2'],
    },
    {
      name: 'siblings starting together: by span id',
      spans: [span('a', undefined, 0, 100), span('y', 'a', 10, 10), span('x', 'a', 10, 10)],
      expected: ['a', '  x', '  y'],
    },
    {
      name: 'a span whose parent is missing becomes a root (orphan), in start order with the others',
      spans: [span('a', undefined, 0, 100), span('b', 'a', 5, 10), span('o', 'missing', 20, 10), span('oc', 'o', 22, 2)],
      expected: ['a', '  b', 'o (orphan)', '  oc'],
    },
    {
      name: 'no root arrived yet: every orphan a root',
      spans: [span('x', 'gone', 10, 5), span('w', 'gone', 0, 5)],
      expected: ['w (orphan)', 'x (orphan)'],
    },
    {
      name: 'a parent loop does not hang: the earliest span of it starts a tree',
      spans: [span('a', undefined, 0, 100), span('p', 'q', 10, 10), span('q', 'p', 20, 10)],
      expected: ['a', 'p (orphan)', '  q'],
    },
    {
      name: 'a span that is its own parent is a root',
      spans: [span('s', 's', 0, 10)],
      expected: ['s (orphan)'],
    },
    {
      name: 'a span sent twice is shown once',
      spans: [span('a', undefined, 0, 10), span('a', undefined, 0, 10)],
      expected: ['a'],
    },
  ])('$name', ({ spans, expected }) => {
    expect(shape(spans)).toEqual(expected);
  });

  it('handles deep traces without recursion', () => {
    const spans = Array.from({ length: 20_000 }, (_, i) => span(`s${i}`, i === 0 ? undefined : `s${i - 1}`, i, 20_000 - i));
    const layout = layoutWaterfall(spans);
    expect(layout.rows).toHaveLength(20_000);
    expect(layout.maxDepth).toBe(19_999);
    expect(layout.rows.every((row) => row.critical)).toBe(true);
  });
});

describe('layoutWaterfall: geometry', () => {
  const spans = [span('root', undefined, 0, 1000), span('mid', 'root', 250, 500), span('tiny', 'root', 999, 1), span('skewed', 'root', -100, 50)];
  const rows = Object.fromEntries(layoutWaterfall(spans).rows.map((row) => [row.span.spanId, row]));

  it.each([
    // The trace starts at the earliest span (the skewed child, at -100) and lasts 1100 µs.
    { id: 'root', offset: (100 / 1100) * 100, width: (1000 / 1100) * 100, startOffset: 100 },
    { id: 'mid', offset: (350 / 1100) * 100, width: (500 / 1100) * 100, startOffset: 350 },
    { id: 'skewed', offset: 0, width: (50 / 1100) * 100, startOffset: 0 },
    // 1 µs would be 0.09 %: widened to the minimum, and moved left to stay within the track.
    { id: 'tiny', offset: 100 - 0.3, width: 0.3, startOffset: 1099 },
  ])('$id', ({ id, offset, width, startOffset }) => {
    expect(rows[id].offsetPercent).toBeCloseTo(offset, 6);
    expect(rows[id].widthPercent).toBeCloseTo(width, 6);
    expect(rows[id].startOffsetMicros).toBe(startOffset);
  });

  it('reports the trace bounds', () => {
    const layout = layoutWaterfall(spans);
    expect(layout.startMicros).toBe(BASE - 100);
    expect(layout.durationMicros).toBe(1100);
    expect(layout.maxDepth).toBe(1);
  });

  it.each([
    { name: 'proportional', args: [250, 500, 1000, 0.3], expected: { offsetPercent: 25, widthPercent: 50 } },
    { name: 'minimum width', args: [0, 0, 1000, 1], expected: { offsetPercent: 0, widthPercent: 1 } },
    { name: 'kept inside the track', args: [1000, 0, 1000, 2], expected: { offsetPercent: 98, widthPercent: 2 } },
    { name: 'a trace of zero duration', args: [0, 0, 0, 0.3], expected: { offsetPercent: 0, widthPercent: 0.3 } },
    { name: 'negative offset clamped', args: [-10, 10, 100, 0.3], expected: { offsetPercent: 0, widthPercent: 10 } },
    { name: 'longer than the trace clamped', args: [0, 200, 100, 0.3], expected: { offsetPercent: 0, widthPercent: 100 } },
  ] as const)('barGeometry: $name', ({ args, expected }) => {
    expect(barGeometry(args[0], args[1], args[2], args[3])).toEqual(expected);
  });

  it.each([
    { name: 'no intervals', intervals: [], expected: 0 },
    { name: 'disjoint', intervals: [[0, 10], [20, 30]], expected: 20 },
    { name: 'overlapping', intervals: [[0, 10], [5, 15], [14, 20]], expected: 20 },
    { name: 'clipped to the span', intervals: [[-50, 10], [90, 500]], expected: 20 },
    { name: 'outside the span', intervals: [[200, 300]], expected: 0 },
  ] as const)('coveredMicros: $name', ({ intervals, expected }) => {
    expect(coveredMicros(intervals, 0, 100)).toBe(expected);
  });

  it('self time is what the children do not cover', () => {
    const layout = layoutWaterfall([span('r', undefined, 0, 100), span('a', 'r', 10, 30), span('b', 'r', 20, 30), span('c', 'r', 90, 50)]);
    expect(layout.rows.find((row) => row.span.spanId === 'r')!.selfMicros).toBe(100 - 40 - 10);
    expect(layout.rows.find((row) => row.span.spanId === 'a')!.selfMicros).toBe(30);
  });

  it.each([
    { name: 'error spans', spans: [span('r', undefined, 0, 10), span('e', 'r', 1, 2, true)], errors: ['e'] },
    { name: 'no errors', spans: [span('r', undefined, 0, 10)], errors: [] },
  ])('marks $name', ({ spans: list, errors }) => {
    expect(layoutWaterfall(list).rows.filter((row) => row.error).map((row) => row.span.spanId)).toEqual(errors);
  });

  it('knows when a span is of its parent\'s service', () => {
    const spans = [span('r', undefined, 0, 100), span('a', 'r', 1, 10), { ...span('b', 'a', 2, 5), service: 'db' }, { ...span('o', 'gone', 3, 5) }];
    expect(Object.fromEntries(layoutWaterfall(spans).rows.map((row) => [row.span.spanId, row.sameServiceAsParent]))).toEqual({ r: false, a: true, b: false, o: false });
  });

  it('ticks from 0 to the duration', () => {
    expect(timeTicks(1000, 4)).toEqual([
      { percent: 0, micros: 0 },
      { percent: 25, micros: 250 },
      { percent: 50, micros: 500 },
      { percent: 75, micros: 750 },
      { percent: 100, micros: 1000 },
    ]);
  });
});

describe('critical path', () => {
  const critical = (spans: TraceSpan[]) =>
    layoutWaterfall(spans)
      .rows.filter((row) => row.critical)
      .map((row) => row.span.spanId)
      .sort();

  it.each([
    { name: 'a lone root', spans: [span('r', undefined, 0, 10)], expected: ['r'] },
    {
      name: 'sequential children are all on it',
      spans: [span('r', undefined, 0, 100), span('a', 'r', 0, 40), span('b', 'r', 50, 40)],
      expected: ['a', 'b', 'r'],
    },
    {
      name: 'of parallel children, the one finishing last; one hidden inside it is not',
      spans: [span('r', undefined, 0, 100), span('long', 'r', 10, 80), span('short', 'r', 20, 10)],
      expected: ['long', 'r'],
    },
    {
      name: 'recursively: the last-finishing grandchild',
      spans: [span('r', undefined, 0, 100), span('a', 'r', 0, 90), span('a1', 'a', 5, 20), span('a2', 'a', 10, 70), span('b', 'r', 5, 10)],
      expected: ['a', 'a2', 'r'],
    },
    {
      name: 'a retry: the failed attempt then the successful one',
      spans: [span('r', undefined, 0, 100), span('try1', 'r', 5, 30, true), span('try2', 'r', 40, 55)],
      expected: ['r', 'try1', 'try2'],
    },
    {
      name: 'a child ending after its parent (clock skew) still counts',
      spans: [span('r', undefined, 0, 100), span('late', 'r', 50, 80)],
      expected: ['late', 'r'],
    },
    {
      name: 'orphans are not on the main root\'s path',
      spans: [span('r', undefined, 0, 100), span('a', 'r', 0, 100), span('o', 'gone', 0, 200)],
      expected: ['a', 'r'],
    },
  ])('$name', ({ spans, expected }) => {
    expect(critical(spans)).toEqual(expected);
  });

  it('criticalPath terminates on a loop', () => {
    const a = span('a', 'b', 0, 10);
    const b = span('b', 'a', 0, 10);
    expect([...criticalPath(a, new Map([['a', [b]], ['b', [a]]]))].sort()).toEqual(['a', 'b']);
  });
});
