/**
 * How far a policy has reached the gateways: `status.rollout` of a policy (the counts), and
 * `GET …/<plural>/<name>/rollout` (every gateway running it, with what it answered).
 */

export type RolloutOutcome = 'acked' | 'nacked' | 'pending';

export interface ZoneRollout {
  zone: string;
  gateways: number;
  acked: number;
  nacked: number;
  pending: number;
}

export interface RolloutRejection {
  gateway: string;
  zone: string;
  version: string;
  errors: Array<{ resource: string; field?: string; message: string }>;
}

export interface RolloutSummary {
  gateways: number;
  acked: number;
  nacked: number;
  pending: number;
  zones: ZoneRollout[];
  /** At most 10, by gateway name. */
  rejections: RolloutRejection[];
}

/** One gateway whose configuration contains the policy. */
export interface GatewayRolloutEntry {
  gateway: string;
  zone: string;
  outcome: RolloutOutcome;
  /** Mesh revision of the last snapshot it ACKed. */
  appliedRevision?: number;
  /** What it rejected, when the outcome is nacked. */
  rejection?: { version: string; errors: RolloutRejection['errors'] };
}

export interface PolicyRollout {
  kind: 'PolicyRollout';
  policy: { kind: string; namespace: string; name: string };
  /** The policy's resourceVersion the outcomes are judged against. */
  revision: number;
  summary: RolloutSummary;
  /** By gateway name. */
  gateways: GatewayRolloutEntry[];
}
