/**
 * Per-request context (trace id, principal) carried through async calls, so every log line of a
 * request names its trace without passing it by hand. On the API it is the trace id of the
 * request's own span (tracing/self-tracing.ts), so a log line leads to its trace; on the ops port,
 * where requests have no span, `traceIdFrom` takes it from the W3C `traceparent` header. Either
 * way logs join the caller's trace when there is one.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';

export interface RequestContext {
  traceId: string;
  principal?: string;
}

const storage = new AsyncLocalStorage<RequestContext>();

const TRACEPARENT = /^[\da-f]{2}-([\da-f]{32})-[\da-f]{16}-[\da-f]{2}$/;

export function traceIdFrom(traceparent: string | undefined): string {
  const match = traceparent ? TRACEPARENT.exec(traceparent.trim()) : null;
  return match && !/^0+$/.test(match[1]) ? match[1] : randomBytes(16).toString('hex');
}

export function runWithContext<T>(context: RequestContext, fn: () => T): T {
  return storage.run(context, fn);
}

export function currentContext(): RequestContext | undefined {
  return storage.getStore();
}
