/**
 * The pure rules of the Consul election, apart from the I/O so they can be tested as tables: when a
 * leader must stop acting, who holds the lock, how long a follower may block between acquire
 * attempts, and which timings are acceptable.
 */
import type { KvEntry } from '../consul/consul-client';

export interface ElectionTimings {
  /** Session TTL. */
  ttlMs: number;
  /** How long Consul refuses the lock after the holder's session was invalidated. */
  lockDelayMs: number;
  /** Renewal period while everything works: TTL/2, so one failed renewal still leaves a second try. */
  renewEveryMs: number;
  /** Pause after a failed call, and the longest a follower waits between acquire attempts on a free lock. */
  retryMs: number;
}

/** Consul's bounds on a session's lock-delay (docs/automate/session: "between 0 and 60 seconds"). */
export const MAX_LOCK_DELAY_MS = 60_000;

/** Checks the timings once, when the election is built; every violation is listed. */
export function electionTimings(options: { ttlMs: number; lockDelayMs: number; retryMs: number }): ElectionTimings {
  const { ttlMs, lockDelayMs, retryMs } = options;
  const problems: string[] = [];
  if (!Number.isInteger(ttlMs) || ttlMs <= 0) problems.push(`ttlMs must be a positive whole number of milliseconds, got ${ttlMs}`);
  if (!Number.isInteger(lockDelayMs) || lockDelayMs < 0 || lockDelayMs > MAX_LOCK_DELAY_MS) {
    problems.push(`lockDelayMs must be a whole number of milliseconds between 0 and ${MAX_LOCK_DELAY_MS}, got ${lockDelayMs}`);
  }
  if (!Number.isInteger(retryMs) || retryMs <= 0) problems.push(`retryMs must be a positive whole number of milliseconds, got ${retryMs}`);
  if (problems.length > 0) throw new Error(`invalid leader election timings: ${problems.join('; ')}`);
  const renewEveryMs = Math.floor(ttlMs / 2);
  // A failed renewal is retried sooner than the regular period, so an outage shorter than TTL/2 costs nothing.
  return { ttlMs, lockDelayMs, renewEveryMs, retryMs: Math.min(retryMs, renewEveryMs) };
}

/**
 * Whether a leader must stop acting, `lastRenewedAt` being when the last renewal that Consul
 * confirmed was sent (the server restarted its TTL after that moment, never before it).
 *
 * Consul promises not to invalidate a session before TTL has passed since its last renewal, and its
 * servers in fact wait up to 2×TTL; but this replica cannot know how long the server will wait, only
 * the lower bound. Stepping down once TTL has passed means this replica has stopped before its
 * session can have been invalidated, so before another replica can acquire the lock: two leaders
 * never act at once. The session's lock-delay adds a margin on top for clock-rate differences and
 * work a controller was finishing when its signal aborted.
 */
export function mustStepDown(now: number, lastRenewedAt: number, ttlMs: number): boolean {
  return now - lastRenewedAt >= ttlMs;
}

export type LockHolder = 'this-session' | 'another-session' | 'nobody';

export function lockHolder(entry: KvEntry | undefined, sessionId: string): LockHolder {
  if (!entry?.Session) return 'nobody';
  return entry.Session === sessionId ? 'this-session' : 'another-session';
}

/**
 * The `wait` to ask for so a blocking query answers within `withinMs`: Consul adds a random jitter of
 * up to wait/16, so wait × 17/16 must not exceed the bound.
 */
export function waitWithin(withinMs: number): number {
  return Math.floor((withinMs * 16) / 17);
}

/** Past the end of lock-delay a follower adds this much before trying, for timer and clock slop. */
export const LOCK_DELAY_MARGIN_MS = 20;

/**
 * How long a follower whose acquire was refused waits before trying again. Consul starts the
 * lock-delay when the holder's session is invalidated, which is just before this replica saw the
 * lock free (`freedAt`): trying right after `freedAt + lockDelay` takes the lock as soon as Consul
 * allows, instead of up to a retry period later. Never longer than `retryMs` (a lost race, or a lock
 * freed before this replica was watching).
 */
export function nextAttemptInMs(now: number, freedAt: number | undefined, lockDelayMs: number, retryMs: number): number {
  if (freedAt === undefined) return retryMs;
  return Math.max(LOCK_DELAY_MARGIN_MS, Math.min(retryMs, freedAt + lockDelayMs + LOCK_DELAY_MARGIN_MS - now));
}
