/**
 * Token guessing is rate-limited: failed authentications (a bearer token, bootstrap token, node
 * credential or live-feed token that authenticates as nothing) are counted per source address
 * (failure-window.ts), and an address that reaches the limit is refused every authentication
 * attempt, a correct token's too, until its block ends. Requests without any credential are not
 * counted (they guess nothing); successful ones never are.
 *
 * The address is the TCP peer's, never X-Forwarded-For, which the client writes. Several clients
 * behind one NAT share a count: the limit must leave room for their mistakes (docs/auth.md).
 */
import type { Logger } from 'pino';
import { failureStatus, type Status } from '@portolan/api';
import type { AuthLockoutSettings } from '../config/boot-config';
import type { MetricsRegistry } from '../telemetry/metrics';
import { afterFailure, blockedForMs, isStale, sourceKey, type FailureWindow } from './failure-window';

/** Why an authentication was refused, as the metric counts it. */
export type AuthRefusal = 'invalid_token' | 'expired_token' | 'invalid_node_credential' | 'locked_out';

/** The answer to every authentication attempt from a locked-out address; send Retry-After with it. */
export function lockedOutStatus(retryAfterSeconds: number): Status {
  return failureStatus(429, 'TooManyRequests', `too many failed authentications from this address: try again in ${retryAfterSeconds} s`, { retryAfterSeconds });
}

/** Past this many addresses the oldest is forgotten, so that a spread-out attack cannot grow memory without bound. */
const MAX_TRACKED_ADDRESSES = 100_000;

export class AuthLockout {
  private readonly windows = new Map<string, FailureWindow>();
  private lastSweep: number;

  constructor(
    private readonly settings: AuthLockoutSettings,
    private readonly metrics: Pick<MetricsRegistry, 'authRefusals'>,
    private readonly logger: Pick<Logger, 'warn'>,
    private readonly clock: () => number = Date.now,
  ) {
    this.lastSweep = clock();
  }

  /** Whether the address is locked out now; a look only, not counted as a refusal. */
  isLockedOut(address: string | undefined): boolean {
    return blockedForMs(this.windows.get(sourceKey(address)), this.clock()) > 0;
  }

  /**
   * Whole seconds the address must wait before it may authenticate again (counted as a
   * `locked_out` refusal), or 0 when it may now.
   */
  retryAfterSeconds(address: string | undefined): number {
    const waitMs = blockedForMs(this.windows.get(sourceKey(address)), this.clock());
    if (waitMs === 0) return 0;
    this.metrics.authRefusals.labels('locked_out').inc();
    return Math.ceil(waitMs / 1000);
  }

  /** Counts a failed authentication from the address. */
  failed(address: string | undefined, refusal: Exclude<AuthRefusal, 'locked_out'>): void {
    this.metrics.authRefusals.labels(refusal).inc();
    const now = this.clock();
    const key = sourceKey(address);
    const previous = this.windows.get(key);
    const window = afterFailure(previous, now, this.settings);
    if (window.blockedUntil !== undefined && window.blockedUntil !== previous?.blockedUntil) {
      // Who, how often and until when; never what was sent.
      this.logger.warn({ source: key, failures: window.count, lockedOutSeconds: this.settings.blockMs / 1000, lastRefusal: refusal }, 'too many failed authentications from this address: refusing its every authentication until the lockout ends');
    }
    // Deleted first so that the map's order stays the order of last failure: the oldest goes first.
    this.windows.delete(key);
    this.windows.set(key, window);
    this.forgetStale(now);
  }

  /** At most once per window: what is no longer counted is dropped, then the oldest past the bound. */
  private forgetStale(now: number): void {
    if (now - this.lastSweep >= this.settings.windowMs) {
      this.lastSweep = now;
      for (const [key, window] of this.windows) if (isStale(window, now, this.settings)) this.windows.delete(key);
    }
    for (const key of this.windows.keys()) {
      if (this.windows.size <= MAX_TRACKED_ADDRESSES) break;
      this.windows.delete(key);
    }
  }
}
