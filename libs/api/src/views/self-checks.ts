/** `GET /v1/self-checks`: what would make the dashboards lie right now (docs/self-checks.md). */

export type SelfCheckName = 'GatewayMetricsStopped' | 'ZoneWithoutTrafficData' | 'UpstreamDropsTraceContext' | 'UpstreamNotInstrumented';

export interface SelfCheckFinding {
  check: SelfCheckName;
  /** The object the finding is about. */
  object: { kind: 'GatewayNode' | 'Zone' | 'Service'; namespace?: string; name: string };
  message: string;
}

export interface SelfCheckReport {
  kind: 'SelfCheckReport';
  /** RFC 3339. */
  checkedAt: string;
  windowSeconds: number;
  findings: SelfCheckFinding[];
}
