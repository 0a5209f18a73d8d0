/**
 * A time chart as the pages use it: lines over Unix-second columns, values formatted by the
 * caller, optional dashed lines (targets) and vertical markers (decisions, events). Builds
 * uPlot's options once per set of lines and markers, so new data does not re-create the chart.
 */
import { useMemo } from 'react';
import type uPlot from 'uplot';
import { NO_DATA } from '../components/format';
import { markersPlugin, type ChartMarker } from './markers';
import type { Columns } from './series';
import { UPlotChart } from './uplot-chart';

export interface LineSpec {
  label: string;
  color: string;
  /** Dashed, e.g. a target. */
  dash?: number[];
  width?: number;
}

export interface TimeSeriesChartProps {
  label: string;
  lines: readonly LineSpec[];
  /** [x, one column per line]. */
  columns: Columns;
  format: (value: number) => string;
  height?: number;
  markers?: readonly ChartMarker[];
  /** Start the y axis at 0 (rates, counts, latency). Default true. */
  fromZero?: boolean;
  onPointClick?: (time: number, seriesLabel: string) => void;
}

export const AXIS_STYLE = { stroke: '#5c6675', grid: { stroke: '#eef1f5', width: 1 }, ticks: { stroke: '#d9dee5', width: 1 } } as const;

export function timeSeriesOptions(lines: readonly LineSpec[], format: (value: number) => string, fromZero: boolean, markers: readonly ChartMarker[]): Omit<uPlot.Options, 'width' | 'height'> {
  return {
    series: [
      {},
      ...lines.map((line) => ({
        label: line.label,
        stroke: line.color,
        width: line.width ?? 1.5,
        ...(line.dash ? { dash: line.dash } : {}),
        spanGaps: false,
        value: (_: uPlot, value: number | null) => (value === null || value === undefined ? NO_DATA : format(value)),
        points: { size: 4 },
      })),
    ],
    scales: {
      x: { time: true },
      y: {
        range: (_: uPlot, min: number | null, max: number | null): uPlot.Range.MinMax => {
          // No data (null) or only zeros: a 0..1 axis rather than uPlot's collapsed range.
          const top = max === null || !Number.isFinite(max) || max <= 0 ? 1 : max * 1.15;
          if (fromZero || min === null || !Number.isFinite(min)) return [0, top];
          return [min - (top - min) * 0.1, top];
        },
      },
    },
    axes: [
      { ...AXIS_STYLE, space: 80 },
      { ...AXIS_STYLE, size: 64, values: (_: uPlot, splits: number[]) => splits.map((split) => (split === 0 ? '0' : format(split))) },
    ],
    cursor: { drag: { x: false, y: false }, points: { size: 7 } },
    legend: { live: true },
    plugins: markers.length > 0 ? [markersPlugin(markers)] : [],
  };
}

export function TimeSeriesChart({ label, lines, columns, format, height = 200, markers = [], fromZero = true, onPointClick }: TimeSeriesChartProps) {
  const linesKey = JSON.stringify(lines);
  const markersKey = JSON.stringify(markers);
  // Keyed by content, not identity: callers build lines and markers on every render. `format` must be stable (module-level).
  const options = useMemo(() => timeSeriesOptions(lines, format, fromZero, markers), [linesKey, markersKey, fromZero, format]);
  return <UPlotChart options={options} data={columns} height={height} label={label} onPointClick={onPointClick} />;
}
