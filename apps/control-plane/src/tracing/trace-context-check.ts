/**
 * Self-check: mesh services whose spans never join a gateway's trace. Pure, over assembled traces.
 *
 * The conventions are fixed with the gateway's instrumentation: the gateway's resource has
 * service.name `portolan-gateway`; each upstream attempt is a CLIENT span with the attribute
 * `portolan.service` = `namespace/name`; an instrumented upstream's resource has service.namespace
 * and service.name (`default` and `checkout` for `default/checkout`).
 *
 * Only attempts whose upstream should have sent a child span count:
 *  - the attempt got an HTTP answer (`http.response.status_code`): one that failed to connect or
 *    timed out reached no upstream, or none that finished its span;
 *  - its trace has no error span and is not slow: the gateway keeps an unsampled trace when it
 *    failed or was slow (libs/telemetry keep-decision.ts), and the upstream, seeing the unsampled
 *    flag and neither failing nor slow itself, rightly drops its span;
 *  - it started at least UPSTREAM_EXPORT_DELAY_MICROS before the window's end: the upstream's batch
 *    exporter sends every few seconds, so a recent attempt's child may still be on its way. The
 *    attempts counted are those that started in the window moved back by that delay.
 *
 * Rule, per mesh service with at least MIN_GATEWAY_ATTEMPTS such attempts, none of which has a
 * child span:
 *  - the service's own spans (since the start of the moved window) start traces of their own
 *    (roots) -> DropsTraceContext: it is instrumented but does not continue the incoming traceparent;
 *  - the service sent no spans at all -> NotInstrumented.
 * One attempt with a child is enough to clear a service: context does get through.
 */
import type { Microseconds, Trace, TraceSpan } from './trace-model';

export const GATEWAY_SERVICE_NAME = 'portolan-gateway';
export const MESH_SERVICE_ATTRIBUTE = 'portolan.service';
const HTTP_STATUS_ATTRIBUTE = 'http.response.status_code';
/** Below this many attempts, a service without children may simply not have been sampled or flushed yet. */
export const MIN_GATEWAY_ATTEMPTS = 5;
/** Twice the OpenTelemetry batch exporter's 5 s schedule: an upstream's span has arrived by then. */
export const UPSTREAM_EXPORT_DELAY_MICROS = 10_000_000;

export interface TraceContextFinding {
  /** namespace/name */
  service: string;
  reason: 'DropsTraceContext' | 'NotInstrumented';
  message: string;
}

export interface CheckWindow {
  startUnixMicros: Microseconds;
  endUnixMicros: Microseconds;
}

function meshServiceOf(span: TraceSpan): string | undefined {
  const namespace = span.resource['service.namespace'];
  return typeof namespace === 'string' && namespace ? `${namespace}/${span.service}` : undefined;
}

/** Sampled as far as can be told: an unsampled trace is kept only when it failed or was slow. */
function surelySampled(trace: Trace, slowMicros: number): boolean {
  return trace.errorSpanCount === 0 && trace.spans.every((span) => span.durationMicros < slowMicros);
}

/**
 * slowThresholdMs: the store's (PORTOLAN_TRACE_SLOW_THRESHOLD); a trace with a span this long may
 * have been kept only for being slow. Gateways keep by their own threshold, which should not be lower.
 */
export function findTraceContextGaps(traces: Trace[], window: CheckWindow, slowThresholdMs: number): TraceContextFinding[] {
  const from = window.startUnixMicros - UPSTREAM_EXPORT_DELAY_MICROS;
  const attemptsUntil = window.endUnixMicros - UPSTREAM_EXPORT_DELAY_MICROS;
  const slowMicros = slowThresholdMs * 1000;
  const attempts = new Map<string, { count: number; withChild: number }>();
  const spansByService = new Map<string, { count: number; roots: number }>();

  for (const trace of traces) {
    const parents = new Set(trace.spans.map((span) => span.parentSpanId).filter((id) => id !== undefined));
    const countsAttempts = surelySampled(trace, slowMicros);
    for (const span of trace.spans) {
      if (span.startTimeUnixMicros < from || span.startTimeUnixMicros > window.endUnixMicros) continue;
      const target = span.attributes[MESH_SERVICE_ATTRIBUTE];
      const answered = span.attributes[HTTP_STATUS_ATTRIBUTE] !== undefined;
      if (countsAttempts && answered && span.startTimeUnixMicros <= attemptsUntil && span.service === GATEWAY_SERVICE_NAME && span.kind === 'client' && typeof target === 'string') {
        const tally = attempts.get(target) ?? { count: 0, withChild: 0 };
        tally.count += 1;
        if (parents.has(span.spanId)) tally.withChild += 1;
        attempts.set(target, tally);
      }
      const own = meshServiceOf(span);
      if (own) {
        const tally = spansByService.get(own) ?? { count: 0, roots: 0 };
        tally.count += 1;
        if (span.parentSpanId === undefined) tally.roots += 1;
        spansByService.set(own, tally);
      }
    }
  }

  const findings: TraceContextFinding[] = [];
  for (const [service, tally] of [...attempts].sort(([a], [b]) => a.localeCompare(b))) {
    if (tally.count < MIN_GATEWAY_ATTEMPTS || tally.withChild > 0) continue;
    const own = spansByService.get(service);
    if (own === undefined) {
      findings.push({
        service,
        reason: 'NotInstrumented',
        message: `${tally.count} gateway attempts to ${service} have no child span and ${service} sent no spans: instrument it with OpenTelemetry (resource service.namespace and service.name) and export to the control plane`,
      });
    } else if (own.roots > 0) {
      findings.push({
        service,
        reason: 'DropsTraceContext',
        message: `${tally.count} gateway attempts to ${service} have no child span, yet ${service} sent ${own.roots} spans that start traces of their own: it does not continue the incoming traceparent header (configure the W3C trace-context propagator and extract it from incoming requests)`,
      });
    }
  }
  return findings;
}
