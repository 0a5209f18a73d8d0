/**
 * `?watch=true` streams: one JSON event per line, kept open until the client leaves (kubectl
 * `get -w` ends when the server closes the stream). With resourceVersion 0 or none, the current
 * objects come first as ADDED; with a list's resourceVersion, only the changes after it. A policy's
 * derived status (its rollout) changes without a write; such changes arrive as MODIFIED events
 * too, so `kubectl wait --for=condition=Programmed` sees them. A resourceVersion older than the
 * compacted history, or a watch the store ends because this replica fell behind a compaction, gets
 * kube-apiserver's answer: an ERROR event with a 410 Expired Status, then the end of the stream;
 * kubectl and informers then list again.
 *
 * Bookmarks, as kube-apiserver sends them when asked (`allowWatchBookmarks=true`): a BOOKMARK
 * event carrying only the newest resourceVersion the watch has seen, about once a minute and
 * before a `timeoutSeconds` ends the stream, so a client that reconnects resumes from a recent
 * revision instead of one that may be compacted by then. With `sendInitialEvents=true` (the
 * streaming list of client-go's WatchList) the current objects come first and a BOOKMARK
 * annotated `k8s.io/initial-events-end: "true"` marks where they end.
 */
import type { Response } from 'express';
import { failureStatus, GROUP_VERSION, type Resource, type Status } from '@portolan/api';
import { StoreRevisionCompactedError, type Change, type ObjectKey, type ResourceStore, type Unsubscribe } from '../store/resource-store';
import { ApiError } from '../errors/api-error';
import type { Selector } from './selectors';

/**
 * setTimeout's longest delay (about 24.8 days). A longer one fires at once, so a client asking
 * for a watch of a year would get one that ends immediately: it gets the longest there is.
 */
const MAX_TIMER_MS = 2 ** 31 - 1;

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

/** How often an idle watch that allows bookmarks gets one (kube-apiserver: about every minute). */
export const BOOKMARK_INTERVAL_MS = 60_000;
export const INITIAL_EVENTS_END_ANNOTATION = 'k8s.io/initial-events-end';

export interface WatchRequest {
  kind: string;
  namespace?: string;
  resourceVersion?: string;
  timeoutSeconds?: number;
  allowWatchBookmarks?: boolean;
  sendInitialEvents?: boolean;
  bookmarkIntervalMs?: number;
  matches: Selector;
  decorate: (resource: Resource) => Promise<Resource>;
  /** The object as the event carries it: the resource itself, or a Table row when kubectl asked for a table. */
  render?: (resource: Resource) => unknown;
  /** Objects whose derived status changed without a write, and how to read them. */
  statusChanges?: {
    subscribe(listener: (keys: readonly ObjectKey[]) => void): () => void;
    load(key: ObjectKey): Promise<Resource | undefined>;
  };
}

/** The watch parameters of a list request, checked as kube-apiserver checks them. */
export function watchParameters(query: Record<string, string | undefined>): Pick<WatchRequest, 'resourceVersion' | 'timeoutSeconds' | 'allowWatchBookmarks' | 'sendInitialEvents'> {
  const flag = (name: string) => {
    const value = query[name];
    if (value === undefined || value === '' || value === 'false' || value === '0') return false;
    if (value === 'true' || value === '1') return true;
    throw ApiError.badRequest(`${name} must be true or false, not ${JSON.stringify(value)}`);
  };
  let timeoutSeconds: number | undefined;
  if (query.timeoutSeconds !== undefined) {
    timeoutSeconds = Number(query.timeoutSeconds);
    if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 0) throw ApiError.badRequest(`timeoutSeconds must be a non-negative integer, not ${JSON.stringify(query.timeoutSeconds)}`);
  }
  const sendInitialEvents = flag('sendInitialEvents');
  const allowWatchBookmarks = flag('allowWatchBookmarks');
  if (sendInitialEvents && (!allowWatchBookmarks || query.resourceVersionMatch !== 'NotOlderThan')) {
    // The same rule kube-apiserver enforces: without the bookmark the client cannot tell where the initial events end.
    throw ApiError.badRequest('sendInitialEvents=true needs allowWatchBookmarks=true and resourceVersionMatch=NotOlderThan');
  }
  return { resourceVersion: query.resourceVersion, timeoutSeconds: timeoutSeconds || undefined, allowWatchBookmarks, sendInitialEvents };
}

export async function streamWatch(store: Pick<ResourceStore, 'list' | 'watch'>, request: WatchRequest, response: Response): Promise<void> {
  response.status(200);
  response.setHeader('Content-Type', 'application/json');
  response.setHeader('Cache-Control', 'no-cache');
  response.flushHeaders();
  let unsubscribe: Unsubscribe | undefined;
  let unsubscribeStatus: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  let bookmarks: NodeJS.Timeout | undefined;
  let finished = false;
  const stopListening = () => {
    unsubscribe?.();
    unsubscribeStatus?.();
    unsubscribe = unsubscribeStatus = undefined;
  };
  const finish = () => {
    finished = true;
    stopListening();
    clearTimeout(timer);
    clearInterval(bookmarks);
    if (!response.writableEnded) response.end();
  };
  // At once: a client that leaves while the list or the subscription is still being awaited must leave nothing behind.
  response.on('close', finish);

  const render = request.render ?? ((resource: Resource) => resource);
  const send = (type: WatchEventType, object: unknown) => {
    if (!response.writableEnded) response.write(`${JSON.stringify({ type, object })}\n`);
  };
  const sendError = (status: Status) => send('ERROR', status);
  // A step that fails (the status could not be read) ends the watch with an ERROR, as kube-apiserver
  // ends a watch it cannot serve: the client lists again rather than silently missing events.
  const failed = (error: unknown) => {
    if (finished) return;
    sendError(failureStatus(500, 'InternalError', `the watch of ${request.kind} objects cannot go on: ${(error as Error).message}; list again to resume`));
    finish();
  };
  // Events are decorated asynchronously; one promise chain keeps them, and bookmarks, in commit order.
  let queue: Promise<unknown> = Promise.resolve();
  const enqueue = (step: () => unknown) => {
    queue = queue.then(() => (finished ? undefined : step())).catch(failed);
  };

  const fromRevision = request.resourceVersion && request.resourceVersion !== '0' ? Number(request.resourceVersion) : undefined;
  if (fromRevision !== undefined && !Number.isInteger(fromRevision)) {
    sendError(failureStatus(400, 'BadRequest', `resourceVersion "${request.resourceVersion}" is not a number`));
    finish();
    return;
  }
  // The newest revision whose events (if any) this watch has sent: what a bookmark may tell the
  // client to resume from. It moves only inside the queue, never ahead of an event still on its way.
  let sentRevision = fromRevision ?? 0;
  const bookmark = (annotations?: Record<string, string>) =>
    send('BOOKMARK', { apiVersion: GROUP_VERSION, kind: request.kind, metadata: { resourceVersion: String(sentRevision), ...(annotations ? { annotations } : {}) } });

  let start = fromRevision;
  if (start === undefined || request.sendInitialEvents) {
    try {
      const { items, revision } = await store.list({ kind: request.kind, namespace: request.namespace });
      for (const item of items.filter(request.matches)) {
        if (finished) return;
        send('ADDED', render(await request.decorate(item)));
      }
      start = revision;
      sentRevision = Math.max(sentRevision, revision);
    } catch (error) {
      failed(error);
      return;
    }
    if (request.sendInitialEvents) bookmark({ [INITIAL_EVENTS_END_ANNOTATION]: 'true' });
  }
  if (finished) return;
  const relevantKey = (key: ObjectKey) => key.kind === request.kind && (request.namespace === undefined || key.namespace === request.namespace);
  const expired = (error: StoreRevisionCompactedError) => sendError(failureStatus(410, 'Expired', error.message));
  const onChange = (change: Change) => {
    const object = (change.after ?? change.before)!;
    const sent = relevantKey(change.key) && request.matches(object);
    enqueue(async () => {
      if (sent && change.type === 'DELETED') {
        // As kube-apiserver: the deleted object carries the revision of its deletion.
        send('DELETED', render({ ...object, metadata: { ...object.metadata, resourceVersion: String(change.revision) } }));
      } else if (sent) {
        send(change.type, render(await request.decorate(object)));
      }
      sentRevision = Math.max(sentRevision, change.revision);
    });
  };
  try {
    const subscription = await store.watch(start, onChange, (error) => {
      // After the events already on their way.
      enqueue(() => expired(error));
      enqueue(finish);
    });
    if (finished) {
      subscription();
      return;
    }
    unsubscribe = subscription;
  } catch (error) {
    if (error instanceof StoreRevisionCompactedError) {
      expired(error);
      finish();
    } else {
      failed(error);
    }
    return;
  }
  const statusChanges = request.statusChanges;
  unsubscribeStatus = statusChanges?.subscribe((keys) => {
    for (const key of keys.filter(relevantKey)) {
      queue = queue
        .then(async () => {
          if (finished) return;
          const object = await statusChanges.load(key);
          if (object && request.matches(object)) send('MODIFIED', render(await request.decorate(object)));
        })
        // The store could not be read (Consul down): the next status change or write carries it.
        .catch(() => undefined);
    }
  });
  if (request.allowWatchBookmarks) {
    bookmarks = setInterval(() => enqueue(() => bookmark()), request.bookmarkIntervalMs ?? BOOKMARK_INTERVAL_MS);
    bookmarks.unref();
  }
  if (request.timeoutSeconds) {
    timer = setTimeout(() => {
      // No more changes join the queue; those already in it are sent, then the last bookmark.
      stopListening();
      if (request.allowWatchBookmarks) enqueue(() => bookmark());
      enqueue(finish);
    }, Math.min(request.timeoutSeconds * 1000, MAX_TIMER_MS));
  }
}
