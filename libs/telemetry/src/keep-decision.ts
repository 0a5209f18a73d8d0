/**
 * Whether a process-local trace is exported: the head decision (the sampled flag, from a sampled
 * parent or the trace-id ratio) keeps it, and so do an error anywhere in it or a local root span
 * that lasted at least the slow threshold, whatever the head decided. Operators need exactly the
 * failed and slow requests, which a ratio alone would mostly throw away.
 *
 * The limit of deciding per process: another service only sees the head decision (the sampled
 * flag in `traceparent`). When a gateway keeps an unsampled trace because of an error, the
 * upstream's spans of that trace are kept only if the upstream itself erred or was slow; otherwise
 * the trace shows the gateway's side alone.
 */
export type KeepReason = 'sampled' | 'error' | 'slow';

export interface LocalTraceOutcome {
  /** The head decision: the sampled flag of the trace's spans in this process. */
  sampled: boolean;
  /** Some span of the trace in this process ended with status ERROR. */
  hasError: boolean;
  /** The longest local root span (no parent, or a remote parent) in ms; undefined when none ended. */
  localRootDurationMs: number | undefined;
}

/** Why the trace is exported, or undefined when it is dropped. */
export function keepReason(outcome: LocalTraceOutcome, slowThresholdMs: number): KeepReason | undefined {
  if (outcome.sampled) return 'sampled';
  if (outcome.hasError) return 'error';
  if (outcome.localRootDurationMs !== undefined && outcome.localRootDurationMs >= slowThresholdMs) return 'slow';
  return undefined;
}
