/**
 * Reads until `accept` takes the value, every 50 ms, and fails naming what was awaited and the last
 * value read. Unlike Vitest's expect.poll it hands the accepted value back for the test to go on with.
 */
export async function eventually<T>(read: () => T | Promise<T>, accept: (value: T) => boolean, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T;
  do {
    last = await read();
    if (accept(last)) return last;
    await new Promise((resolve) => setTimeout(resolve, 50));
  } while (Date.now() < deadline);
  throw new Error(`timed out waiting for ${what}; last: ${typeof last === 'string' ? last : JSON.stringify(last)}`);
}
