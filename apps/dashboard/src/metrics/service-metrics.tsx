/**
 * One service's traffic panel: the answers the gateways gave for its routes, its zones (those of
 * the gateways that answered) combined unless one is chosen.
 */
import type { ServiceTrafficPoint } from '@portolan/api';
import { TrafficPanel } from './traffic-panel';

export interface ServiceMetricsProps {
  /** `namespace/name`. */
  service: string;
  /** The service's series, one per zone. */
  series: ReadonlyArray<readonly ServiceTrafficPoint[]>;
  /** The zone filter, if any. */
  zone?: string;
  /** The window, Unix seconds. */
  from: number;
  to: number;
  slotSeconds: number;
  nowMs: number;
}

export function ServiceMetrics({ service, series, zone, ...timeframe }: ServiceMetricsProps) {
  const zones = [...new Set(series.map((points) => points[0]?.zone).filter((name) => name !== undefined))].sort();
  return (
    <TrafficPanel
      title={service}
      id={`service-${service}`}
      testId="service-metrics"
      parts={zones.length === 1 ? `zone ${zones[0]}` : `zones ${zones.join(', ')}`}
      scopeLabel={zone ? `${service} in ${zone}` : service}
      combinedNote="Zones combined: each line is the highest of the zones' percentiles (an upper bound; percentiles cannot be averaged). Choose a zone for exact values."
      scope={{ service, zone }}
      series={series}
      {...timeframe}
    />
  );
}
