/**
 * The TimeoutPolicy of a route in milliseconds, and the deadline of each try.
 */
import type { TimeoutPolicySpec } from '@portolan/api';
import { compiled, durationMs, type Compiled, type FieldProblem } from './compile-result.js';

export type TimeoutConfig = Omit<TimeoutPolicySpec, 'targetRef'>;

export interface Timeouts {
  requestTimeoutMs: number;
  idleTimeoutMs: number;
  connectTimeoutMs: number;
}

/** Schema defaults of TimeoutPolicy; they also apply to routes no TimeoutPolicy targets. */
export const DEFAULT_TIMEOUTS: Readonly<Timeouts> = Object.freeze({ requestTimeoutMs: 15_000, idleTimeoutMs: 300_000, connectTimeoutMs: 5_000 });

export function compileTimeouts(config: TimeoutConfig): Compiled<Timeouts> {
  const problems: FieldProblem[] = [];
  const timeouts: Timeouts = {
    requestTimeoutMs: config.requestTimeout === undefined ? DEFAULT_TIMEOUTS.requestTimeoutMs : durationMs(config.requestTimeout, 'requestTimeout', problems),
    idleTimeoutMs: config.idleTimeout === undefined ? DEFAULT_TIMEOUTS.idleTimeoutMs : durationMs(config.idleTimeout, 'idleTimeout', problems),
    connectTimeoutMs: config.connectTimeout === undefined ? DEFAULT_TIMEOUTS.connectTimeoutMs : durationMs(config.connectTimeout, 'connectTimeout', problems),
  };
  return compiled(timeouts, problems);
}

/** A try ends at its own timeout or at the request's deadline, whichever comes first. */
export function perTryDeadline(now: number, requestDeadline: number, perTryTimeoutMs?: number): number {
  return perTryTimeoutMs === undefined ? requestDeadline : Math.min(requestDeadline, now + perTryTimeoutMs);
}
