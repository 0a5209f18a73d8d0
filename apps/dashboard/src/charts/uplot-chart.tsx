/**
 * A thin React wrapper around uPlot: the chart is created on mount (and again when `options`
 * changes: memoize them), fed with `setData` when the data changes, sized to its container and
 * destroyed on unmount. Nulls are gaps (uPlot's default: `spanGaps` off). A click on the plot
 * calls `onPointClick(time, seriesLabel)` for the point under the cursor: the line nearest the
 * cursor vertically at the hovered time.
 *
 * uPlot is loaded on first use: it calls `matchMedia` as soon as it is imported, which jsdom has
 * not, so component tests of pages with charts render the host element (with its label) and draw
 * nothing; in the browser it is a chunk of its own, loaded by the first page with a chart.
 */
import { useEffect, useRef } from 'react';
import type uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface UPlotChartProps {
  /** Without width and height (the container gives the width). A new object re-creates the chart. */
  options: Omit<uPlot.Options, 'width' | 'height'>;
  data: uPlot.AlignedData;
  height?: number;
  /** What the chart shows, for screen readers (the canvas says nothing). */
  label: string;
  onPointClick?: (time: number, seriesLabel: string) => void;
}

/** The candidate nearest to the cursor's y (CSS pixels in the plotting area); candidates without a position are skipped. */
export function nearestSeries(candidates: ReadonlyArray<{ index: number; y: number | null }>, top: number): number | undefined {
  let best: number | undefined;
  let distance = Infinity;
  for (const { index, y } of candidates) {
    if (y === null || Number.isNaN(y) || Math.abs(y - top) >= distance) continue;
    [best, distance] = [index, Math.abs(y - top)];
  }
  return best;
}

function clickedPoint(chart: uPlot): { time: number; label: string } | undefined {
  const { idx, top } = chart.cursor;
  if (idx === null || idx === undefined || top === undefined || top < 0) return undefined;
  const candidates = chart.series.map((series, index) => {
    const value = chart.data[index]?.[idx];
    return { index, y: index === 0 || !series.show || value === null || value === undefined ? null : chart.valToPos(value, series.scale ?? 'y') };
  });
  const nearest = nearestSeries(candidates, top);
  return nearest === undefined ? undefined : { time: chart.data[0][idx], label: String(chart.series[nearest].label ?? '') };
}

export function UPlotChart({ options, data, height = 200, label, onPointClick }: UPlotChartProps) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const latest = useRef({ data, onPointClick });
  useEffect(() => {
    latest.current = { data, onPointClick };
  });

  useEffect(() => {
    const element = host.current;
    if (!element || typeof window.matchMedia !== 'function') return;
    let cleanup = () => {};
    let cancelled = false;
    void import('uplot').then(({ default: UPlot }) => {
      if (cancelled) return;
      const chart = new UPlot({ ...options, width: element.clientWidth || 400, height }, latest.current.data, element);
      const click = () => {
        const point = clickedPoint(chart);
        if (point) latest.current.onPointClick?.(point.time, point.label);
      };
      chart.over.addEventListener('click', click);
      const observer = typeof ResizeObserver === 'undefined' ? undefined : new ResizeObserver(() => element.clientWidth > 0 && chart.setSize({ width: element.clientWidth, height }));
      observer?.observe(element);
      plot.current = chart;
      cleanup = () => {
        observer?.disconnect();
        chart.over.removeEventListener('click', click);
        chart.destroy();
        plot.current = null;
      };
    });
    return () => {
      cancelled = true;
      cleanup();
    };
  }, [options, height]);

  useEffect(() => plot.current?.setData(data), [data]);

  return <div ref={host} className={`uplot-host${onPointClick ? ' clickable' : ''}`} role="img" aria-label={label} style={{ minHeight: height }} />;
}
