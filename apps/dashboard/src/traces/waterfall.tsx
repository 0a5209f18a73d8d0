/**
 * The waterfall of one trace: a row per span in tree order, indented by depth, its bar placed by
 * start and sized by duration (waterfall-layout.ts), error spans in red. One tab stop: the list
 * takes the arrow keys, Home, End, Page Up and Page Down to move the selection. Above
 * VIRTUALIZE_ABOVE spans only the rows in view are rendered (@tanstack/react-virtual).
 */
import { useVirtualizer } from '@tanstack/react-virtual';
import { useId, useRef, type CSSProperties, type KeyboardEvent } from 'react';
import { categoryColor } from '../charts/palette';
import { formatMicros, spanBadges } from './span-decisions';
import { timeTicks, type WaterfallLayout, type WaterfallRow } from './waterfall-layout';

export const ROW_HEIGHT = 26;
export const VIRTUALIZE_ABOVE = 200;
const MAX_INDENT_LEVELS = 24;

export interface WaterfallProps {
  layout: WaterfallLayout;
  selectedId?: string;
  onSelect(spanId: string): void;
}

export function Waterfall({ layout, selectedId, onSelect }: WaterfallProps) {
  const idPrefix = useId();
  const scrollRef = useRef<HTMLDivElement>(null);
  const { rows } = layout;
  const virtualize = rows.length > VIRTUALIZE_ABOVE;
  const virtualizer = useVirtualizer({
    count: virtualize ? rows.length : 0,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 15,
    initialRect: { width: 1000, height: 600 },
  });
  const rowId = (spanId: string) => `${idPrefix}-span-${spanId}`;
  const selectedIndex = rows.findIndex((row) => row.span.spanId === selectedId);

  const move = (index: number) => {
    if (rows.length === 0) return;
    const next = Math.max(0, Math.min(rows.length - 1, index));
    onSelect(rows[next].span.spanId);
    if (virtualize) virtualizer.scrollToIndex(next, { align: 'auto' });
    else document.getElementById(rowId(rows[next].span.spanId))?.scrollIntoView?.({ block: 'nearest' });
  };

  const onKeyDown = (event: KeyboardEvent) => {
    const page = Math.max(1, Math.floor((scrollRef.current?.clientHeight ?? 600) / ROW_HEIGHT) - 1);
    const current = selectedIndex;
    const target: Record<string, number> = {
      ArrowDown: current + 1,
      ArrowUp: current === -1 ? 0 : current - 1,
      Home: 0,
      End: rows.length - 1,
      PageDown: current + page,
      PageUp: current - page,
    };
    if (!(event.key in target)) return;
    event.preventDefault();
    move(target[event.key]);
  };

  const renderRow = (row: WaterfallRow, style: CSSProperties) => (
    <SpanRow key={row.span.spanId} id={rowId(row.span.spanId)} row={row} selected={row.span.spanId === selectedId} style={style} onSelect={onSelect} />
  );

  return (
    <div className="waterfall" data-testid="waterfall">
      <div className="waterfall-header" aria-hidden="true">
        <div className="span-label-cell">Service and operation</div>
        <div className="span-track ticks">
          {timeTicks(layout.durationMicros).map((tick) => (
            <span key={tick.percent} className="tick" style={tick.percent === 100 ? { right: 0 } : { left: `${tick.percent}%` }}>
              {tick.micros === 0 ? '0' : formatMicros(tick.micros)}
            </span>
          ))}
        </div>
      </div>
      <div
        ref={scrollRef}
        className="waterfall-rows"
        role="listbox"
        aria-label={`Spans (${rows.length}); arrow keys move the selection`}
        tabIndex={0}
        aria-activedescendant={selectedId && selectedIndex !== -1 ? rowId(selectedId) : undefined}
        onKeyDown={onKeyDown}
      >
        {virtualize ? (
          <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
            {virtualizer.getVirtualItems().map((item) =>
              renderRow(rows[item.index], { position: 'absolute', top: 0, left: 0, right: 0, height: ROW_HEIGHT, transform: `translateY(${item.start}px)` }),
            )}
          </div>
        ) : (
          rows.map((row) => renderRow(row, { height: ROW_HEIGHT }))
        )}
      </div>
    </div>
  );
}

function SpanRow({ id, row, selected, style, onSelect }: { id: string; row: WaterfallRow; selected: boolean; style: CSSProperties; onSelect(spanId: string): void }) {
  const { span } = row;
  const badges = spanBadges(span);
  // The duration goes after the bar, before it when there is no room after, or inside a bar that fills the track.
  const end = row.offsetPercent + row.widthPercent;
  const labelStyle: CSSProperties =
    100 - end >= 14 ? { left: `calc(${end}% + 4px)` } : row.offsetPercent >= 14 ? { right: `calc(${100 - row.offsetPercent}% + 4px)` } : { right: `calc(${100 - end}% + 4px)` };
  const labelInside = 100 - end < 14 && row.offsetPercent < 14;
  return (
    <div
      id={id}
      role="option"
      aria-selected={selected}
      data-testid="span-row"
      className={`span-row${row.error ? ' error' : ''}${selected ? ' selected' : ''}`}
      style={style}
      onClick={() => onSelect(span.spanId)}
    >
      <div className="span-label-cell" style={{ paddingLeft: 6 + Math.min(row.depth, MAX_INDENT_LEVELS) * 14 }} title={`${span.service}: ${span.name} (depth ${row.depth})`}>
        <span className="service-swatch" style={{ background: categoryColor(span.service) }} aria-hidden="true" />
        <span className={row.sameServiceAsParent ? 'visually-hidden' : 'span-service'}>{span.service}</span>
        <span className="span-op">{span.name}</span>
        {row.error ? <span className="visually-hidden">(error)</span> : null}
        {badges.map((badge) => (
          <span key={badge} className="badge decision-badge">
            {badge}
          </span>
        ))}
        {row.orphan ? (
          <span className="badge" title="Its parent span is not in this trace (not received, or not sampled)">
            orphan
          </span>
        ) : null}
      </div>
      <div className="span-track">
        <span
          className={`span-bar${row.error ? ' error' : ''}${row.critical ? ' critical' : ''}`}
          style={{ left: `${row.offsetPercent}%`, width: `${row.widthPercent}%`, ...(row.error ? {} : { background: categoryColor(span.service) }) }}
        />
        <span className={`span-duration${labelInside ? ' inside' : ''}`} style={labelStyle}>
          {formatMicros(span.durationMicros)}
        </span>
      </div>
    </div>
  );
}
