/**
 * The dashboard's live feed: `GET /v1/live` upgraded to a WebSocket on the API's HTTPS port. One
 * connection carries everything that changes while an operator looks: what was written (so the
 * client refetches exactly those objects), the gateways with their last heartbeat's numbers,
 * traffic per pool and zone and per service and zone every slot, and the events the controllers record. The REST API fills
 * in history; the client never polls.
 *
 * Browsers cannot set an Authorization header on a WebSocket, so the token travels as a
 * subprotocol next to LIVE_PROTOCOL, as kube-apiserver accepts
 * `base64url.bearer.authorization.k8s.io.<token>`; the server answers with LIVE_PROTOCOL only.
 */
import type { MeshEvent } from '../events.js';
import type { Lifecycle } from '../kinds/registry-status.js';
import type { ObjectRef } from '../resolution/effective-config.js';

export const LIVE_PATH = '/v1/live';
export const LIVE_PROTOCOL = 'portolan.live.v1';
export const LIVE_TOKEN_PROTOCOL_PREFIX = 'base64url.bearer.portolan.dev.';
/** WebSocket close code when the token is refused after the upgrade (RFC 6455 leaves 4000-4999 to applications). */
export const LIVE_CLOSE_UNAUTHORIZED = 4401;

export const USER_ROLES = ['viewer', 'editor', 'admin'] as const;
export type UserRole = (typeof USER_ROLES)[number];

/** One gateway as the dashboard's table shows it: registration, sync state and its last heartbeat's numbers. */
export interface GatewayRow {
  /** The registration id (the GatewayNode's uid). */
  id: string;
  name: string;
  namespace: string;
  zone: string;
  pool: string;
  address: string;
  version: string;
  phase: Lifecycle;
  /** RFC 3339. */
  lastHeartbeat: string;
  appliedRevision?: number;
  /** It runs the configuration it should. */
  synced: boolean;
  /** websocket, long-poll, or none. */
  transport: string;
  /** Why it rejected its current configuration, when it did. */
  nack?: string;
  /** Null when the gateway sent no statistics yet: no data, not zero. */
  requestsPerSecond: number | null;
  /** 5xx answers in percent of answers; null without answers. */
  serverErrorPercent: number | null;
  p99Ms: number | null;
  /** Services whose breaker is not closed, and endpoints ejected, as of the last heartbeat. */
  openBreakers: number;
  ejectedEndpoints: number;
}

/** What the gateways of one pool in one zone reported during one slot. */
export interface TrafficPoint {
  /** RFC 3339 start of the slot. */
  time: string;
  pool: string;
  zone: string;
  /** Gateways that reported during the slot. */
  gateways: number;
  /** Answers over the time the slot's heartbeats covered (per gateway), so a steady rate reads steady. */
  requestsPerSecond: number;
  /** Null without answers. */
  serverErrorPercent: number | null;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  /** Counts per 5-s slot: what the slot's heartbeats counted, scaled from the time they covered to the slot's (so not always whole). */
  rateLimited: number;
  retries: number;
  breakerOpen: number;
  timeouts: number;
}

/**
 * What the gateways of one zone answered for the routes of one service during one slot: the
 * fields of a TrafficPoint, per service instead of per pool (the zone is still the gateways').
 */
export interface ServiceTrafficPoint extends Omit<TrafficPoint, 'pool'> {
  /** `namespace/name`. */
  service: string;
}

/** `GET /v1/traffic?since=`: the slots that ended since then, oldest first, per pool and zone and per service and zone. */
export interface TrafficList {
  items: TrafficPoint[];
  services: ServiceTrafficPoint[];
}

/**
 * One request a tapped gateway passed (or refused), with the decisions it made: what a live tap
 * shows. Never headers or bodies, and the path without its query string, which may carry secrets.
 */
export interface TappedRequest {
  /** RFC 3339, when the gateway finished answering. */
  time: string;
  method: string;
  /** Without the query string, at most 256 characters. */
  path: string;
  status: number;
  latencyMs: number;
  /** `namespace/name` of the Route it matched; absent when none matched. */
  route?: string;
  service?: string;
  /** Upstream tries; 0 when the gateway answered itself (rate limited, breaker open, no route). */
  tries: number;
  rateLimited: boolean;
  /** The route's breaker state as the request met it, when the route has a breaker. */
  breaker?: string;
  /** Why the gateway answered an error itself: `timeout`, `breaker open`, `no healthy endpoint`, … */
  failure?: string;
  traceId: string;
}

/** Longest tap a dashboard may ask for at once (it renews while it shows the tap) and the sampling cap. */
export const TAP_DEFAULTS = { durationMs: 30_000, maxPerSecond: 20 } as const;

/** What the dashboard sends on the live feed: start or stop tapping a gateway (by registration id). */
export type LiveClientMessage = { type: 'tap'; gateway: string } | { type: 'untap'; gateway: string };

export type LiveMessage =
  /** First message: who is connected, the mesh revision, and the slot length of `traffic`. */
  | { type: 'hello'; user: string; role: UserRole; revision: number; slotMs: number }
  /** Objects written (revision moved), or whose derived status (rollout, conditions) changed without a write. */
  | { type: 'changed'; revision: number; objects: Array<ObjectRef & { change: 'ADDED' | 'MODIFIED' | 'DELETED' | 'STATUS' }> }
  /** Every registered gateway, at most once a second and only when something changed. */
  | { type: 'gateways'; items: GatewayRow[] }
  /** The slot that just ended, per pool and zone, and per service and zone (empty while no gateway reports per service). */
  | { type: 'traffic'; points: TrafficPoint[]; services: ServiceTrafficPoint[] }
  | { type: 'event'; event: MeshEvent }
  /** Requests a gateway this client taps passed, sampled at most TAP_DEFAULTS.maxPerSecond. */
  | { type: 'tap'; gateway: string; requests: TappedRequest[] };
