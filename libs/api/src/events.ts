/**
 * What the control plane's controllers did and why (autoscaling decisions now; failovers and
 * rollbacks later): one record per action, read through `GET /v1/events` and summarized in the
 * status of the object it concerns. Shaped like a Kubernetes Event (type, reason, regarding,
 * message), plus `details` with the numbers behind the decision.
 */
export interface MeshEvent {
  /** Unique and increasing in the order events were recorded. */
  id: string;
  /** RFC 3339 time the action was decided. */
  time: string;
  /** Normal for what went as intended; Warning for what an operator should look at. */
  type: 'Normal' | 'Warning';
  /** CamelCase, e.g. ScaledUp, ScaledDown, MetricMissing, FallbackApplied, ScaleFailed. */
  reason: string;
  /** The object the event is about. */
  regarding: { kind: string; namespace: string; name: string };
  /** Which controller acted, e.g. autoscaler. */
  source: string;
  message: string;
  /** The numbers behind the decision; shape per source (docs/autoscaling.md for the autoscaler's). */
  details?: Record<string, unknown>;
}

/** `GET /v1/events`: newest first. */
export interface EventList {
  apiVersion: 'v1';
  kind: 'EventList';
  items: MeshEvent[];
}
