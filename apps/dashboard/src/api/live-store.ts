/**
 * What the live feed has said so far, as immutable snapshots for React's useSyncExternalStore:
 * the connection's state, who is signed in, the gateways, traffic points per pool and zone and per
 * service and zone (the last hour), and the newest events. Bounded whatever the feed sends.
 */
import type { GatewayRow, LiveMessage, MeshEvent, ServiceTrafficPoint, TappedRequest, TrafficPoint, UserRole } from '@portolan/api';
import type { LiveStatus } from './live-connection';

/** An hour of 5-second slots per series, as the control plane keeps. */
export const MAX_POINTS_PER_SERIES = 720;
export const MAX_EVENTS = 200;
export const MAX_TAPPED_PER_GATEWAY = 200;

export interface LiveState {
  status: LiveStatus;
  statusDetail?: string;
  user?: { name: string; role: UserRole };
  revision?: number;
  slotMs: number;
  /** Null until the first `gateways` message: unknown, not empty. */
  gateways: GatewayRow[] | null;
  /** Points per `pool/zone`, oldest first. */
  traffic: ReadonlyMap<string, readonly TrafficPoint[]>;
  /** Points per `service/zone` (the zone of the gateways that answered), oldest first. */
  serviceTraffic: ReadonlyMap<string, readonly ServiceTrafficPoint[]>;
  /** Newest first. */
  events: readonly MeshEvent[];
  /** Tapped requests per gateway id, newest first. */
  taps: ReadonlyMap<string, readonly TappedRequest[]>;
}

export const seriesKey = (point: Pick<TrafficPoint, 'pool' | 'zone'>) => `${point.pool}/${point.zone}`;
export const serviceSeriesKey = (point: Pick<ServiceTrafficPoint, 'service' | 'zone'>) => `${point.service}/${point.zone}`;

export function initialLiveState(): LiveState {
  return { status: 'connecting', slotMs: 5_000, gateways: null, traffic: new Map(), serviceTraffic: new Map(), events: [], taps: new Map() };
}

/**
 * Adds points to their series (`keyOf`), in time order, without duplicates (a slot the history
 * already had) and within the bound. Each series touched is copied once per call, and a point is
 * placed from the end, where new slots go: an hour of history for many series merges in one pass.
 */
function mergeSeries<P extends { time: string }>(all: ReadonlyMap<string, readonly P[]>, points: readonly P[], keyOf: (point: P) => string): ReadonlyMap<string, readonly P[]> {
  if (points.length === 0) return all;
  const touched = new Map<string, P[]>();
  for (const point of points) {
    const key = keyOf(point);
    let series = touched.get(key);
    if (!series) touched.set(key, (series = [...(all.get(key) ?? [])]));
    let index = series.length;
    while (index > 0 && series[index - 1].time > point.time) index--;
    if (index > 0 && series[index - 1].time === point.time) series[index - 1] = point;
    else series.splice(index, 0, point);
  }
  const next = new Map(all);
  for (const [key, series] of touched) next.set(key, series.length > MAX_POINTS_PER_SERIES ? series.slice(series.length - MAX_POINTS_PER_SERIES) : series);
  return next;
}

/** Adds points per pool and zone (mergeSeries). */
export function mergeTraffic(traffic: ReadonlyMap<string, readonly TrafficPoint[]>, points: readonly TrafficPoint[]): ReadonlyMap<string, readonly TrafficPoint[]> {
  return mergeSeries(traffic, points, seriesKey);
}

/** Adds points per service and zone (mergeSeries). */
export function mergeServiceTraffic(traffic: ReadonlyMap<string, readonly ServiceTrafficPoint[]>, points: readonly ServiceTrafficPoint[]): ReadonlyMap<string, readonly ServiceTrafficPoint[]> {
  return mergeSeries(traffic, points, serviceSeriesKey);
}

/** Adds events newest first, skipping ones already held (the REST history and the feed overlap). */
export function mergeEvents(events: readonly MeshEvent[], incoming: readonly MeshEvent[]): readonly MeshEvent[] {
  const known = new Set(events.map((event) => event.id));
  const fresh = incoming.filter((event) => !known.has(event.id));
  if (fresh.length === 0) return events;
  return [...fresh, ...events].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)).slice(0, MAX_EVENTS);
}

export function applyLiveMessage(state: LiveState, message: LiveMessage): LiveState {
  switch (message.type) {
    case 'hello':
      return { ...state, user: { name: message.user, role: message.role }, revision: message.revision, slotMs: message.slotMs };
    case 'changed':
      return { ...state, revision: Math.max(state.revision ?? 0, message.revision) };
    case 'gateways':
      return { ...state, gateways: message.items };
    case 'traffic':
      return {
        ...state,
        traffic: mergeTraffic(state.traffic, message.points),
        // A control plane older than per-service points (another replica, mid-upgrade) sends none.
        serviceTraffic: Array.isArray(message.services) ? mergeServiceTraffic(state.serviceTraffic, message.services) : state.serviceTraffic,
      };
    case 'event':
      return { ...state, events: mergeEvents(state.events, [message.event]) };
    case 'tap': {
      const taps = new Map(state.taps);
      taps.set(message.gateway, [...[...message.requests].reverse(), ...(state.taps.get(message.gateway) ?? [])].slice(0, MAX_TAPPED_PER_GATEWAY));
      return { ...state, taps };
    }
    default:
      return state;
  }
}

export class LiveStore {
  private state = initialLiveState();
  private readonly listeners = new Set<() => void>();

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  readonly getSnapshot = (): LiveState => this.state;

  update(change: (state: LiveState) => LiveState): void {
    const next = change(this.state);
    if (next === this.state) return;
    this.state = next;
    for (const listener of this.listeners) listener();
  }
}
