/**
 * Opens the live feed for the signed-in session and keeps the query cache current: a `changed`
 * message invalidates exactly the objects written (their lists, history and rollout); a change of
 * which gateways route where refreshes the zones. Pages read the feed with `useLive(selector)`.
 */
import { useQueryClient, type QueryClient } from '@tanstack/react-query';
import { createContext, useContext, useEffect, useMemo, useState, useSyncExternalStore, type ReactNode } from 'react';
import type { LiveMessage } from '@portolan/api';
import { useSession } from '../app/session';
import { LiveConnection, liveUrl } from './live-connection';
import { applyLiveMessage, LiveStore, type LiveState } from './live-store';
import { queryKeys } from './query-keys';

interface LiveHandle {
  store: LiveStore;
  /** Undefined until the connection is made (after the first render). */
  connection?: LiveConnection;
}

const LiveContext = createContext<LiveHandle | undefined>(undefined);

/**
 * What a gateway row changes for the zone and rollout views: membership, zone, lifecycle and sync
 * state, not the traffic numbers every heartbeat moves (those are read from the feed directly).
 */
function routingFingerprint(rows: LiveState['gateways']): string {
  return (rows ?? []).map((row) => `${row.id}|${row.zone}|${row.phase}|${row.synced}|${row.appliedRevision ?? ''}|${row.nack ?? ''}`).join('\n');
}

/** Invalidates what a message makes stale; `before` is the feed's state before the message. */
export function invalidateFor(client: QueryClient, message: LiveMessage, before: LiveState): void {
  if (message.type === 'hello') {
    // A (re)connection: whatever changed while the feed was down is refetched once.
    void client.invalidateQueries();
  } else if (message.type === 'changed') {
    for (const object of message.objects) {
      void client.invalidateQueries({ queryKey: queryKeys.list(object.kind) });
      void client.invalidateQueries({ queryKey: queryKeys.object(object.kind, object.namespace, object.name) });
      void client.invalidateQueries({ queryKey: queryKeys.rollout(object.kind, object.namespace, object.name) });
      if (object.change !== 'STATUS') void client.invalidateQueries({ queryKey: queryKeys.history(object.kind, object.namespace, object.name) });
    }
    void client.invalidateQueries({ queryKey: queryKeys.zones });
    void client.invalidateQueries({ queryKey: ['effective-config'] });
  } else if (message.type === 'gateways') {
    // Sent every second while gateways heartbeat: only a change of who routes where is worth a refetch.
    if (routingFingerprint(before.gateways) !== routingFingerprint(message.items)) void client.invalidateQueries({ queryKey: queryKeys.zones });
  } else if (message.type === 'traffic') {
    // Self-checks judge statistics over a window: a slot is the finest change they can see.
    void client.invalidateQueries({ queryKey: queryKeys.selfChecks });
  }
  // `event` and `tap` messages are read from the feed's state; nothing to refetch.
}

export function LiveProvider({ children, url }: { children: ReactNode; url?: string }) {
  const { token, signOut } = useSession();
  const client = useQueryClient();
  const store = useMemo(() => new LiveStore(), [token]);
  const [connection, setConnection] = useState<LiveConnection>();
  useEffect(() => {
    const connection = new LiveConnection({
      url: url ?? liveUrl(window.location),
      token,
      onMessage: (message) => {
        const before = store.getSnapshot();
        store.update((state) => applyLiveMessage(state, message));
        invalidateFor(client, message, before);
      },
      onStatus: (status, detail) => {
        store.update((state) => ({ ...state, status, statusDetail: detail }));
        if (status === 'unauthorized') signOut('The control plane closed the live feed: the token is no longer accepted. Sign in again.');
      },
    });
    connection.start();
    setConnection(connection);
    return () => connection.close();
  }, [store, token, url, client, signOut]);
  const handle = useMemo(() => ({ store, connection }), [store, connection]);
  return <LiveContext.Provider value={handle}>{children}</LiveContext.Provider>;
}

function useLiveHandle(): LiveHandle {
  const handle = useContext(LiveContext);
  if (!handle) throw new Error('live feed hooks are only usable inside LiveProvider');
  return handle;
}

/**
 * A value from the feed's state; the component re-renders only when that value changes. The
 * selector must return something the state already holds (a field, an element), not a new object.
 */
export function useLive<T>(select: (state: LiveState) => T): T {
  const { store } = useLiveHandle();
  return useSyncExternalStore(store.subscribe, () => select(store.getSnapshot()));
}

/** For code that merges REST history into the feed's state (traffic, events). */
export function useLiveStore(): LiveStore {
  return useLiveHandle().store;
}

/** Taps a gateway while the calling component is mounted and `enabled`. */
export function useTap(gatewayId: string | undefined, enabled: boolean): void {
  const { connection } = useLiveHandle();
  useEffect(() => {
    if (!connection || !gatewayId || !enabled) return;
    connection.tap(gatewayId);
    return () => connection.untap(gatewayId);
  }, [connection, gatewayId, enabled]);
}
