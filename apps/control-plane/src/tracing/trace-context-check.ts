/**
 * Self-check: mesh services whose spans never join a gateway's trace. Pure, over assembled traces.
 *
 * The conventions are fixed with the gateway's instrumentation: the gateway's resource has
 * service.name `portolan-gateway`; each upstream attempt is a CLIENT span with the attribute
 * `portolan.service` = `namespace/name`; an instrumented upstream's resource has service.namespace
 * and service.name (`default` and `checkout` for `default/checkout`).
 *
 * Rule, over the spans that started in the window, per mesh service with at least
 * MIN_GATEWAY_ATTEMPTS attempt spans none of which has a child span:
 *  - the service's own spans start traces of their own (roots) -> DropsTraceContext: it is
 *    instrumented but does not continue the incoming traceparent;
 *  - the service sent no spans at all -> NotInstrumented.
 * One attempt with a child is enough to clear a service: context does get through.
 */
import type { Microseconds, Trace, TraceSpan } from './trace-model';

export const GATEWAY_SERVICE_NAME = 'portolan-gateway';
export const MESH_SERVICE_ATTRIBUTE = 'portolan.service';
/** Below this many attempts, a service without children may simply not have been sampled or flushed yet. */
export const MIN_GATEWAY_ATTEMPTS = 5;

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

export function findTraceContextGaps(traces: Trace[], window: CheckWindow): TraceContextFinding[] {
  const inWindow = (span: TraceSpan) => span.startTimeUnixMicros >= window.startUnixMicros && span.startTimeUnixMicros <= window.endUnixMicros;
  const attempts = new Map<string, { count: number; withChild: number }>();
  const spansByService = new Map<string, { count: number; roots: number }>();

  for (const trace of traces) {
    const parents = new Set(trace.spans.map((span) => span.parentSpanId).filter((id) => id !== undefined));
    for (const span of trace.spans) {
      if (!inWindow(span)) continue;
      const target = span.attributes[MESH_SERVICE_ATTRIBUTE];
      if (span.service === GATEWAY_SERVICE_NAME && span.kind === 'client' && typeof target === 'string') {
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
