/**
 * `?watch=true` streams: one JSON event per line, kept open until the client leaves (kubectl
 * `get -w` ends when the server closes the stream). With resourceVersion 0 or none, the current
 * objects come first as ADDED; with a list's resourceVersion, only the changes after it. A policy's
 * derived status (its rollout) changes without a write; such changes arrive as MODIFIED events
 * too, so `kubectl wait --for=condition=Programmed` sees them. A resourceVersion older than the
 * compacted history, or a watch the store ends because this replica fell behind a compaction, gets
 * kube-apiserver's answer: an ERROR event with a 410 Expired Status, then the end of the stream;
 * kubectl and informers then list again.
 */
import type { Response } from 'express';
import { failureStatus, type Resource } from '@portolan/api';
import { StoreRevisionCompactedError, type Change, type ObjectKey, type ResourceStore, type Unsubscribe } from '../store/resource-store';
import type { Selector } from './selectors';

export interface WatchRequest {
  kind: string;
  namespace?: string;
  resourceVersion?: string;
  timeoutSeconds?: number;
  matches: Selector;
  decorate: (resource: Resource) => Promise<Resource>;
  /** Objects whose derived status changed without a write, and how to read them. */
  statusChanges?: {
    subscribe(listener: (keys: readonly ObjectKey[]) => void): () => void;
    load(key: ObjectKey): Promise<Resource | undefined>;
  };
}

export async function streamWatch(store: Pick<ResourceStore, 'list' | 'watch'>, request: WatchRequest, response: Response): Promise<void> {
  response.status(200);
  response.setHeader('Content-Type', 'application/json');
  response.setHeader('Cache-Control', 'no-cache');
  response.flushHeaders();
  // Events are decorated asynchronously; a promise chain keeps them in commit order.
  let queue = Promise.resolve();
  const send = (type: string, object: unknown) => {
    if (!response.writableEnded) response.write(`${JSON.stringify({ type, object })}\n`);
  };
  const fromRevision = request.resourceVersion && request.resourceVersion !== '0' ? Number(request.resourceVersion) : undefined;
  if (fromRevision !== undefined && !Number.isInteger(fromRevision)) {
    send('ERROR', failureStatus(400, 'BadRequest', `resourceVersion "${request.resourceVersion}" is not a number`));
    response.end();
    return;
  }
  let start = fromRevision;
  if (start === undefined) {
    const { items, revision } = await store.list({ kind: request.kind, namespace: request.namespace });
    for (const item of items.filter(request.matches)) send('ADDED', await request.decorate(item));
    start = revision;
  }
  const relevantKey = (key: ObjectKey) => key.kind === request.kind && (request.namespace === undefined || key.namespace === request.namespace);
  const relevant = (change: Change) => relevantKey(change.key);
  let unsubscribe: Unsubscribe | undefined;
  let unsubscribeStatus: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  const finish = () => {
    unsubscribe?.();
    unsubscribeStatus?.();
    clearTimeout(timer);
    if (!response.writableEnded) response.end();
  };
  const expired = (error: StoreRevisionCompactedError) => send('ERROR', failureStatus(410, 'Expired', error.message));
  try {
    unsubscribe = await store.watch(
      start,
      (change) => {
        if (!relevant(change)) return;
        const object = (change.after ?? change.before)!;
        if (!request.matches(object)) return;
        queue = queue.then(async () => send(change.type, change.type === 'DELETED' ? object : await request.decorate(object)));
      },
      // After the events already on their way.
      (error) => (queue = queue.then(() => expired(error)).finally(finish)),
    );
  } catch (error) {
    if (!(error instanceof StoreRevisionCompactedError)) throw error;
    expired(error);
    finish();
    return;
  }
  const statusChanges = request.statusChanges;
  unsubscribeStatus = statusChanges?.subscribe((keys) => {
    for (const key of keys.filter(relevantKey)) {
      queue = queue
        .then(async () => {
          const object = await statusChanges.load(key);
          if (object && request.matches(object)) send('MODIFIED', await request.decorate(object));
        })
        // The store could not be read (Consul down): the next status change or write carries it.
        .catch(() => undefined);
    }
  });
  if (request.timeoutSeconds) timer = setTimeout(finish, request.timeoutSeconds * 1000);
  response.on('close', finish);
}
