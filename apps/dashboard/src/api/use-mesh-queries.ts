/** REST reads several pages share; the live feed invalidates their keys, so none of them polls. */
import { useQueries, useQuery } from '@tanstack/react-query';
import type { EventList, MeshEvent, SelfCheckReport, ZoneListing } from '@portolan/api';
import { useSession } from '../app/session';
import { useLive } from './live-context';
import { mergeEvents } from './live-store';
import { queryKeys } from './query-keys';

export function useZones() {
  const { api } = useSession();
  return useQuery({ queryKey: queryKeys.zones, queryFn: ({ signal }) => api.get<ZoneListing>('/v1/zones', signal) });
}

export function useSelfChecks() {
  const { api } = useSession();
  return useQuery({ queryKey: queryKeys.selfChecks, queryFn: ({ signal }) => api.get<SelfCheckReport>('/v1/self-checks', signal) });
}

/** Events matching `filter` (GET /v1/events query parameters), with those the feed brought since, newest first. */
export function useEvents(filter: Record<string, string> = {}, limit = 50): { events: readonly MeshEvent[]; isLoading: boolean; error: unknown } {
  const { api } = useSession();
  const search = new URLSearchParams({ ...filter, limit: String(limit) }).toString();
  const query = useQuery({ queryKey: queryKeys.events(search), queryFn: ({ signal }) => api.get<EventList>(`/v1/events?${search}`, signal) });
  const live = useLive((state) => state.events);
  const matching = live.filter(
    (event) =>
      (!filter.kind || event.regarding.kind === filter.kind) &&
      (!filter.namespace || event.regarding.namespace === filter.namespace) &&
      (!filter.name || event.regarding.name === filter.name) &&
      (!filter.source || event.source === filter.source) &&
      (!filter.reason || event.reason === filter.reason),
  );
  return { events: mergeEvents(query.data?.items ?? [], matching).slice(0, limit), isLoading: query.isLoading, error: query.error };
}

/** The newest events of each of `reasons` (one query per reason: the API filters by one), with the feed's, newest first. */
export function useEventsByReason(reasons: readonly string[], limitPerReason = 50): { events: readonly MeshEvent[]; error: unknown } {
  const { api } = useSession();
  const results = useQueries({
    queries: reasons.map((reason) => {
      const search = new URLSearchParams({ reason, limit: String(limitPerReason) }).toString();
      return { queryKey: queryKeys.events(search), queryFn: ({ signal }: { signal: AbortSignal }) => api.get<EventList>(`/v1/events?${search}`, signal) };
    }),
  });
  const live = useLive((state) => state.events);
  const byId = new Map<string, MeshEvent>();
  for (const event of [...results.flatMap((result) => result.data?.items ?? []), ...live.filter((event) => reasons.includes(event.reason))]) byId.set(event.id, event);
  const events = [...byId.values()].sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  return { events, error: results.find((result) => result.error)?.error };
}
