/**
 * Capped exponential backoff with full jitter: attempt n waits a uniformly random time in
 * [0, min(max, base * 2^n)). Full jitter rather than "exponential plus a little noise" because
 * after a control-plane restart every gateway reconnects at once; spreading them over the whole
 * window is what keeps the reconnect storm flat.
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt));
  return Math.floor(random() * ceiling);
}

