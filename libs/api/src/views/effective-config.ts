/** One field of a gateway's effective configuration that a change moves: a line of a blast radius or a diff. */

export interface FieldChange {
  route: string;
  path: string;
  before: unknown;
  after: unknown;
  /** Who sets the field after the change (`Default` when it falls back to the default, `-` when removed). */
  setBy: string;
}

export interface ExplainedField {
  /** `retry.backoff.baseInterval`, `backend.endpoints`, … */
  path: string;
  value: unknown;
  /** `RetryPolicy/default/checkout-retries` (with its resourceVersion), `Route/default/checkout`, or `Default`. */
  setBy: string;
}

export interface ExplainedRoute {
  route: string;
  fields: ExplainedField[];
}

/** `GET …/gatewaynodes/{name}/effective-config`: what one gateway runs, field by field, with the policy that set each field. */
export interface EffectiveConfigView {
  apiVersion: string;
  kind: 'EffectiveConfig';
  gateway: { id: string; name: string; zone: string; pool: string };
  /** The snapshot version (ETag) and the mesh revision it was built at. */
  version: string;
  revision: number;
  /** Pool membership, when a route has a mesh-scoped rate limit. */
  share: { pool: string; size: number; index: number } | null;
  routes: ExplainedRoute[];
}
