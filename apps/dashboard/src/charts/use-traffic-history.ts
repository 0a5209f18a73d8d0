/**
 * Fills the live store's traffic, per pool and per service, with the last hour from
 * `GET /v1/traffic?since=…`, once per session (the feed keeps it current afterwards) and again
 * after the feed reconnects (the points of the outage arrive that way). Any page with traffic
 * charts calls it; the merge is idempotent (mergeTraffic and mergeServiceTraffic replace a slot
 * they already have), and a response is merged into a store only once.
 * A failed history is not fatal: the charts fill from the feed, and the page may say so.
 */
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef } from 'react';
import type { TrafficList } from '@portolan/api';
import { useSession } from '../app/session';
import { useLive, useLiveStore } from '../api/live-context';
import { mergeServiceTraffic, mergeTraffic, MAX_POINTS_PER_SERIES, type LiveStore } from '../api/live-store';
import { queryKeys } from '../api/query-keys';
import { toRfc3339 } from './series';

const merged = new WeakMap<LiveStore, WeakSet<object>>();

export function trafficHistoryPath(nowMs: number, slotMs: number): string {
  const since = toRfc3339(Math.floor((nowMs - MAX_POINTS_PER_SERIES * slotMs) / 1000));
  return `/v1/traffic?since=${encodeURIComponent(since)}`;
}

export function useTrafficHistory(): { isLoading: boolean; error: unknown } {
  const { api } = useSession();
  const store = useLiveStore();
  const client = useQueryClient();
  const status = useLive((state) => state.status);
  const slotMs = useLive((state) => state.slotMs);
  const query = useQuery({
    queryKey: queryKeys.traffic,
    queryFn: ({ signal }) => api.get<TrafficList>(trafficHistoryPath(Date.now(), slotMs), signal),
  });

  useEffect(() => {
    const response = query.data;
    if (!response || !Array.isArray(response.items)) return;
    let seen = merged.get(store);
    if (!seen) merged.set(store, (seen = new WeakSet()));
    if (seen.has(response)) return;
    seen.add(response);
    store.update((state) => ({
      ...state,
      traffic: mergeTraffic(state.traffic, response.items),
      // A control plane older than per-service points (another replica, mid-upgrade) answers none.
      serviceTraffic: Array.isArray(response.services) ? mergeServiceTraffic(state.serviceTraffic, response.services) : state.serviceTraffic,
    }));
  }, [query.data, store]);

  const previous = useRef(status);
  useEffect(() => {
    if (status === 'live' && previous.current === 'disconnected') void client.invalidateQueries({ queryKey: queryKeys.traffic });
    previous.current = status;
  }, [status, client]);

  return { isLoading: query.isLoading, error: query.error };
}
