/**
 * Tracing for one service: with somewhere to export, every span is recorded
 * (record-every-span-sampler.ts), kept per local trace when sampled, failed or slow
 * (keeping-span-processor.ts) and exported in batches over OTLP/HTTP, or to an `exporter` of the
 * caller's (e.g. a trace store in the same process). Two ways to start it:
 *
 * - `startGlobalTracing`: the process is one service. OpenTelemetry's NodeSDK registers the tracer
 *   provider, the AsyncLocalStorage context manager and the W3C trace-context propagator globally.
 * - `createTracing`: a tracer provider that is not registered, so several services in one process
 *   (the demo upstreams, control planes started by tests) each export under their own resource
 *   `service.name`.
 *
 * Without an endpoint or exporter nothing is exported, so nothing is recorded either (that would
 * cost every request for nothing): spans are non-recording, yet carry new trace ids and the
 * caller's context on. A caller's sampled flag is the exception: the next service may export, so
 * the flag is passed on, and the SDK sets it only on recorded spans, so those are recorded and
 * thrown away. Export failures (a collector that is down) never reach requests: they are reported
 * to `onExportFailure` once until an export succeeds again, and the batch is dropped.
 */
import { trace, type Attributes, type Tracer } from '@opentelemetry/api';
import { ExportResultCode, W3CTraceContextPropagator, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter as OtlpJsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpProtobufTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { defaultResource, resourceFromAttributes, type Resource } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { AlwaysOffSampler, BasicTracerProvider, BatchSpanProcessor, NoopSpanProcessor, ParentBasedSampler, type ReadableSpan, type Sampler, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { KeepingSpanProcessor } from './keeping-span-processor.js';
import { recordEverySpanSampler } from './record-every-span-sampler.js';
import { checkOtlpEndpoint, parseSampleRatio } from './tracing-settings.js';

/** OTLP/HTTP encodings; protobuf is OTLP's default. */
export const OTLP_PROTOCOLS = ['http/protobuf', 'http/json'] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];

export interface TracingOptions {
  /** Resource `service.name`. */
  serviceName: string;
  /** More resource attributes (`service.instance.id`, `service.namespace`, `portolan.zone`, …). */
  resourceAttributes?: Attributes;
  /** OTLP/HTTP traces URL (…/v1/traces); empty or absent (and no `exporter`): nothing is exported. */
  endpoint?: string;
  /**
   * Where kept spans go instead of OTLP/HTTP, e.g. straight into a trace store in this process.
   * Exclusive with `endpoint`. Spans reach it batched, like the OTLP exporter's, and its failures
   * go to `onExportFailure` too.
   */
  exporter?: SpanExporter;
  /** Default `http/protobuf`. */
  protocol?: OtlpProtocol;
  /** Sent with every export (e.g. an authorization header of the collector). */
  headers?: Record<string, string>;
  /** PEM of the CA that signed an https endpoint's certificate. */
  caPem?: string;
  /** Share of new traces sampled by the head decision, 0 to 1. Default 1. */
  sampleRatio?: number;
  /** A local root span at least this long keeps its trace, sampled or not. Default 1000. */
  slowThresholdMs?: number;
  /** Bound of the spans buffered until their trace is decided. Default 8192. */
  maxPendingSpans?: number;
  /** Called when exports start failing (once, until an export succeeds again). */
  onExportFailure?: (error: Error) => void;
}

export interface Tracing {
  tracer: Tracer;
  /** Exports every span decided so far. Never rejects: a failed export goes to `onExportFailure`. */
  forceFlush(): Promise<void>;
  /** Decides pending traces, exports what is kept and stops. Never rejects, like forceFlush. */
  shutdown(): Promise<void>;
  /** Spans dropped undecided because the pending buffer was full. */
  droppedSpans(): number;
}

export class TracingOptionsError extends Error {
  readonly code = 'PORTOLAN_TRACING_OPTIONS';
}

const DEFAULT_SLOW_THRESHOLD_MS = 1_000;
const DEFAULT_MAX_PENDING_SPANS = 8_192;

/** Throws a TracingOptionsError naming `option` when `check` rejects its value. */
function checkOption(option: string, check: () => unknown): void {
  try {
    check();
  } catch (error) {
    throw new TracingOptionsError(`${option} ${(error as Error).message}`);
  }
}

function validate(options: TracingOptions): void {
  const { sampleRatio = 1, slowThresholdMs = DEFAULT_SLOW_THRESHOLD_MS, maxPendingSpans = DEFAULT_MAX_PENDING_SPANS, protocol = 'http/protobuf', endpoint } = options;
  if (!options.serviceName) throw new TracingOptionsError('serviceName must not be empty');
  // A number's text reads back as the same number, so the ratio passes the settings' own check.
  checkOption('sampleRatio', () => parseSampleRatio(String(sampleRatio)));
  if (!(slowThresholdMs >= 0)) throw new TracingOptionsError(`slowThresholdMs ${slowThresholdMs} is not a number of milliseconds >= 0`);
  if (!(Number.isInteger(maxPendingSpans) && maxPendingSpans >= 1)) throw new TracingOptionsError(`maxPendingSpans ${maxPendingSpans} is not a whole number >= 1`);
  if (!OTLP_PROTOCOLS.includes(protocol)) throw new TracingOptionsError(`protocol ${protocol} is not one of ${OTLP_PROTOCOLS.join(', ')}`);
  if (endpoint) checkOption('endpoint', () => checkOtlpEndpoint(endpoint));
  if (endpoint && options.exporter) throw new TracingOptionsError(`endpoint ${endpoint} and exporter are exclusive: spans go to one of them`);
}

/** Passes results through, telling `onFailure` when exports start failing. */
class FailureReportingExporter implements SpanExporter {
  private failing = false;

  constructor(
    private readonly inner: SpanExporter,
    private readonly onFailure: (error: Error) => void,
  ) {}

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    this.inner.export(spans, (result) => {
      const failed = result.code !== ExportResultCode.SUCCESS;
      if (failed && !this.failing) this.onFailure(result.error ?? new Error('the span export failed'));
      this.failing = failed;
      resultCallback(result);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

function otlpExporter(options: TracingOptions & { endpoint: string }): SpanExporter {
  const config = {
    url: options.endpoint,
    headers: options.headers ?? {},
    ...(options.caPem && options.endpoint.startsWith('https:') ? { httpAgentOptions: { ca: options.caPem } } : {}),
  };
  return options.protocol === 'http/json' ? new OtlpJsonTraceExporter(config) : new OtlpProtobufTraceExporter(config);
}

/** The batch processor rejects a flush whose export failed; FailureReportingExporter already told the caller. */
const ignoreExportFailure = () => undefined;

interface Pipeline {
  resource: Resource;
  sampler: Sampler;
  processor: SpanProcessor;
  droppedSpans: () => number;
}

/**
 * With nowhere to export: new traces and unsampled parents get non-recording spans (ids generated,
 * context propagated, nothing recorded); a sampled parent gets a recorded, sampled span, the only
 * way to pass its sampled flag on.
 */
const recordNothingNewSampler = new ParentBasedSampler({ root: new AlwaysOffSampler() });

function pipeline(options: TracingOptions): Pipeline {
  validate(options);
  const resource = defaultResource().merge(resourceFromAttributes({ ...options.resourceAttributes, [ATTR_SERVICE_NAME]: options.serviceName }));
  const exporter = options.exporter ?? (options.endpoint ? otlpExporter({ ...options, endpoint: options.endpoint }) : undefined);
  if (!exporter) return { resource, sampler: recordNothingNewSampler, processor: new NoopSpanProcessor(), droppedSpans: () => 0 };
  const reporting = options.onExportFailure ? new FailureReportingExporter(exporter, options.onExportFailure) : exporter;
  const keeping = new KeepingSpanProcessor(new BatchSpanProcessor(reporting), {
    slowThresholdMs: options.slowThresholdMs ?? DEFAULT_SLOW_THRESHOLD_MS,
    maxPendingSpans: options.maxPendingSpans ?? DEFAULT_MAX_PENDING_SPANS,
  });
  return { resource, sampler: recordEverySpanSampler(options.sampleRatio ?? 1), processor: keeping, droppedSpans: () => keeping.droppedSpans };
}

/** Tracing for one of several services in this process: nothing is registered globally. */
export function createTracing(options: TracingOptions): Tracing {
  const { resource, sampler, processor, droppedSpans } = pipeline(options);
  const provider = new BasicTracerProvider({ resource, sampler, spanProcessors: [processor] });
  return {
    tracer: provider.getTracer(options.serviceName),
    forceFlush: () => provider.forceFlush().catch(ignoreExportFailure),
    shutdown: () => provider.shutdown().catch(ignoreExportFailure),
    droppedSpans,
  };
}

/**
 * Tracing for the process: registers the tracer provider, AsyncLocalStorage context and the W3C
 * propagator globally (once per process). Only tracing is set up: no instrumentations, metrics or
 * logs, whatever OTEL_* variables say about those.
 */
export function startGlobalTracing(options: TracingOptions): Tracing {
  const { resource, sampler, processor, droppedSpans } = pipeline(options);
  const sdk = new NodeSDK({
    resource,
    autoDetectResources: false,
    sampler,
    // NodeSDK registers no tracer provider without a processor, and then spans would carry no ids.
    spanProcessors: [processor],
    textMapPropagator: new W3CTraceContextPropagator(),
    instrumentations: [],
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  return {
    tracer: trace.getTracer(options.serviceName),
    forceFlush: () => processor.forceFlush().catch(ignoreExportFailure),
    shutdown: () => sdk.shutdown().catch(ignoreExportFailure),
    droppedSpans,
  };
}
