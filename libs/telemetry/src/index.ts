export { keepReason, type KeepReason, type LocalTraceOutcome } from './keep-decision.js';
export { KeepingSpanProcessor, type KeepingSpanProcessorOptions } from './keeping-span-processor.js';
export { recordEverySpanSampler } from './record-every-span-sampler.js';
export { extractTraceContext, injectTraceContext } from './trace-context.js';
export { createTracing, OTLP_PROTOCOLS, startGlobalTracing, TracingOptionsError, type OtlpProtocol, type Tracing, type TracingOptions } from './tracing.js';
export { checkOtlpEndpoint, parseSampleRatio } from './tracing-settings.js';
/** The OpenTelemetry API the services instrument with, so they depend on this lib alone. */
export { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type Tracer } from '@opentelemetry/api';
/** What a custom `TracingOptions.exporter` implements and is handed. */
export { ExportResultCode, type ExportResult } from '@opentelemetry/core';
export type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base';
