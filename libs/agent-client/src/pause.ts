/**
 * Resolves true after `ms`, or false as soon as `signal` aborts, clearing its timer either way so a
 * stopped client leaves nothing scheduled.
 *
 * Background waits (heartbeat period, reconnect backoff) do not keep the process alive on their
 * own: the agent runs inside a gateway whose listeners decide when the process lives. Waits a
 * caller is awaiting (registration retries) do, or `await client.start()` could end the process.
 */
export function pause(ms: number, signal: AbortSignal, options: { keepAlive?: boolean } = {}): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    if (!options.keepAlive) timer.unref();
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
