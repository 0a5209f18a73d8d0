/**
 * `?watch=true` streams: one JSON event per line, kept open until the client leaves (kubectl
 * `get -w` ends when the server closes the stream). With resourceVersion 0 or none, the current
 * objects come first as ADDED; with a list's resourceVersion, only the changes after it.
 */
import type { Response } from 'express';
import { failureStatus, type Resource } from '@portolan/api';
import type { Change, ResourceStore } from '../store/resource-store';
import type { Selector } from './selectors';

export interface WatchRequest {
  kind: string;
  namespace?: string;
  resourceVersion?: string;
  timeoutSeconds?: number;
  matches: Selector;
  decorate: (resource: Resource) => Promise<Resource>;
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
  const relevant = (change: Change) =>
    change.key.kind === request.kind && (request.namespace === undefined || change.key.namespace === request.namespace);
  const unsubscribe = await store.watch(start, (change) => {
    if (!relevant(change)) return;
    const object = (change.after ?? change.before)!;
    if (!request.matches(object)) return;
    queue = queue.then(async () => send(change.type, change.type === 'DELETED' ? object : await request.decorate(object)));
  });
  const finish = () => {
    unsubscribe();
    clearTimeout(timer);
    if (!response.writableEnded) response.end();
  };
  const timer = request.timeoutSeconds ? setTimeout(finish, request.timeoutSeconds * 1000) : undefined;
  response.on('close', finish);
}
