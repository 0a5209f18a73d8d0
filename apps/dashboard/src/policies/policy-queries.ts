/**
 * The REST reads of the policy pages, under the shared query keys so the live feed refetches them:
 * a `changed` message refetches the kind's list, the object (its rollout status too, on STATUS) and
 * its history; `gateways` refetches proxy-status; `event` refetches events.
 *
 * When the feed is down, a rollout in progress would freeze on screen; only then, and only while it
 * is in progress, the object and proxy-status are re-read every few seconds.
 */
import { useQuery } from '@tanstack/react-query';
import type { Change, ChangeList, PolicyRollout, Resource } from '@portolan/api';
import { resourcePath } from '../api/api-client';
import { useLive } from '../api/live-context';
import { queryKeys } from '../api/query-keys';
import { useEvents } from '../api/use-mesh-queries';
import { useSession } from '../app/session';


/** The rollout guard's name as actor and event source (apps/control-plane/src/rollout-guard). */
export const ROLLOUT_GUARD = 'rollout-guard';

function itemsOf<T>(data: unknown): T[] {
  if (Array.isArray(data)) return data as T[];
  const items = (data as { items?: unknown } | undefined)?.items;
  return Array.isArray(items) ? (items as T[]) : [];
}

export function usePolicyList(kind: string, enabled = true) {
  const { api } = useSession();
  const query = useQuery({
    queryKey: queryKeys.list(kind),
    queryFn: ({ signal }) => api.get<{ items: Resource[] }>(resourcePath(kind), signal),
    enabled,
  });
  return { ...query, items: query.data === undefined ? undefined : itemsOf<Resource>(query.data) };
}

export function useLiveFeedUp(): boolean {
  return useLive((state) => state.status === 'live');
}

/** The policy with its status; the live feed's `changed` (writes and rollout moves) refetches it: nothing polls. */
export function usePolicy(kind: string, namespace: string | undefined, name: string | undefined) {
  const { api } = useSession();
  return useQuery({
    queryKey: queryKeys.object(kind, namespace ?? '', name ?? ''),
    queryFn: ({ signal }) => api.get<Resource>(resourcePath(kind, namespace, name), signal),
    enabled: namespace !== undefined && name !== undefined,
    retry: (failures, error) => (error as { code?: number }).code !== 404 && failures < 1,
  });
}

export function usePolicyHistory(kind: string, namespace: string | undefined, name: string | undefined) {
  const { api } = useSession();
  const query = useQuery({
    queryKey: queryKeys.history(kind, namespace ?? '', name ?? ''),
    queryFn: ({ signal }) => api.get<ChangeList>(`${resourcePath(kind, namespace, name)}/history`, signal),
    enabled: namespace !== undefined && name !== undefined,
  });
  return { ...query, items: query.data === undefined ? undefined : itemsOf<Change>(query.data) };
}

/**
 * Every gateway running the policy with what it answered. Keyed by the object's resourceVersion
 * too, so a write shows the new version's rollout, and refetched by the feed's STATUS changes.
 */
export function usePolicyRollout(kind: string, namespace: string, name: string, resourceVersion: string | undefined) {
  const { api } = useSession();
  return useQuery({
    queryKey: [...queryKeys.rollout(kind, namespace, name), resourceVersion ?? ''],
    queryFn: ({ signal }) => api.get<PolicyRollout>(`${resourcePath(kind, namespace, name)}/rollout`, signal),
  });
}

/** The rollout guard's events about one policy (`GET /v1/events?kind=&namespace=&name=&source=`), newest first, with those the feed brought since. */
export function usePolicyEvents(kind: string, namespace: string | undefined, name: string | undefined) {
  return useEvents({ kind, namespace: namespace ?? '', name: name ?? '', source: ROLLOUT_GUARD }, 20);
}
