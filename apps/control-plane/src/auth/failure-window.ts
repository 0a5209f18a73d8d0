/**
 * Counting failed authentications per source address, as plain functions of the time: a fixed
 * window that starts with an address's first failure; the failure that reaches the limit blocks
 * the address until `blockMs` later, and the next failure after that starts a new window.
 *
 * Written here rather than taken from rate-limiter-flexible (whose RateLimiterMemory with
 * blockDuration does the same counting): its checks are promises read against the wall clock,
 * and this one is asked synchronously at every door, including WebSocket upgrade handlers that
 * answer before any await, and is tested with an injected clock. It is these few lines.
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface FailureLimits {
  /** Failures within one window that block the address. */
  maxFailures: number;
  windowMs: number;
  /** How long the address is refused once blocked. */
  blockMs: number;
}

export interface FailureWindow {
  /** Failures since `windowStart`. */
  count: number;
  windowStart: number;
  /** Set when the count reached the limit: every attempt before it is refused. */
  blockedUntil?: number;
}

/** The address's window after one more failure at `now`. */
export function afterFailure(window: FailureWindow | undefined, now: number, limits: FailureLimits): FailureWindow {
  const fresh = !window || (window.blockedUntil !== undefined ? now >= window.blockedUntil : now >= window.windowStart + limits.windowMs);
  const counted = fresh ? { count: 1, windowStart: now } : { ...window, count: window.count + 1 };
  if (counted.blockedUntil === undefined && counted.count >= limits.maxFailures) counted.blockedUntil = now + limits.blockMs;
  return counted;
}

/** How long the address must still wait before it may try at all; 0 when it may now. */
export function blockedForMs(window: FailureWindow | undefined, now: number): number {
  return window?.blockedUntil !== undefined && now < window.blockedUntil ? window.blockedUntil - now : 0;
}

/** Whether the window no longer matters: not blocked, and its failures are past counting. */
export function isStale(window: FailureWindow, now: number, limits: FailureLimits): boolean {
  return window.blockedUntil !== undefined ? now >= window.blockedUntil : now >= window.windowStart + limits.windowMs;
}

/**
 * What failures are counted under: the IPv4 address (an IPv4-mapped IPv6 address is the IPv4
 * one), or the /64 prefix of an IPv6 address, since one host usually holds a whole /64 and could
 * otherwise try from a new address every time.
 */
export function sourceKey(address: string | undefined): string {
  if (!address) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped && isIPv4(mapped[1])) return mapped[1];
  if (!isIPv6(address)) return address;
  const [head, tail = ''] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right] : left;
  return `${groups.slice(0, 4).map((group) => (parseInt(group, 16) || 0).toString(16)).join(':')}::/64`;
}
