/**
 * The agent protocol: what a gateway (or an upstream service instance) and the control plane say
 * to each other. docs/agent-protocol.md is the prose version of this file; both sides import these
 * types, so the wire format is declared once.
 *
 * All paths are under the control plane's HTTPS API port. Registration authenticates with a
 * bootstrap token; every later call with the per-node credential registration returned.
 */
import type { EffectiveRoute, GatewayNodeSpec, Lifecycle, ServiceInstanceSpec, TappedRequest } from '@portolan/api';

export const AGENT_API_PREFIX = '/agent/v1';
export const PATHS = {
  register: `${AGENT_API_PREFIX}/register`,
  node: (id: string) => `${AGENT_API_PREFIX}/nodes/${encodeURIComponent(id)}`,
  heartbeat: (id: string) => `${AGENT_API_PREFIX}/nodes/${encodeURIComponent(id)}/heartbeat`,
  snapshot: (id: string) => `${AGENT_API_PREFIX}/nodes/${encodeURIComponent(id)}/snapshot`,
  stream: (id: string) => `${AGENT_API_PREFIX}/nodes/${encodeURIComponent(id)}/stream`,
  acks: (id: string) => `${AGENT_API_PREFIX}/nodes/${encodeURIComponent(id)}/acks`,
  drain: (id: string) => `${AGENT_API_PREFIX}/nodes/${encodeURIComponent(id)}/drain`,
  tap: (id: string) => `${AGENT_API_PREFIX}/nodes/${encodeURIComponent(id)}/tap`,
} as const;

/** Defaults every side agrees on; the control plane may override them in RegisterResponse. */
export const PROTOCOL_DEFAULTS = {
  heartbeatIntervalMs: 2_000,
  /** A node is Offline after this many intervals without a heartbeat. */
  ttlIntervals: 3,
  /** Longest long-poll wait the control plane honours. */
  maxWaitMs: 60_000,
  /** WebSocket ping period; a peer silent for two periods is considered gone. */
  pingIntervalMs: 10_000,
  /** Reconnect backoff: 1 s doubling to 30 s, full jitter (field notes: 1, 2, 4, 8 s ... capped). */
  reconnectBaseMs: 1_000,
  reconnectMaxMs: 30_000,
} as const;

export type NodeRole = 'gateway' | 'instance';

/** POST /agent/v1/register, `Authorization: Bearer <bootstrap token>`. */
export type RegisterRequest = GatewayRegistration | InstanceRegistration;

/** A gateway registers with the spec its GatewayNode will show (zone, pool, address, version, routes). */
export type GatewayRegistration = GatewayNodeSpec & {
  role: 'gateway';
  /** Stable name; re-registering with the same name replaces the old registration (a restart). */
  name?: string;
};

/** An instance registers with its ServiceInstance spec, naming its Service with a namespace. */
export type InstanceRegistration = Omit<ServiceInstanceSpec, 'service'> & {
  role: 'instance';
  name?: string;
  /** The Service this instance backs, by namespace and name. */
  service: { namespace: string; name: string };
};

export interface RegisterResponse {
  id: string;
  name: string;
  /** Bearer credential for every later call of this node; shown only here. */
  credential: string;
  heartbeatIntervalMs: number;
  ttlMs: number;
}

/** The node lifecycle, declared once with the GatewayNode kind in libs/api. */
export type { Lifecycle } from '@portolan/api';

export interface LatencySummary {
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
}

/**
 * Upper bounds, in milliseconds, of the gateway's request latency histogram: the buckets of
 * portolan_gateway_request_duration_seconds (1 ms to 10 s, about three per decade) and of the
 * histogram in every heartbeat, so a quantile read from heartbeats and one read from Prometheus
 * are interpolated in the same buckets.
 */
export const LATENCY_BUCKETS_MS = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000] as const;

/**
 * Request latencies of one period, counted per bucket. Unlike percentiles, histograms of several
 * gateways and periods add up exactly, which is what the autoscaler needs.
 */
export interface LatencyHistogram {
  /** Requests per bucket of LATENCY_BUCKETS_MS, not cumulative, plus a last one for above 10 s. */
  counts: number[];
  /** Sum of all latencies, for the mean. */
  sumMs: number;
}

export type BreakerState = 'closed' | 'open' | 'half-open';

/** Most entries a heartbeat's `upstreamZones` may have (zones come from configuration, not from requests). */
export const MAX_UPSTREAM_ZONES = 64;

/**
 * The tries one gateway sent, in one period, to the endpoints of one zone: what the control plane
 * judges that zone's error rate and latency by, whichever gateway the traffic went through.
 */
export interface UpstreamZoneStats {
  /** The endpoints' zone; "" for endpoints without a zone. */
  zone: string;
  /** Tries sent to endpoints of the zone (every retry is a try of its own). */
  requests: number;
  /** Tries that ended in a 5xx answer or without an answer (connect failure, reset, timeout); at most `requests`. */
  serverErrors: number;
  /** Each try's latency, until its answer started or it failed, in LATENCY_BUCKETS_MS. */
  latencyHistogram: LatencyHistogram;
}

/** Most entries a heartbeat's `services` may have; a gateway that answered for more reports the busiest. */
export const MAX_SERVICES_PER_HEARTBEAT = 64;

/**
 * The answers one gateway gave, in one period, for the routes of one service: what the dashboard
 * charts per service and zone. Unlike `upstreamZones`, these are answers, not tries: a request
 * retried twice is one request here (and two `retries`).
 */
export interface ServiceTraffic {
  /** The service the matched route sends to, `namespace/name`. */
  service: string;
  /** Answers given (every status, the gateway's own refusals included). */
  requests: number;
  /** Of those, 5xx answers, the gateway's own 502, 503 and 504 included; at most `requests`. */
  serverErrors: number;
  /** Answers the gateway gave itself because a RateLimitPolicy refused the request; at most `requests`. */
  rateLimited: number;
  /** Tries after the first (as `HeartbeatStats.retries`). */
  retries: number;
  /** Requests refused fast by the service's breaker (open, half-open, or max concurrent requests); at most `requests`. */
  breakerOpen: number;
  /** Requests the gateway answered 504 itself because a deadline passed (the request's, or its last try's); at most `requests`. */
  timeouts: number;
  /** Every answer's latency, as in `HeartbeatStats.latencyHistogram`. */
  latencyHistogram: LatencyHistogram;
}

/** Counters since the previous heartbeat (deltas, not totals), so a lost heartbeat loses only its own. */
export interface HeartbeatStats {
  periodMs: number;
  requests: number;
  /** Responses by status class: 2xx, 3xx, 4xx, 5xx. */
  responses: Record<'2xx' | '3xx' | '4xx' | '5xx', number>;
  /** Failures the gateway itself produced, by cause. */
  errors: Record<'rateLimited' | 'breakerOpen' | 'timeout' | 'connectFailure' | 'noRoute' | 'noEndpoint', number>;
  retries: number;
  latency: LatencySummary | null;
  /** Every response's latency, counted in LATENCY_BUCKETS_MS (absent from gateways older than it). */
  latencyHistogram?: LatencyHistogram;
  /**
   * Tries per endpoint zone, one entry per zone that had any, at most MAX_UPSTREAM_ZONES (absent
   * from gateways older than it).
   */
  upstreamZones?: UpstreamZoneStats[];
  /**
   * Answers per service, one entry per service that had answers or retries, at most
   * MAX_SERVICES_PER_HEARTBEAT, the busiest when there were more (absent from gateways older than
   * it). Requests no route matched belong to no service.
   */
  services?: ServiceTraffic[];
  /** Breaker of each service that is not closed, and endpoints currently ejected. */
  breakers: Array<{ service: string; state: BreakerState }>;
  ejectedEndpoints: Array<{ service: string; endpoint: string }>;
}

/** POST /agent/v1/nodes/{id}/heartbeat with the node credential. */
export interface HeartbeatRequest {
  /** The node says it is draining; the control plane stops routing to it. */
  draining?: boolean;
  appliedRevision?: number;
  stats?: HeartbeatStats;
}

export interface HeartbeatResponse {
  lifecycle: Lifecycle;
  heartbeatIntervalMs: number;
  ttlMs: number;
  /** Set while an operator taps this gateway: report sampled requests to POST …/tap for this long. */
  tap?: TapRequest;
}

/**
 * A live tap (the dashboard's): for `remainingMs` from now (relative, so clocks need not agree),
 * the gateway sends a summary of at most `maxPerSecond` requests a second to `POST …/tap`, in
 * batches. Renewed by every heartbeat answer while someone watches; it ends by itself otherwise.
 */
export interface TapRequest {
  remainingMs: number;
  maxPerSecond: number;
}

/** `POST /agent/v1/nodes/{id}/tap`: requests sampled since the previous batch, at most MAX_TAP_BATCH. */
export interface TapBatch {
  requests: TappedRequest[];
}

export const MAX_TAP_BATCH = 200;

/**
 * POST /agent/v1/nodes/{id}/drain?wait=10s: answered once every other connected gateway has ACKed
 * a snapshot without this node, or when the wait ends.
 */
export interface DrainResponse {
  lifecycle: Lifecycle;
  propagated: boolean;
  /** Names of gateways that had not ACKed the change when the wait ended. */
  pending: string[];
}

/** Pool membership of the receiving gateway: what a mesh-scoped rate limit is divided by. */
export interface PoolShare {
  pool: string;
  /** Routable (Healthy or Degraded) gateways of the pool, this one included. */
  size: number;
  /** This gateway's position among them, 0-based, in name order; -1 while it is not routable. */
  index: number;
}

/**
 * The configuration of one gateway. `version` identifies it (the ETag); `revision` is the mesh
 * revision it was computed at. `routes` is the same for every gateway of the same zone and routes
 * served, so the control plane serializes it once and shares the bytes.
 */
export interface Snapshot {
  version: string;
  revision: number;
  gateway: { id: string; name: string; zone: string; pool: string };
  /** Only when some route has a mesh-scoped rate limit; null otherwise. */
  share: PoolShare | null;
  routes: EffectiveRoute[];
}

/** What an agent reports about a snapshot it received. */
export interface AckRequest {
  version: string;
  revision: number;
  /** ACK: applied in full. NACK: at least one part was rejected and the previous one kept. */
  status: 'ACK' | 'NACK';
  errors?: NackError[];
}

export interface NackError {
  /** `Kind/namespace/name` of the resource whose configuration could not be applied. */
  resource: string;
  /** Field path inside that resource, when known. */
  field?: string;
  message: string;
}

/** Messages on the WebSocket stream (`GET /agent/v1/nodes/{id}/stream`, JSON text frames). */
export type ServerMessage = { type: 'snapshot'; snapshot: Snapshot };
export type ClientMessage = { type: 'ack'; ack: AckRequest };
