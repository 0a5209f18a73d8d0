/** One zone's traffic panel: its pools combined unless one is chosen. */
import type { TrafficPoint } from '@portolan/api';
import { TrafficPanel } from './traffic-panel';

export interface ZoneMetricsProps {
  zone: string;
  /** The zone's series, one per pool. */
  series: ReadonlyArray<readonly TrafficPoint[]>;
  /** The pool filter, if any. */
  pool?: string;
  /** The window, Unix seconds. */
  from: number;
  to: number;
  slotSeconds: number;
  nowMs: number;
}

export function ZoneMetrics({ zone, series, pool, ...timeframe }: ZoneMetricsProps) {
  const pools = [...new Set(series.map((points) => points[0]?.pool).filter(Boolean))].sort();
  return (
    <TrafficPanel
      title={zone}
      id={`zone-${zone}`}
      testId="zone-metrics"
      parts={pools.length === 1 ? `pool ${pools[0]}` : `pools ${pools.join(', ')}`}
      scopeLabel={pool ? `${zone}, pool ${pool}` : zone}
      combinedNote="Pools combined: each line is the highest of the pools' percentiles (an upper bound; percentiles cannot be averaged). Choose a pool for exact values."
      scope={{ zone, pool }}
      series={series}
      {...timeframe}
    />
  );
}
