/**
 * The blocking-query loop (api-docs/features/blocking) that the store's change feed, the ACK ledger,
 * the token mirror and the registry's watches share: ask with the last index, hand the answer on,
 * and only then move the index forward (so an answer whose handling failed is asked for again, not
 * skipped); start over at index 0 when Consul's index went backwards (a restored snapshot); back
 * off 200 ms doubling to 5 s (or `maxBackoffMs`) while Consul fails, so the loop is back within
 * seconds of Consul returning; stop when `signal`
 * aborts, at once, even in the middle of a backoff. Two reads start at least MIN_READ_GAP_MS apart,
 * as the blocking-query docs ask of clients: a key that changes all the time (or an index that
 * keeps answering at once) costs Consul 50 reads a second, not a tight loop. A change after a quiet
 * spell is still seen within one round trip; changes in a burst are read together.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ConsulAbortedError, type BlockingOptions, type Indexed } from './consul-client';

export interface FollowOptions {
  signal: AbortSignal;
  /** The index the caller's first read returned, when it read before following. */
  fromIndex?: number;
  /** Called on each failure; `failures` counts them since the last answer (1 for the first). */
  onFailure?: (error: Error, failures: number) => void;
  /** Called on the first answer after failures. */
  onRecovery?: () => void;
  /** The longest wait between two failed reads; default 5 s. */
  maxBackoffMs?: number;
}

export const FOLLOW_WAIT = '30s';
export const MIN_READ_GAP_MS = 20;

/**
 * The index for the next blocking query. api-docs/features/blocking: an index that went backwards
 * (a snapshot restore, a key deleted and re-created) must reset the watch to 0, or the next query
 * would block on a value that will never come.
 */
export function nextBlockingIndex(previous: number, received: number): number {
  return received < previous ? 0 : received;
}

export async function follow<T>(
  read: (blocking: BlockingOptions) => Promise<Indexed<T>>,
  /** `moved`: the index changed since the last answer (Consul says something under the query changed). */
  onAnswer: (value: T, moved: boolean) => void | Promise<void>,
  options: FollowOptions,
): Promise<void> {
  const { signal } = options;
  let index = options.fromIndex ?? 0;
  let failures = 0;
  let lastRead = Number.NEGATIVE_INFINITY;
  while (!signal.aborted) {
    try {
      const gap = lastRead + MIN_READ_GAP_MS - performance.now();
      if (gap > 0) await sleep(gap, undefined, { signal });
      lastRead = performance.now();
      const answer = await read({ index, wait: FOLLOW_WAIT, signal });
      const next = nextBlockingIndex(index, answer.index);
      await onAnswer(answer.value, next !== index);
      index = next;
      if (failures > 0) options.onRecovery?.();
      failures = 0;
    } catch (error) {
      if (error instanceof ConsulAbortedError || signal.aborted) return;
      failures++;
      options.onFailure?.(error as Error, failures);
      await sleep(Math.min(options.maxBackoffMs ?? 5_000, 100 * 2 ** Math.min(failures, 6)), undefined, { signal }).catch(() => undefined);
    }
  }
}
