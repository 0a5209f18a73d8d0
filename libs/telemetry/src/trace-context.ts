/**
 * W3C trace context (`traceparent`, `tracestate`) in and out of HTTP headers, with a propagator
 * owned here rather than the global one: in-process services with their own, non-global tracer
 * providers (the demo upstreams) propagate exactly like a process that registered globally.
 */
import { defaultTextMapGetter, defaultTextMapSetter, ROOT_CONTEXT, type Context } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';

const propagator = new W3CTraceContextPropagator();

type Headers = Record<string, string | string[] | undefined>;

/** The caller's trace as a parent context; the root context when the headers carry none (or a malformed one). */
export function extractTraceContext(headers: Headers): Context {
  return propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
}

/** Sets `traceparent` (and `tracestate`, if any) of the span active in `context` on outgoing headers. */
export function injectTraceContext(context: Context, headers: Record<string, string | string[]>): void {
  propagator.inject(context, headers, defaultTextMapSetter);
}
