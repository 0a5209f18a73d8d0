/**
 * Blocking queries (api-docs/features/blocking): `?index=N&wait=D` holds a read until the result's
 * index differs from N or the wait (default 5m, at most 10m, plus a random jitter of up to wait/16)
 * elapses, then answers with the current result either way.
 *
 * The double answers at once when N is 0 or differs from the current index: lower means the client
 * is behind; higher means the index went backwards for this resource, and answering lets the
 * client see the lower index and reset, as the docs tell clients to do.
 */
import { parseDuration } from './duration.js';
import { HttpError, type ConsulReply, type ConsulRequest } from './http.js';
import type { ConsulState } from './state.js';

export const DEFAULT_WAIT_MS = 5 * 60_000;
export const MAX_WAIT_MS = 10 * 60_000;
export const JITTER_FRACTION = 16;

/** A read whose reply carries the index it was computed at. */
export type Read = () => ConsulReply & { index: number };

export interface BlockingParameters {
  index: number;
  waitMs: number;
}

/** The blocking parameters of a request, or undefined when it has no `index` (a plain read). */
export function blockingParameters(request: ConsulRequest): BlockingParameters | undefined {
  const rawIndex = request.query.index;
  if (rawIndex === undefined) return undefined;
  if (!/^\d+$/.test(rawIndex)) throw new HttpError(400, 'Invalid index');
  let waitMs = DEFAULT_WAIT_MS;
  if (request.query.wait !== undefined) {
    const parsed = parseDuration(request.query.wait);
    if (parsed === undefined) throw new HttpError(400, 'Invalid wait time');
    waitMs = Math.min(parsed, MAX_WAIT_MS);
  }
  return { index: Number(rawIndex), waitMs };
}

/** The longest a query holds: the wait plus up to wait/16 of random jitter. */
export function holdTime(waitMs: number, random: () => number = Math.random): number {
  return waitMs + random() * (waitMs / JITTER_FRACTION);
}

/** Answers a read, holding it first when it is a blocking query; undefined when the socket went away meanwhile. */
export async function blockingRead(state: ConsulState, request: ConsulRequest, read: Read): Promise<ConsulReply | undefined> {
  const parameters = blockingParameters(request);
  const first = normalised(read());
  if (parameters === undefined || parameters.index === 0 || first.index !== parameters.index) return first;

  return new Promise<ConsulReply | undefined>((resolve) => {
    let done = false;
    const finish = (reply: ConsulReply | undefined): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      unsubscribe();
      // undefined: the socket is gone (client left or server stopped); nothing to answer.
      resolve(reply);
    };
    const unsubscribe = state.subscribe(() => {
      const next = normalised(read());
      if (next.index !== parameters.index) finish(next);
    });
    const timer = setTimeout(() => finish(normalised(read())), holdTime(parameters.waitMs));
    void request.aborted.then(() => finish(undefined));
  });
}

/** api-docs/features/blocking: an index must never be 0 ("clients should sanity check that their index is at least 1"). */
function normalised<T extends ConsulReply & { index: number }>(reply: T): T {
  return reply.index >= 1 ? reply : { ...reply, index: 1 };
}
