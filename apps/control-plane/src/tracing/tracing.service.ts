import { Inject, Injectable } from '@nestjs/common';
import type { TracingSettings } from '../config/boot-config';
import { MetricsRegistry } from '../telemetry/metrics';
import { JaegerTraceSource } from './jaeger/jaeger-trace-source';
import type { DecodedExport } from './otlp/otlp-decoder';
import { findTraceContextGaps, type TraceContextFinding } from './trace-context-check';
import type { ServiceOperations, Trace, TraceQuery } from './trace-model';
import type { TraceSource } from './trace-source';
import { TraceStore, type Evictions } from './trace-store';

export const TRACING_SETTINGS = Symbol('TRACING_SETTINGS');
/** The clock of the embedded store, milliseconds since the epoch; tests provide their own. */
export const TRACING_CLOCK = Symbol('TRACING_CLOCK');

/** The tracing feature: receives spans into the embedded store, or reads Jaeger; one query API over either. */
@Injectable()
export class TracingService {
  private readonly store?: TraceStore;
  private readonly source: TraceSource;

  constructor(
    @Inject(TRACING_SETTINGS) private readonly settings: TracingSettings,
    @Inject(TRACING_CLOCK) private readonly now: () => number,
    private readonly metrics: MetricsRegistry,
  ) {
    if (settings.kind === 'jaeger') {
      this.source = new JaegerTraceSource(settings.queryUrl);
      return;
    }
    const store = new TraceStore(settings, now);
    this.store = store;
    this.source = {
      search: async (query) => this.expired(store).search(query),
      get: async (traceId) => this.expired(store).get(traceId),
      services: async () => this.expired(store).services(),
    };
  }

  /** False with Jaeger: spans go to Jaeger (or a Collector), not to the control plane. */
  get receivesSpans(): boolean {
    return this.store !== undefined;
  }

  receive(decoded: DecodedExport): void {
    this.metrics.otlpSpansReceived.labels('rejected').inc(decoded.rejectedSpans);
    if (!this.store) return;
    this.metrics.otlpSpansReceived.labels('accepted').inc(decoded.spans.length);
    this.record(this.store, this.store.add(decoded.spans));
  }

  search(query: TraceQuery): Promise<Trace[]> {
    return this.source.search(query);
  }

  get(traceId: string): Promise<Trace | undefined> {
    return this.source.get(traceId);
  }

  services(): Promise<ServiceOperations[]> {
    return this.source.services();
  }

  /**
   * Services whose spans never join a gateway's trace, over spans that started in the last
   * windowMs (trace-context-check.ts). Empty with Jaeger: the check needs every span of the window,
   * and Jaeger's query API only pages through search results (a bounded number of traces per
   * service), so an answer from it could call a healthy service broken.
   */
  traceContextFindings(windowMs: number): TraceContextFinding[] {
    if (!this.store || this.settings.kind !== 'embedded') return [];
    const endUnixMicros = this.now() * 1000;
    return findTraceContextGaps(this.expired(this.store).traces(), { startUnixMicros: endUnixMicros - windowMs * 1000, endUnixMicros }, this.settings.slowThresholdMs);
  }

  private expired(store: TraceStore): TraceStore {
    this.record(store, store.expire());
    return store;
  }

  private record(store: TraceStore, evictions: Evictions): void {
    for (const [reason, count] of Object.entries(evictions)) if (count > 0) this.metrics.traceStoreEvictedTraces.labels(reason).inc(count);
    this.metrics.traceStoreTraces.set(store.traceCount);
    this.metrics.traceStoreBytes.set(store.bytes);
  }
}
