/**
 * What the live feed has said so far, as immutable snapshots for React's useSyncExternalStore:
 * the connection's state, who is signed in, the gateways, traffic points per pool and zone (the
 * last hour), and the newest events. Bounded whatever the feed sends.
 */
import type { GatewayRow, LiveMessage, MeshEvent, TappedRequest, TrafficPoint, UserRole } from '@portolan/api';
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
  /** Newest first. */
  events: readonly MeshEvent[];
  /** Tapped requests per gateway id, newest first. */
  taps: ReadonlyMap<string, readonly TappedRequest[]>;
}

export const seriesKey = (point: Pick<TrafficPoint, 'pool' | 'zone'>) => `${point.pool}/${point.zone}`;

export function initialLiveState(): LiveState {
  return { status: 'connecting', slotMs: 5_000, gateways: null, traffic: new Map(), events: [], taps: new Map() };
}

/** Adds points to their series, in time order, without duplicates (a slot the history already had) and within the bound. */
export function mergeTraffic(traffic: ReadonlyMap<string, readonly TrafficPoint[]>, points: readonly TrafficPoint[]): ReadonlyMap<string, readonly TrafficPoint[]> {
  if (points.length === 0) return traffic;
  const next = new Map(traffic);
  for (const point of points) {
    const key = seriesKey(point);
    const series = [...(next.get(key) ?? [])];
    const index = series.findIndex((existing) => existing.time >= point.time);
    if (index === -1) series.push(point);
    else if (series[index].time === point.time) series[index] = point;
    else series.splice(index, 0, point);
    next.set(key, series.length > MAX_POINTS_PER_SERIES ? series.slice(series.length - MAX_POINTS_PER_SERIES) : series);
  }
  return next;
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
      return { ...state, traffic: mergeTraffic(state.traffic, message.points) };
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
