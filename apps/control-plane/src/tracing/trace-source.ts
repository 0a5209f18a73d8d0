import type { ServiceOperations, Trace, TraceQuery } from './trace-model';

/** Where the trace API reads from: the embedded store or Jaeger. Same answers for the same spans. */
export interface TraceSource {
  search(query: TraceQuery): Promise<Trace[]>;
  /** undefined when the trace is unknown. */
  get(traceId: string): Promise<Trace | undefined>;
  services(): Promise<ServiceOperations[]>;
}
